"""Scoring cost: seconds per image each scorer adds, next to the generation it follows, in one run.

    .venv/bin/python bench/scoring_cost.py [--images 64] [--model DIR] [--train-index F] [--safety-checker D] [--clip D]

Generates `--images` images through the flow's engine (default model: the shipped one if
exported, else a tiny random-weights pipeline), then runs the run's scorers
(catalog_concepts.scoring.suite.default_scorers, with the given optional models) on those pixels, as the
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

    from catalog_concepts.embedded_model.denoiser_training import build_transformer
    from catalog_concepts.embedded_model.export import save_pipeline
    from catalog_concepts.embedded_model.presets import get_preset
    from catalog_concepts.embedded_model.train import PROVISIONAL_DEFAULTS
    from catalog_concepts.embedded_model.vae_training import build_vae

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
    parser.add_argument("--train-index", default=None, help="memorisation index .npz (catalog_concepts.scoring.memorisation)")
    parser.add_argument("--safety-checker", default=None)
    parser.add_argument("--clip", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--renders", action="store_true", help="also select among procedural renders of the same prompts")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from catalog_concepts.embedded_model.dataset import sample_attributes
    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
    from catalog_concepts.engine.load import load_model, read_defaults
    from catalog_concepts.engine.tiny import build_tiny_pipeline
    from catalog_concepts.prompts.templates import NEGATIVE_PROMPT
    from catalog_concepts.scoring.base import ScorerModels
    from catalog_concepts.scoring.suite import default_scorers
    from flows.resources import SHIPPED_MODEL_DIR

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
    # Four variants per SKU, one prompt each (held-out combinations: the model never saw them).
    attrs = [a for a in sample_attributes((args.images + 3) // 4, 5, held_out=True) for _ in range(4)][: args.images]
    requests = [ImageRequest(f"{i:032x}", f"SKU-{i // 4}", i % 4, 1_000 + i, a.caption, NEGATIVE_PROMPT) for i, a in enumerate(attrs)]
    context = [
        {"prompt": a.caption, "sku": r.sku, "variant": r.variant, "background": a.background, "category": a.category,
         "color": a.color, "material": a.material, "brand": "Nordhavn", "title": f"{a.color} {a.category}", "description": None}
        for a, r in zip(attrs, requests, strict=True)
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
        per_scorer[scorer.name] = _best(lambda scorer=scorer: scorer.score(pixels, context), args.repeats)
    total = sum(per_scorer.values())
    n = len(pixels)

    print(f"model {Path(model_dir).name}: {settings.scheduler}, {settings.steps} steps, w={settings.guidance_scale}, "
          f"{settings.width}x{settings.height}, batch {args.batch_size}, {args.threads} thread(s), {n} images")
    print(f"{'stage':<22}{'ms / image':>12}{'x generation':>14}")
    print(f"{'generation':<22}{1000 * gen_s / n:>12.2f}{1.0:>14.3f}")
    for name, seconds in per_scorer.items():
        print(f"{'  score: ' + name:<22}{1000 * seconds / n:>12.2f}{seconds / gen_s:>14.3f}")
    print(f"{'scoring total':<22}{1000 * total / n:>12.2f}{total / gen_s:>14.3f}")
    _print_selection(pixels, context, scorers, closed_domain=True)
    if args.renders:
        from catalog_concepts.embedded_model.dataset import render_images

        print("the same prompts drawn by the procedural renderer (a stand-in for a model that follows them):")
        _print_selection(render_images(attrs, 11), context, scorers, closed_domain=True)


def _print_selection(pixels, context, scorers, closed_domain: bool) -> None:
    """Route the scored batch through the default policy and selection; print decisions and kept-per-SKU counts."""
    from collections import Counter

    from catalog_concepts.scoring.duplicates import phash
    from catalog_concepts.scoring.select import load_selection_config, select_variants
    from catalog_concepts.scoring.suite import run_scorers
    from catalog_concepts.scoring.technical import technical_failures
    from catalog_concepts.scoring.thresholds import load_thresholds
    from policies.decide import decide
    from policies.load import load_policy

    policy, thresholds, config = load_policy(), load_thresholds(), load_selection_config()
    scores, _ = run_scorers(scorers, pixels, context)
    candidates = []
    for c, s, image in zip(context, scores, pixels, strict=True):
        failures = technical_failures(s, thresholds, c["background"])
        row = {**{k: v for k, v in c.items() if k != "prompt"}, "asset_type": "campaign_background", "claims_real_sku": False,
               "has_logo": False, "technical_failures": failures, "duplicate_of": -1, "model_closed_domain": closed_domain,
               **{f"scores.{k}": v for k, v in s.items()}}
        candidates.append({"sku": c["sku"], "variant": c["variant"], "decision": decide(policy, row).action,
                           "scores": s, "technical_failures": failures, "phash": phash(image)})
    selections = select_variants(candidates, keep=None, config=config)
    import re

    kept = Counter(c["sku"] for c, sel in zip(candidates, selections, strict=True) if sel.kept)
    skus = sorted({c["sku"] for c in candidates})
    per_sku = Counter(kept.get(sku, 0) for sku in skus)
    k = len(candidates) // len(skus)
    print(f"decisions: {dict(Counter(c['decision'] for c in candidates))}")
    print(f"kept per SKU (k={k}, keep={config.keep}): " + ", ".join(f"{m} kept: {per_sku[m]} SKUs" for m in sorted(per_sku)))
    outcomes = Counter(re.sub(r"\d[\d.e+-]*", "N", sel.drop_reason or "kept") for sel in selections)
    print(f"selection: {dict(outcomes)}")


if __name__ == "__main__":
    main()
