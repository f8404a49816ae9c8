"""The model card's picture: the default sampler on every held-out combination, two seeds each.

    .venv/bin/python -m catalog_concepts.embedded_model.samples [--model DIR] [--out catalog_concepts/embedded_model/samples_heldout.png]

Rows come in pairs (seed 0, seed 1); the 26 held-out combinations run 13 per row pair, in
`catalog_concepts.embedded_model.dataset.HELD_OUT` order. Uses the folder's own default sampler and guidance.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from catalog_concepts.assets import packaged, shipped_model_dir
from catalog_concepts.embedded_model.dataset import HELD_OUT
from catalog_concepts.embedded_model.evaluate import SamplerConfig, generate, heldout_prompts

PER_ROW = 13
SEEDS = 2


def sample_grid(pipe, cfg: SamplerConfig, max_sequence_length: int) -> Image.Image:
    """A (rows x 64) x (13 x 64) grid of held-out samples at cfg."""
    attrs, seeds = heldout_prompts(SEEDS)  # combo-major: (combo 0, seed 0), (combo 0, seed 1), ...
    images, _ = generate(pipe, attrs, seeds, cfg, max_sequence_length)  # (26 * 2, 64, 64, 3) float 0-255
    tiles = images.reshape(len(HELD_OUT), SEEDS, 64, 64, 3).clip(0, 255).astype(np.uint8)
    blocks = []
    for start in range(0, len(HELD_OUT), PER_ROW):
        block = tiles[start : start + PER_ROW]  # (13, 2, 64, 64, 3)
        blocks.append(np.concatenate([np.concatenate(list(block[:, s]), axis=1) for s in range(SEEDS)], axis=0))
    return Image.fromarray(np.concatenate(blocks, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=shipped_model_dir())
    parser.add_argument("--out", type=Path, default=packaged("catalog_concepts.embedded_model", "samples_heldout.png"))
    args = parser.parse_args()

    from catalog_concepts.embedded_model.export import load_pipeline

    defaults = json.loads((args.model / "catalog_concepts.json").read_text())
    cfg = SamplerConfig(defaults["scheduler"], int(defaults["steps"]), float(defaults["guidance_scale"]))
    grid = sample_grid(load_pipeline(args.model), cfg, int(defaults["max_sequence_length"]))
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.width}x{grid.height}; {cfg.scheduler} {cfg.steps} steps, w={cfg.guidance_scale:g})")


if __name__ == "__main__":
    main()
