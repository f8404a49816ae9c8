"""A prompt's cached embedding is the same bits whatever other texts its batch brought along."""

import torch

from catalog.vocabulary import COLORS
from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.load import load_model
from catalog_concepts.engine.text_cache import EmbeddingCache, embedding_kwargs

PROMPTS = [f"campaign concept, a {c} wood chair on a soft gradient backdrop" for c in COLORS]
NEGATIVE = "text, watermark, blurry"


def test_embedding_does_not_depend_on_the_texts_encoded_with_it(tiny_model_dir):
    # Two torch threads: there MiniLM gives a text other float results when 2 to 6 texts share
    # the call than when 1 or 7+ do (kernels chosen by shape). The batch below (8 prompts and
    # the negative: 9 texts) against a one-image call (prompt and negative: 2 texts) failed
    # this test for every prompt while the cache encoded a batch's new texts together.
    before = torch.get_num_threads()
    try:
        model = load_model(tiny_model_dir, choose_placement("cpu", "float32", threads=2))
        together = embedding_kwargs(model.pipe, EmbeddingCache(), PROMPTS, [NEGATIVE] * len(PROMPTS), 32)
        for i, prompt in enumerate(PROMPTS):
            alone = embedding_kwargs(model.pipe, EmbeddingCache(), [prompt], [NEGATIVE], 32)
            assert torch.equal(together["prompt_embeds"][i], alone["prompt_embeds"][0]), prompt
            assert torch.equal(together["prompt_attention_mask"][i], alone["prompt_attention_mask"][0])
            assert torch.equal(together["negative_prompt_embeds"][i], alone["negative_prompt_embeds"][0])
        # Distinct prompts give distinct embeddings: the equalities above compare real content.
        assert not torch.equal(together["prompt_embeds"][0], together["prompt_embeds"][1])
    finally:
        torch.set_num_threads(before)


def test_a_cleared_cache_encodes_again(tiny_model_dir):
    # bench/flow_overhead.py starts each flow run as cold as a fresh worker process.
    model = load_model(tiny_model_dir, choose_placement("cpu", "float32"))
    cache = EmbeddingCache()
    embedding_kwargs(model.pipe, cache, PROMPTS[:2], [NEGATIVE] * 2, 32)
    assert cache.misses == 3 and cache.used_bytes > 0
    cache.clear()
    assert (cache.hits, cache.misses, cache.used_bytes) == (0, 0, 0)
    embedding_kwargs(model.pipe, cache, PROMPTS[:2], [NEGATIVE] * 2, 32)
    assert cache.misses == 3
