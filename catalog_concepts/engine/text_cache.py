"""Encode each distinct prompt once: a per-pipeline LRU cache of text-encoder outputs.

A night's 20,000 candidates share about a thousand distinct prompts, and the negative prompt
is the same for all of them; diffusers re-encodes every prompt (and the negative, once per
image) on every call. On a CPU with the shipped model the text encoder was most of the
per-image cost, so the engine hands the pipeline precomputed embeddings instead. Each text
is encoded on its own, so its embedding is the same bits whatever else a batch or a run
encodes, and a one-image regeneration (provenance reproduce) sees the embedding the run used.
"""

import inspect
from collections import OrderedDict
from collections.abc import Sequence

# Cache budget per pipeline in bytes of stored tensors.
DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class EmbeddingCache:
    """An LRU of (text, max_len) -> per-prompt encoder outputs, bounded by bytes."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, int | None], tuple] = OrderedDict()

    def clear(self) -> None:
        """Forget every entry (a benchmark starts each run as cold as a fresh worker process)."""
        self.used_bytes = self.hits = self.misses = 0
        self._entries.clear()

    def get(self, key):
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return entry

    def put(self, key, tensors: tuple) -> None:
        size = sum(t.numel() * t.element_size() for t in tensors if t is not None)
        self.misses += 1
        if size > self.budget_bytes:
            return
        self._entries[key] = tensors
        self.used_bytes += size
        while self.used_bytes > self.budget_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.used_bytes -= sum(t.numel() * t.element_size() for t in evicted if t is not None)


def encoding_style(pipe) -> str | None:
    """Which precomputed-embedding call a pipeline accepts: "masked" (PixArt), "plain" (SD 1.x/2.x) or None."""
    call = inspect.signature(pipe.__call__).parameters
    encode = getattr(pipe, "encode_prompt", None)
    if encode is None or "prompt_embeds" not in call or "negative_prompt_embeds" not in call:
        return None
    encode_params = inspect.signature(encode).parameters
    if "prompt_attention_mask" in call and "max_sequence_length" in encode_params:
        return "masked"
    # SDXL and SD3 also need pooled embeddings; they keep diffusers' own encoding.
    if "pooled_prompt_embeds" in call:
        return None
    if "clip_skip" in encode_params:
        return "plain"
    return None


def embedding_kwargs(
    pipe, cache: EmbeddingCache, prompts: Sequence[str], negatives: Sequence[str], max_sequence_length: int | None
) -> dict | None:
    """Call kwargs carrying cached embeddings for a batch, or None when the pipeline is not supported."""
    style = encoding_style(pipe)
    if style is None:
        return None
    texts = list(dict.fromkeys([*prompts, *negatives]))
    missing = [t for t in texts if cache.get((t, max_sequence_length)) is None]
    # One text per encoder call: on a CPU the float result of a text depends on how many texts
    # share the call (MKL/oneDNN pick kernels by shape; with 2 threads MiniLM gave another
    # embedding, ~2e-6, for a text encoded among 5 than among 12 or alone), which changed 5 of
    # 32 shipped-model images by one level between batch orders. Alone costs ~15 ms more per
    # distinct prompt (bench/reproducibility.py --encode-cost), ~15 s on a night of 1,000 prompts.
    for text in missing:
        (tensors,) = _encode(pipe, style, [text], max_sequence_length)
        cache.put((text, max_sequence_length), tensors)
    # Encode-then-stack works even if the cache evicted an entry mid-batch.
    rows = {t: cache.get((t, max_sequence_length)) or next(iter(_encode(pipe, style, [t], max_sequence_length))) for t in texts}
    import torch

    def stack(batch_texts, index):
        return torch.stack([rows[t][index] for t in batch_texts])  # (B, L, D) or (B, L)

    kwargs = {"prompt_embeds": stack(prompts, 0), "negative_prompt_embeds": stack(negatives, 0)}
    if style == "masked":
        kwargs["prompt_attention_mask"] = stack(prompts, 1)
        kwargs["negative_prompt_attention_mask"] = stack(negatives, 1)
    return kwargs


def _encode(pipe, style: str, texts: list[str], max_sequence_length: int | None) -> list[tuple]:
    """Per-text encoder outputs: (embeds (L, D), mask (L,)) for masked, (embeds (L, D),) for plain."""
    device = pipe._execution_device
    if style == "masked":
        extra = {"max_sequence_length": max_sequence_length} if max_sequence_length else {}
        embeds, mask, _, _ = pipe.encode_prompt(
            texts, do_classifier_free_guidance=False, device=device, clean_caption=False, **extra
        )  # (N, L, D), (N, L)
        return [(embeds[i], mask[i]) for i in range(len(texts))]
    embeds, _ = pipe.encode_prompt(texts, device, 1, False)  # (N, L, D)
    return [(embeds[i],) for i in range(len(texts))]
