"""When are regenerated pixels bit-identical? Regenerate one image set under other conditions.

    .venv/bin/python bench/reproducibility.py [--model tiny|shipped|DIR ...] [--images 32] [--rounds 2]

For each model, a reference set is generated the way the nightly flow makes it (batch 16,
torch threads = every usable CPU, OMP_WAIT_POLICY=PASSIVE as the Makefile sets it),
then every condition regenerates the same requests in a fresh subprocess and is compared
with the reference image by image (uint8). Conditions run interleaved, `--rounds` times, so
a change in background load hits all of them; a row pools its rounds (images and identical
counts add up; differences are the worst seen).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "catalog_concepts" / "embedded_model" / "weights" / "concepts-dit-64"

# name -> (threads or None for the default, batch size, order, extra env)
#   order "shuffled": the same images in other batch positions and with other batch mates.
#   order "copies": each of the first 8 images alone in a batch of copies of its own request
#   (what provenance reproduce does).
#   order "other seed": every seed + 1, i.e. different images: what `different` looks like.
CONDITIONS: dict[str, tuple[int | None, int, str, dict]] = {
    "same config, new process": (None, 16, "same", {}),
    "batch 16, shuffled order": (None, 16, "shuffled", {}),
    "batch 16 of copies of one image": (None, 16, "copies", {}),
    "batch 8": (None, 8, "same", {}),
    "batch 4": (None, 4, "same", {}),
    "batch 1": (None, 1, "same", {}),
    "1 thread, batch 16": (1, 16, "same", {}),
    "1 thread, batch 1": (1, 1, "same", {}),
    "OMP_WAIT_POLICY=ACTIVE": (None, 16, "same", {"OMP_WAIT_POLICY": "ACTIVE"}),
    "another seed (a different image)": (None, 16, "other seed", {}),
}

_CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import load_model, read_defaults
from catalog_concepts.engine.seeds import image_seed
from catalog.vocabulary import CATEGORIES, COLORS, MATERIALS
model_dir, images, threads, batch, order, out = {model!r}, {images}, {threads}, {batch}, {order!r}, {out!r}
d = read_defaults(model_dir)
settings = SamplingSettings(d["scheduler"], int(d["steps"]), float(d["guidance_scale"]), int(d["width"]), int(d["height"]),
                            d.get("max_sequence_length"))
model = load_model(model_dir, choose_placement("cpu", "float32", threads=threads))
reqs = [ImageRequest(str(i), f"S{{i}}", i % 2, image_seed(11, f"S{{i // 2}}", i % 2) + (order == "other seed"),
        f"campaign concept, a {{COLORS[i // 2 % len(COLORS)]}} {{MATERIALS[i // 6 % len(MATERIALS)]}} "
        f"{{CATEGORIES[i // 2 % len(CATEGORIES)]}} on a soft gradient backdrop",
        "text, watermark, blurry") for i in range(images)]
index = list(range(images))
if order == "shuffled":
    index = [int(i) for i in np.random.default_rng(5).permutation(images)]
if order == "copies":
    index = index[:8]
    made = [generate(model, [reqs[i]] * batch, settings, batch)[0] for i in index]
else:
    made = generate(model, [reqs[i] for i in index], settings, batch)
order_back = np.argsort(index)
np.savez(out, index=np.asarray(index)[order_back], pixels=np.stack([made[j].pixels for j in order_back]))
print(json.dumps({{"threads": model.placement.threads}}))
"""

_ENCODE_CHILD = r"""
import itertools, json, statistics, sys, time
import torch
sys.path.insert(0, {root!r})
from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.load import load_model, read_defaults
from catalog_concepts.engine.text_cache import _encode, encoding_style
from catalog.vocabulary import CATEGORIES, COLORS, MATERIALS
model_dir, prompts = {model!r}, {prompts}
length = read_defaults(model_dir).get("max_sequence_length")
model = load_model(model_dir, choose_placement("cpu", "float32"))
style = encoding_style(model.pipe)
texts = [f"campaign concept, a {{c}} {{m}} {{k}} on a soft gradient backdrop"
         for c, m, k in itertools.product(COLORS, MATERIALS, CATEGORIES)][:prompts]
times = {{"16 per call": [], "1 per call": []}}
with torch.inference_mode():
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, len(texts), 16):
            _encode(model.pipe, style, texts[i : i + 16], length)
        times["16 per call"].append(time.perf_counter() - t)
        t = time.perf_counter()
        for text in texts:
            _encode(model.pipe, style, [text], length)
        times["1 per call"].append(time.perf_counter() - t)
print(json.dumps({{k: 1000 * statistics.median(v) / len(texts) for k, v in times.items()}}))
"""


