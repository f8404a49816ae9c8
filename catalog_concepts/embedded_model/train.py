"""Reproduce the embedded model from a seed: render data, train the VAE, cache latents, train the DiT, export.

    python -m catalog_concepts.embedded_model.train --out runs/concepts-dit-64 [--preset default] [--minutes 100] [--resume]

Every phase writes its result into --out; with --resume a finished phase is skipped and an interrupted
one continues from its last checkpoint (weights, optimizer, EMA, rng state).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from catalog_concepts.embedded_model.presets import PRESETS, Preset, get_preset

# Before the training table exists, the export carries these; bench/model_eval.py rewrites them.
PROVISIONAL_DEFAULTS = {"scheduler": "dpmsolver++", "steps": 20, "guidance_scale": 3.0}


def _save(obj, path: Path) -> None:
    """Atomic torch.save: a kill mid-write never leaves a corrupt checkpoint."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _log(out: Path, **entries) -> dict:
    """Merge entries into out/train_log.json and return it."""
    path = out / "train_log.json"
    log = json.loads(path.read_text()) if path.exists() else {}
    log.update(entries)
    path.write_text(json.dumps(log, indent=2) + "\n")
    return log


def phase_data(out: Path, preset: Preset, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Render the training set once (seeded) and the caption list; cached in out/data.npz."""
    from catalog_concepts.embedded_model.dataset import UNCONDITIONAL_CAPTIONS, all_attributes, render_images, sample_attributes

    path = out / "data.npz"
    if path.exists():
        d = np.load(path)
        return d["images"], d["caption_idx"], json.loads((out / "captions.json").read_text())
    t0 = time.time()
    captions = list(UNCONDITIONAL_CAPTIONS) + sorted({a.caption for a in all_attributes(held_out=False)})
    attrs = sample_attributes(preset.train_images, seed, held_out=False)
    images = render_images(attrs, seed)  # (N, 64, 64, 3)
    lookup = {c: i for i, c in enumerate(captions)}
    caption_idx = np.array([lookup[a.caption] for a in attrs], dtype=np.int64)
    np.savez(out / "data.tmp.npz", images=images, caption_idx=caption_idx)
    os.replace(out / "data.tmp.npz", path)
    (out / "captions.json").write_text(json.dumps(captions, indent=0) + "\n")
    _log(out, data_seconds=round(time.time() - t0, 1), train_images=len(images), captions=len(captions))
    return images, caption_idx, captions


def phase_vae(out: Path, preset: Preset, images: np.ndarray, seed: int, deadline: float | None):
    """Train (or resume) the VAE; returns it with held-out reconstruction metrics in train_log.json."""
    import torch

    from catalog_concepts.embedded_model.dataset import render_images, sample_attributes
    from catalog_concepts.embedded_model.vae_training import build_vae, reconstruction_metrics, train_vae

    torch.manual_seed(seed)  # initial weights and posterior sampling use torch's global RNG
    vae = build_vae(preset)
    opt = torch.optim.AdamW(vae.parameters(), lr=preset.vae_lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 1])
    ckpt_path, step = out / "vae_ckpt.pt", 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        rng.bit_generator.state = ck["rng"]
        step = ck["step"]
    if step >= preset.vae_steps:
        return vae.eval()
    spent = json.loads((out / "train_log.json").read_text()).get("vae_seconds", 0.0)
    t0 = time.time()

    def checkpoint(s: int) -> None:
        _save({"model": vae.state_dict(), "opt": opt.state_dict(), "rng": rng.bit_generator.state, "step": s},
              ckpt_path)
        _log(out, vae_seconds=round(spent + time.time() - t0, 1), vae_steps_done=s)

    step = train_vae(vae, opt, images, preset, step, rng, checkpoint, deadline)
    held = render_images(sample_attributes(256, seed + 1, held_out=True), seed + 1)
    metrics = reconstruction_metrics(vae, held)
    _log(out, vae_heldout=metrics)
    print("vae held-out:", metrics, flush=True)
    return vae.eval()


def phase_latents(out: Path, vae, images: np.ndarray):
    """Cache posterior mean/std of every training image and the latent scaling factor (1/std)."""
    import torch

    from catalog_concepts.embedded_model.vae_training import latent_stats

    path = out / "latents.pt"
    if path.exists():
        d = torch.load(path)
        return d["means"], d["stds"], float(d["scaling_factor"])
    means, stds = latent_stats(vae, images)  # (N, 4, h, w) each
    sample = means + stds * torch.randn_like(stds)
    # LDM's scale factor: latents fed to diffusion should have unit variance (Rombach et al. 2022, sec. 4.3.2).
    scaling_factor = float(1.0 / sample.std())
    _save({"means": means, "stds": stds, "scaling_factor": scaling_factor}, path)
    _log(out, scaling_factor=scaling_factor, latent_mean=float(sample.mean()))
    return means, stds, scaling_factor


def phase_text(out: Path, preset: Preset, captions: list[str]):
    """MiniLM token states of every distinct caption (they are a small finite set)."""
    import torch

    from catalog_concepts.embedded_model.text_states import encode_captions, load_text_components

    path = out / "text_bank.pt"
    if path.exists():
        d = torch.load(path)
        return d["states"], d["mask"]
    tokenizer, encoder = load_text_components()
    states, mask = encode_captions(captions, preset.max_sequence_length, tokenizer, encoder)
    _save({"states": states, "mask": mask}, path)
    return states, mask


def phase_denoiser(out: Path, preset: Preset, latents, caption_idx, text_bank, mask_bank, seed: int,
                   deadline: float | None):
    """Train (or resume) the DiT; returns the EMA weights' model."""
    import copy

    import torch

    from catalog_concepts.embedded_model.denoiser_training import build_transformer, train_denoiser

    means, stds, scaling_factor = latents
    torch.manual_seed(seed)
    model = build_transformer(preset, latent_size=means.shape[-1])
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=preset.dit_lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 2])
    ckpt_path, step = out / "dit_ckpt.pt", 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        rng.bit_generator.state = ck["rng"]
        step = ck["step"]
    if step >= preset.dit_steps:
        return ema
    spent = json.loads((out / "train_log.json").read_text()).get("dit_seconds", 0.0)
    t0 = time.time()

    def checkpoint(s: int) -> None:
        _save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
               "rng": rng.bit_generator.state, "step": s}, ckpt_path)
        _log(out, dit_seconds=round(spent + time.time() - t0, 1), dit_steps_done=s)

    train_denoiser(model, ema, opt, (means, stds), caption_idx, text_bank, mask_bank, [0, 1], preset,
                   scaling_factor, step, rng, checkpoint, deadline)
    return ema


