"""Torch CPU threads for generation: images/s at 1, 2, ... threads, measured in one run.

    .venv/bin/python bench/threads.py [--model DIR] [--images 64] [--threads 1 2]

Each setting runs in a fresh subprocess (torch fixes its pool size per process) on the same
prompts and seeds, alternating settings twice so a change in background load hits both.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import load_model, read_defaults
from catalog_concepts.engine.seeds import image_seed
from catalog.vocabulary import CATEGORIES, COLORS
model_dir, images, threads = {model!r}, {images}, {threads}
d = read_defaults(model_dir)
settings = SamplingSettings(d["scheduler"], int(d["steps"]), float(d["guidance_scale"]), int(d["width"]), int(d["height"]),
                            d.get("max_sequence_length"))
model = load_model(model_dir, choose_placement("cpu", threads=threads))
reqs = [ImageRequest(str(i), f"S{{i}}", 0, image_seed(0, f"S{{i}}", 0),
                     f"campaign concept, a {{COLORS[i % 8]}} wood {{CATEGORIES[i // 8 % 8]}} on a soft gradient backdrop", "text")
        for i in range(images)]
generate(model, reqs[:16], settings, 16)
t = time.perf_counter(); generate(model, reqs, settings, 16); s = time.perf_counter() - t
print(json.dumps({{"threads": threads, "images_per_s": images / s}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "catalog_concepts" / "embedded_model" / "weights" / "concepts-dit-64"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    results: dict[int, list[float]] = {t: [] for t in args.threads}
    for _ in range(2):
        for threads in args.threads:
            code = _CHILD.format(root=str(ROOT), model=args.model, images=args.images, threads=threads)
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            results[threads].append(json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"])
    base = max(results[args.threads[0]])
    for threads, rates in results.items():
        print(f"threads {threads}: {max(rates):.2f} img/s (runs: {', '.join(f'{r:.2f}' for r in rates)}), "
              f"x{max(rates) / base:.2f} vs {args.threads[0]}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