def encode_cost(model_dir: Path, prompts: int) -> dict[str, float]:
    """Median ms per prompt to encode prompts 16 per call and one per call (alternated, 3 rounds)."""
    code = _ENCODE_CHILD.format(root=str(ROOT), model=str(model_dir), prompts=prompts)
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_condition(
    model_dir: Path, images: int, threads: int | None, batch: int, order: str, env: dict, out: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the image set in a fresh subprocess under one condition: (indices (N,), pixels (N, H, W, 3) uint8)."""
    code = _CHILD.format(
        root=str(ROOT), model=str(model_dir), images=images, threads=threads, batch=batch, order=order, out=str(out)
    )
    child_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env}
    subprocess.run([sys.executable, "-c", code], env=child_env, check=True, capture_output=True, text=True)
    with np.load(out) as saved:
        return saved["index"], saved["pixels"]


def compare(reference: np.ndarray, pixels: np.ndarray) -> dict:
    """Per-set differences: identical count, max and mean abs diff, min and max PSNR over images."""
    diff = np.abs(reference.astype(np.int16) - pixels.astype(np.int16))  # (N, H, W, 3)
    per_image_mse = (diff.astype(np.float64) ** 2).reshape(len(diff), -1).mean(axis=1)  # (N,)
    with np.errstate(divide="ignore"):
        psnr = np.where(per_image_mse == 0, np.inf, 10 * np.log10(255.0**2 / per_image_mse))
    return {
        "images": len(diff),
        "identical": int((diff.reshape(len(diff), -1).max(axis=1) == 0).sum()),
        "max_abs_diff": int(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "min_psnr": float(psnr.min()),
        "max_psnr": float(psnr.max()),
        "pixels_differing": int((diff > 0).sum()),
    }


def pool(a: dict | None, b: dict) -> dict:
    """Two rounds of one condition together: counts add up, differences keep the worst."""
    if a is None:
        return b
    return {
        "images": a["images"] + b["images"],
        "identical": a["identical"] + b["identical"],
        "max_abs_diff": max(a["max_abs_diff"], b["max_abs_diff"]),
        "mean_abs_diff": max(a["mean_abs_diff"], b["mean_abs_diff"]),
        "min_psnr": min(a["min_psnr"], b["min_psnr"]),
        "max_psnr": max(a["max_psnr"], b["max_psnr"]),
        "pixels_differing": a["pixels_differing"] + b["pixels_differing"],
    }


def model_dirs(names: list[str], scratch: Path) -> dict[str, Path]:
    """Resolve --model names: tiny (built here from configs), shipped, or a folder."""
    resolved = {}
    for name in names:
        if name == "tiny":
            from catalog_concepts.engine.tiny import build_tiny_pipeline

            resolved[name] = build_tiny_pipeline(scratch / "tiny")
        elif name == "shipped":
            resolved[name] = SHIPPED
        else:
            resolved[name] = Path(name)
    return resolved


def main() -> None:
    """Print, per model and condition, how regenerated images differ from the flow-like reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["tiny", "shipped"])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--encode-cost", action="store_true", help="Also time prompt encoding: 16 per call vs one per call")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for label, model_dir in model_dirs(args.model, scratch).items():
            _, reference = run_condition(model_dir, args.images, None, 16, "same", {}, scratch / "ref.npz")
            results: dict[str, dict | None] = {name: None for name in args.conditions}
            for _ in range(args.rounds):
                for name in args.conditions:
                    threads, batch, order, env = CONDITIONS[name]
                    index, pixels = run_condition(model_dir, args.images, threads, batch, order, env, scratch / "c.npz")
                    results[name] = pool(results[name], compare(reference[index], pixels))
            print(f"\n{label} ({model_dir.name}); reference: batch 16, default threads ({len(os.sched_getaffinity(0))} usable CPUs), "
                  f"OMP_WAIT_POLICY=PASSIVE; {args.images} images x {args.rounds} rounds")
            print("| condition | images | identical | max abs diff | mean abs diff | min PSNR dB | max PSNR dB | pixels differing |")
            print("|---|---|---|---|---|---|---|---|")
            for name, r in results.items():
                print(f"| {name} | {r['images']} | {r['identical']} | {r['max_abs_diff']} | {r['mean_abs_diff']:.5f} "
                      f"| {r['min_psnr']:.1f} | {r['max_psnr']:.1f} | {r['pixels_differing']} |")
            if args.encode_cost:
                cost = encode_cost(model_dir, 128)
                print("\nprompt encoding, 128 distinct prompts: " + ", ".join(f"{k} {v:.1f} ms/prompt" for k, v in cost.items()))
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