def export(out: Path, preset: Preset, defaults: dict | None = None) -> Path:
    """Export the current VAE + EMA DiT checkpoints to out/pipeline (works mid-training too)."""
    import torch

    from catalog_concepts.embedded_model.denoiser_training import build_transformer
    from catalog_concepts.embedded_model.export import save_pipeline
    from catalog_concepts.embedded_model.vae_training import build_vae

    vae = build_vae(preset)
    vae.load_state_dict(torch.load(out / "vae_ckpt.pt", weights_only=False)["model"])
    vae.register_to_config(scaling_factor=float(torch.load(out / "latents.pt")["scaling_factor"]))
    ck = torch.load(out / "dit_ckpt.pt", weights_only=False)
    transformer = build_transformer(preset, latent_size=64 // 2 ** (len(preset.vae_channels) - 1))
    transformer.load_state_dict(ck["ema"])
    d = dict(PROVISIONAL_DEFAULTS if defaults is None else defaults)
    d.setdefault("max_sequence_length", preset.max_sequence_length)
    path = save_pipeline(out / "pipeline", transformer.eval(), vae.eval(), d["scheduler"], d)
    _log(out, exported_dit_step=ck["step"])
    return path


def main(argv: list[str] | None = None) -> Path:
    """Run every phase (resuming where asked) and export the pipeline folder."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--preset", choices=list(PRESETS), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=None, help="wall-clock cap; stops early and exports")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--threads", type=int, default=1, help="torch threads (measure: 2 can be slower under load)")
    p.add_argument("--export-only", action="store_true", help="export the current checkpoints and exit")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    preset = get_preset(args.preset)
    out = args.out
    if args.export_only:
        return export(out, preset)
    if out.exists() and any(out.iterdir()) and not args.resume:
        raise SystemExit(f"{out} is not empty; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + 60 * args.minutes if args.minutes else None
    _log(out, preset=args.preset, seed=args.seed, threads=args.threads, preset_values=preset.__dict__)

    # 1. Render the training set
    images, caption_idx, captions = phase_data(out, preset, args.seed)
    # 2. Learn the VAE
    vae = phase_vae(out, preset, images, args.seed, deadline)
    # 3. Cache latents and caption token states
    latents = phase_latents(out, vae, images)
    text_bank, mask_bank = phase_text(out, preset, captions)
    # 4. Train the denoiser
    phase_denoiser(out, preset, latents, caption_idx, text_bank, mask_bank, args.seed, deadline)
    # 5. Export a diffusers pipeline folder
    path = export(out, preset)
    print(f"exported {path}", flush=True)
    return path


if __name__ == "__main__":
    main()
