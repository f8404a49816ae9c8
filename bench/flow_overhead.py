"""Flow overhead: the nightly flow vs a bare loop over the same pipeline and prompts, in one run.

    .venv/bin/python bench/flow_overhead.py [--skus 1000] [--model DIR]

Prints wall seconds of both and the ratio flow/bare (target <= 1.15). The flow's time covers
everything a nightly run does (read, validate, prompts, generation, scoring, policy, labels,
PUTs to the real local S3, manifest); Prefect's local API is warmed up first so its one-off
start-up is not counted, and the bare loop runs after a warm-up batch as well.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default=None, help="pipeline folder (default: a tiny random-weights pipeline)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ["CONCEPTS_HOME"] = str(work / "home")

    from catalog.reader import read_catalog
    from catalog.sample import write_sample_catalog
    from engine.device import choose_placement
    from engine.generate import ImageRequest, SamplingSettings, generate
    from engine.load import load_model, read_defaults
    from engine.seeds import image_seed
    from engine.tiny import build_tiny_pipeline
    from flows.nightly import nightly_campaign
    from flows.params import NightlyParams
    from prompts.templates import build_prompt
    from storage.local_s3 import local_s3, local_s3_settings, ensure_bucket

    model_dir = args.model or str(build_tiny_pipeline(work / "tiny"))
    catalog = write_sample_catalog(work / "catalog.parquet", n=args.skus, seed=1)
    defaults = read_defaults(model_dir)
    settings = SamplingSettings(
        defaults["scheduler"], int(defaults["steps"]), float(defaults["guidance_scale"]),
        int(defaults["width"]), int(defaults["height"]), defaults.get("max_sequence_length"),
    )

    with local_s3(work / "s3") as server:
        s3 = local_s3_settings(server, "bench")
        ensure_bucket(s3)
        os.environ.update({
            "CONCEPTS_S3_ENDPOINT": s3.endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        })
        common = dict(catalog_uri=str(catalog), model_path=model_dir, variants_per_sku=args.variants, batch_size=args.batch_size)
        # Warm-up: starts Prefect's local API, imports great-expectations, loads the pipeline.
        nightly_campaign(NightlyParams(**common, limit=2, seed=999))

        started = time.perf_counter()
        summary = nightly_campaign(NightlyParams(**common, seed=1))
        flow_seconds = time.perf_counter() - started
        assert summary["images"] == args.skus * args.variants, summary

        # Bare loops over the same pipeline, prompts and seeds: (a) our engine alone (generation
        # with no scoring, policy, labels or storage), (b) plain diffusers calls in batches.
        model = load_model(model_dir, choose_placement())
        rows = read_catalog(str(catalog)).to_pylist()
        requests = [
            ImageRequest(f"{row['sku']}-{v}", row["sku"], v, image_seed(1, row["sku"], v), p.text, p.negative)
            for row in rows for p in [build_prompt(row)] for v in range(args.variants)
        ]
        model.text_cache.__init__()  # start the engine's embedding cache cold, as the flow's was
        started = time.perf_counter()
        generate(model, requests, settings, args.batch_size)
        engine_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _plain_diffusers_loop(model.pipe, requests, settings, args.batch_size)
        bare_seconds = time.perf_counter() - started

    images = args.skus * args.variants
    print(f"model: {model_dir}  ({settings.scheduler}, {settings.steps} steps, w={settings.guidance_scale}, {settings.width}x{settings.height})")
    print(f"images: {images}  torch threads: {choose_placement().threads}")
    for name, seconds in (("flow", flow_seconds), ("engine loop", engine_seconds), ("plain diffusers loop", bare_seconds)):
        print(f"{name:22s} {seconds:7.1f} s  {images / seconds:6.1f} img/s")
    print(f"ratio flow/plain-diffusers: {flow_seconds / bare_seconds:.3f}  (target <= 1.15)")
    print(f"ratio flow/engine-loop:     {flow_seconds / engine_seconds:.3f}  (orchestration, scoring, policy, labels, S3)")


def _plain_diffusers_loop(pipe, requests, settings, batch_size) -> None:
    """What a script without this project would do: call the pipeline batch by batch."""
    import inspect

    import torch

    from engine.schedulers import make_scheduler
    from engine.seeds import image_generator

    accepted = inspect.signature(pipe.__call__).parameters
    extra = {k: v for k, v in {"use_resolution_binning": False, "clean_caption": False,
                               "max_sequence_length": settings.max_sequence_length}.items() if k in accepted and v is not None}
    pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler)
    with torch.inference_mode():
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            pipe(
                prompt=[r.prompt for r in batch], negative_prompt=batch[0].negative_prompt,
                num_inference_steps=settings.steps, guidance_scale=settings.guidance_scale,
                generator=[image_generator(r.seed) for r in batch], width=settings.width, height=settings.height,
                output_type="np", **extra,
            )


if __name__ == "__main__":
    main()
