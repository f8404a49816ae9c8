"""Scoring cost: seconds per image each scorer adds, next to the generation it follows, in one run.

    .venv/bin/python bench/scoring_cost.py [--images 64] [--model DIR] [--train-index F] [--safety-checker D] [--clip D]

Generates `--images` images through the flow's engine (default model: the shipped one if
exported, else a tiny random-weights pipeline), then runs the run's scorers
(scoring.suite.default_scorers, with the given optional models) on those pixels, as the
shard worker does. Each timing is the best of `--repeats`, scorers after a warm-up call
(model loading is once per worker process, not per image). Prints per-image seconds and
scoring / generation.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def _best(fn, repeats: int) -> float:
    """Fastest wall time of repeats calls of fn()."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _shipped_size_model(out: Path) -> Path:
    """An untrained pipeline of the shipped preset (VAE + 6-layer DiT, 64x64, dpmsolver++ 20 steps, w=3)."""
    import torch

    from embedded_model.denoiser_training import build_transformer
    from embedded_model.export import save_pipeline
    from embedded_model.presets import get_preset
    from embedded_model.train import PROVISIONAL_DEFAULTS
    from embedded_model.vae_training import build_vae

    torch.manual_seed(0)
    preset = get_preset("default")
    defaults = dict(PROVISIONAL_DEFAULTS, max_sequence_length=preset.max_sequence_length)
    return save_pipeline(out, build_transformer(preset), build_vae(preset), defaults["scheduler"], defaults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--shipped-size", action="store_true",
                        help="when the shipped model is not exported: random weights of its preset (same compute per image)")
    parser.add_argument("--train-index", default=None, help="memorisation index .npz (scoring.memorisation)")
    parser.add_argument("--safety-checker", default=None)
    parser.add_argument("--clip", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from embedded_model.dataset import sample_attributes
    from engine.device import choose_placement
    from engine.generate import ImageRequest, SamplingSettings, generate
    from engine.load import load_model, read_defaults
    from engine.tiny import build_tiny_pipeline
    from flows.resources import SHIPPED_MODEL_DIR
    from prompts.templates import NEGATIVE_PROMPT
    from scoring.suite import ScorerModels, default_scorers

    if args.model:
        model_dir = args.model
    elif (SHIPPED_MODEL_DIR / "model_index.json").exists():
        model_dir = str(SHIPPED_MODEL_DIR)
    elif args.shipped_size:
        model_dir = str(_shipped_size_model(Path(tempfile.mkdtemp(prefix="bench-scoring-")) / "shipped-size-random"))
    else:
        model_dir = str(build_tiny_pipeline(Path(tempfile.mkdtemp(prefix="bench-scoring-")) / "tiny"))
    d = read_defaults(model_dir)
    settings = SamplingSettings(d["scheduler"], int(d["steps"]), float(d["guidance_scale"]), int(d["width"]),
                                int(d["height"]), d.get("max_sequence_length"))
    model = load_model(model_dir, choose_placement("auto", "auto", threads=args.threads))
    attrs = sample_attributes(args.images, 5, held_out=True)
    requests = [ImageRequest(f"{i:032x}", f"SKU-{i // 4}", i % 4, 1_000 + i, a.caption, NEGATIVE_PROMPT) for i, a in enumerate(attrs)]
    context = [
        {"prompt": a.caption, "sku": r.sku, "variant": r.variant, "background": a.background, "category": a.category,
         "color": a.color, "material": a.material, "brand": "Nordhavn", "title": f"{a.color} {a.category}", "description": None}
        for a, r in zip(attrs, requests)
    ]

    generate(model, requests[: args.batch_size], settings, args.batch_size)  # warm-up
    holder = {}
    gen_s = _best(lambda: holder.update(g=generate(model, requests, settings, args.batch_size)), args.repeats)
    pixels = np.stack([g.pixels for g in holder["g"]])  # (N, H, W, 3) uint8

    models = ScorerModels(
        train_index=Path(args.train_index) if args.train_index else None,
        safety_checker=Path(args.safety_checker) if args.safety_checker else None,
        clip=Path(args.clip) if args.clip else None,
    )
    scorers = default_scorers(models)
    per_scorer = {}
    for scorer in scorers:
        scorer.score(pixels[:2], context[:2])  # warm-up: loads its model once, as a worker process does
        per_scorer[scorer.name] = _best(lambda: scorer.score(pixels, context), args.repeats)
    total = sum(per_scorer.values())
    n = len(pixels)

    print(f"model {Path(model_dir).name}: {settings.scheduler}, {settings.steps} steps, w={settings.guidance_scale}, "
          f"{settings.width}x{settings.height}, batch {args.batch_size}, {args.threads} thread(s), {n} images")
    print(f"{'stage':<22}{'ms / image':>12}{'x generation':>14}")
    print(f"{'generation':<22}{1000 * gen_s / n:>12.2f}{1.0:>14.3f}")
    for name, seconds in per_scorer.items():
        print(f"{'  score: ' + name:<22}{1000 * seconds / n:>12.2f}{seconds / gen_s:>14.3f}")
    print(f"{'scoring total':<22}{1000 * total / n:>12.2f}{total / gen_s:>14.3f}")


if __name__ == "__main__":
    main()
