"""Alignment ROC-AUC: matched vs mismatched (prompt, image) pairs on held-out data.

    .venv/bin/python bench/alignment_auc.py [--per-combo 8] [--model DIR] [--generated 4]

Held-out renders: every held-out (category, colour, scene) combination of
catalog_concepts/embedded_model/dataset.py (never seen by the generator) x `--per-combo` fresh seeds.
Each image is scored by catalog_concepts.scoring.alignment's attribute-classifier scorer against
- its own prompt (positive),
- a random other combination (easy negative), and
- its prompt with exactly ONE attribute changed (hard negative: category, colour or scene).
ROC-AUC is the Mann-Whitney probability that a positive outscores a negative (ties 1/2).
With `--model` (default: the shipped model if exported) the same is done on images the
model generated from the held-out prompts. Target: AUC >= 0.95.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted 1/2 (Mann-Whitney U / n1 n0)."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _negatives(attrs, rng):
    """(easy, hard) mismatched attribute dicts for each Attributes."""
    from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS

    vocab = {"category": CATEGORIES, "color": COLORS, "background": BACKGROUNDS}
    easy, hard = [], []
    for a in attrs:
        own = {"category": a.category, "color": a.color, "background": a.background}
        while True:
            other = {k: str(rng.choice(v)) for k, v in vocab.items()}
            if other != own:
                break
        key = str(rng.choice(list(vocab)))
        changed = dict(own, **{key: str(rng.choice([v for v in vocab[key] if v != own[key]]))})
        easy.append(other)
        hard.append(changed)
    return easy, hard


def evaluate(scorer, images: np.ndarray, attrs, seed: int) -> dict[str, float]:
    """AUC (easy and hard negatives) and mean matched alignment of the scorer on (images, attrs)."""
    rng = np.random.default_rng(seed)
    own = [{"category": a.category, "color": a.color, "background": a.background} for a in attrs]
    easy, hard = _negatives(attrs, rng)
    pos = np.array([s["alignment"] for s in scorer.score(images, own)])
    neg_easy = np.array([s["alignment"] for s in scorer.score(images, easy)])
    neg_hard = np.array([s["alignment"] for s in scorer.score(images, hard)])
    return {
        "n": len(images),
        "auc_random_mismatch": roc_auc(pos, neg_easy),
        "auc_one_attribute_changed": roc_auc(pos, neg_hard),
        "matched_median": float(np.median(pos)),
        "matched_below_0.5": float((pos < 0.5).mean()),
        "hard_negative_above_0.5": float((neg_hard >= 0.5).mean()),
    }


def _generated(model_dir: str, attrs, per_combo: int):
    """Images the model generates from the held-out prompts, through the flow's engine."""
    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
    from catalog_concepts.engine.load import load_model, read_defaults
    from catalog_concepts.prompts.templates import NEGATIVE_PROMPT

    d = read_defaults(model_dir)
    settings = SamplingSettings(d["scheduler"], int(d["steps"]), float(d["guidance_scale"]), int(d["width"]),
                                int(d["height"]), d.get("max_sequence_length"))
    model = load_model(model_dir, choose_placement("auto", "auto", threads=1))
    requests = [ImageRequest(f"{i:032x}", f"held-{i // per_combo}", i % per_combo, 10_000 + i, a.caption, NEGATIVE_PROMPT)
                for i, a in enumerate(attrs)]
    t0 = time.perf_counter()
    images = np.stack([g.pixels for g in generate(model, requests, settings, batch_size=32)])
    return images, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-combo", type=int, default=8, help="fresh render seeds per held-out combination")
    parser.add_argument("--generated", type=int, default=4, help="generated images per held-out combination (0: skip)")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model, if exported)")
    parser.add_argument("--seed", type=int, default=31_337)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from catalog_concepts.embedded_model.dataset import render_images
    from catalog_concepts.embedded_model.evaluate import heldout_prompts
    from catalog_concepts.scoring.alignment import make_classifier_scorer
    from flows.resources import SHIPPED_MODEL_DIR

    scorer = make_classifier_scorer()
    print(f"scorer {scorer.version}")
    attrs, _ = heldout_prompts(args.per_combo)
    images = render_images(attrs, args.seed)  # (N, 64, 64, 3), seeds never used in training
    rows = {"held-out renders": evaluate(scorer, images, attrs, args.seed)}

    model_dir = args.model or (str(SHIPPED_MODEL_DIR) if (SHIPPED_MODEL_DIR / "model_index.json").exists() else None)
    if model_dir and args.generated > 0:
        gen_attrs, _ = heldout_prompts(args.generated)
        generated, seconds = _generated(model_dir, gen_attrs, args.generated)
        rows[f"generated ({Path(model_dir).name}, {seconds:.0f} s)"] = evaluate(scorer, generated, gen_attrs, args.seed + 1)
    elif args.generated > 0:
        print("no shipped model exported yet (catalog_concepts/embedded_model/weights/concepts-dit-64): generated images skipped")

    keys = ["n", "auc_random_mismatch", "auc_one_attribute_changed", "matched_median", "matched_below_0.5", "hard_negative_above_0.5"]
    print(f"{'data':<40}" + "".join(f"{k:>26}" for k in keys))
    for name, row in rows.items():
        print(f"{name:<40}" + "".join(f"{row[k]:>26.4f}" if isinstance(row[k], float) else f"{row[k]:>26}" for k in keys))


if __name__ == "__main__":
    main()
