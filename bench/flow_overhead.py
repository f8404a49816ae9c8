"""Flow overhead: the whole nightly flow vs a plain diffusers loop over the same prompts and seeds.

    .venv/bin/python bench/flow_overhead.py [--skus 100] [--pairs 3] [--model DIR]

Flow and plain runs are interleaved in pairs whose order alternates (flow first, then plain
first, ...), so a change in background load hits both sides; the ratio reported is the median of
the pairs' ratios, and every pair is printed with the load average it ran under. CPU seconds
(this process and its children: the embedded S3 and Prefect's local API) are printed beside the
wall seconds: on a busy machine they say what each side cost when the wall clock cannot. Each pair gets
its own run seed, so every flow run is a new run id (nothing staged, committed or cached by an
earlier run is reused) and the engine's prompt-embedding cache is emptied before each flow run,
as cold as a fresh worker process. The model stays loaded on both sides: the warm-up run pays
Prefect's local API start-up and the model load once.

The flow's time covers everything a nightly run does (read, validate, prompts, generation,
scoring, policy, labels and C2PA signing, PUTs to the real local S3, staging, manifest commit,
verification, contact sheet). Its per-stage table comes from the seconds the flow returns in its
summary (catalog_concepts/shards/stage_clock.py); the flow's wall time not covered by any stage is Prefect's own
(flow and task run bookkeeping, state and log calls).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The local API has taken over 20 s (Prefect's default) to start at load 7 on the 2-core box.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

FLOW, PLAIN = "flow", "plain"
# The flow's steps in the order it runs them (flows/nightly.py); "shards" is step 7's wall time.
FLOW_STAGES = ("resolve", "catalog_read", "run_id", "lease", "validation", "planning", "shards", "verification", "commit", "confirmation",
               "report")
# Inside the shards, per shard (catalog_concepts/shards/shard.py), summed over shards.
SHARD_STAGES = (
    "resume_check", "model_load", "waiting", "generation", "scoring (beside generation)", "labelling (beside generation)",
    "scoring", "labelling", "policy", "puts", "staging",
)
ORCHESTRATION = "prefect (rest)"


def pair_orders(pairs: int) -> list[tuple[str, str]]:
    """Which side runs first in each pair: flow first in even pairs, plain first in odd ones."""
    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    return [(FLOW, PLAIN) if i % 2 == 0 else (PLAIN, FLOW) for i in range(pairs)]


def pair_ratios(flow_seconds: list[float], plain_seconds: list[float]) -> list[float]:
    """flow/plain of each pair."""
    if len(flow_seconds) != len(plain_seconds) or not flow_seconds:
        raise ValueError(f"need as many flow as plain runs (at least one), got {len(flow_seconds)} and {len(plain_seconds)}")
    return [flow / plain for flow, plain in zip(flow_seconds, plain_seconds, strict=True)]


def flow_breakdown(wall_seconds: float, stage_seconds: dict[str, float]) -> dict[str, float]:
    """The flow's stages in run order, plus what no stage covers (Prefect's own time), from one flow run."""
    unknown = sorted(set(stage_seconds) - set(FLOW_STAGES))
    if unknown:
        raise ValueError(f"unknown flow stages {unknown}; known: {', '.join(FLOW_STAGES)}")
    table = {stage: stage_seconds.get(stage, 0.0) for stage in FLOW_STAGES}
    table[ORCHESTRATION] = wall_seconds - sum(table.values())
    return table


def median_table(tables: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over runs (a key a run lacks counts as 0 s there)."""
    keys = list(dict.fromkeys(key for table in tables for key in table))
    return {key: statistics.median(table.get(key, 0.0) for table in tables) for key in keys}


def cpu_by_process(pid: int) -> dict[str, float]:
    """User + system CPU seconds of a process ("process") and its living descendants: "s3" (the embedded
    SeaweedFS) and "children" (Prefect's local API, anything else), from Linux /proc."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command, rest = (entry / "stat").read_text().rsplit(")", 1)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue  # exited while we looked
            fields = rest.split()
            # After the command name: state, ppid (field 4), ... utime and stime (fields 14 and 15).
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), command.split("(", 1)[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, _, _) in stats.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    seconds = {"process": 0.0, "s3": 0.0, "children": 0.0}
    for member in tree & stats.keys():
        _, ticks, command = stats[member]
        role = "process" if member == pid else "s3" if command == "weed" else "children"
        seconds[role] += ticks / os.sysconf("SC_CLK_TCK")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=3, help="interleaved flow/plain pairs (median reported)")
    parser.add_argument("--model", default=None, help="pipeline folder (default: a tiny random-weights pipeline)")
    args = parser.parse_args()
    orders = pair_orders(args.pairs)

    work = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ["CONCEPTS_HOME"] = str(work / "home")

    from catalog.reader import read_catalog
    from catalog.sample import write_sample_catalog
    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.engine.generate import SamplingSettings
    from catalog_concepts.engine.load import load_model, read_defaults
    from catalog_concepts.engine.seeds import image_seed
    from catalog_concepts.engine.tiny import build_tiny_pipeline
    from catalog_concepts.local_services.s3_server import local_s3, local_s3_settings
    from catalog_concepts.prompts.templates import build_prompt
    from catalog_concepts.storage.bucket import ensure_bucket
    from flows.nightly import nightly_campaign

    model_dir = args.model or str(build_tiny_pipeline(work / "tiny"))
    catalog = write_sample_catalog(work / "catalog.parquet", n=args.skus, seed=1)
    defaults = read_defaults(model_dir)
    settings = SamplingSettings(
        defaults["scheduler"], int(defaults["steps"]), float(defaults["guidance_scale"]),
        int(defaults["width"]), int(defaults["height"]), defaults.get("max_sequence_length"),
    )
    rows = read_catalog(str(catalog)).to_pylist()
    prompts = [(row["sku"], build_prompt(row)) for row in rows]
    images = args.skus * args.variants

    with local_s3(work / "s3") as server:
        s3 = local_s3_settings(server, "bench")
        ensure_bucket(s3)
        os.environ.update({
            "CONCEPTS_S3_ENDPOINT": s3.endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        })
        common = dict(catalog_uri=str(catalog), model=model_dir, variants_per_sku=args.variants, batch_size=args.batch_size)
        # Warm-up: starts Prefect's local API, imports great-expectations, loads the pipeline.
        nightly_campaign(**common, limit=2, seed=999_999)
        model = load_model(model_dir, choose_placement())
        plain_items = [(sku, v, prompt) for sku, prompt in prompts[:2] for v in range(args.variants)]
        _plain_diffusers_loop(model.pipe, plain_items, 999_999, settings, args.batch_size, image_seed)

        runs: list[dict] = []
        for pair, order in enumerate(orders):
            seed = pair + 1  # a new run id per pair; both sides of a pair make the same images
            for side in order:
                load_before = os.getloadavg()[0]
                cpu_before = cpu_by_process(os.getpid())
                started = time.perf_counter()
                if side == FLOW:
                    model.text_cache.clear()
                    summary = nightly_campaign(**common, seed=seed)
                    seconds = time.perf_counter() - started
                    if summary["images"] != images or summary["status"] != "committed":
                        raise RuntimeError(f"the flow did not make a fresh run of {images} images: {summary}")
                else:
                    summary = None
                    items = [(sku, v, prompt) for sku, prompt in prompts for v in range(args.variants)]
                    _plain_diffusers_loop(model.pipe, items, seed, settings, args.batch_size, image_seed)
                    seconds = time.perf_counter() - started
                cpu = {role: seconds - cpu_before[role] for role, seconds in cpu_by_process(os.getpid()).items()}
                load = (load_before + os.getloadavg()[0]) / 2
                runs.append({"pair": pair, "side": side, "seconds": seconds, "cpu": cpu, "load": load, "summary": summary})
                print(f"pair {pair + 1} {side:5s} {seconds:7.1f} s  cpu {sum(cpu.values()):7.1f} s {cpu}  load {load:.1f}",
                      file=sys.stderr, flush=True)

    print(f"model: {model_dir}  ({settings.scheduler}, {settings.steps} steps, w={settings.guidance_scale}, {settings.width}x{settings.height})")
    print(f"images per run: {images} ({args.skus} SKUs x {args.variants})  batch {args.batch_size}  torch threads: {choose_placement().threads}")
    print(format_report(runs, orders))


def format_report(runs: list[dict], orders: list[tuple[str, str]]) -> str:
    """The pairs, the median ratio and the flow's median per-stage breakdown as text tables."""
    flows = [r for r in runs if r["side"] == FLOW]
    plains = [r for r in runs if r["side"] == PLAIN]
    ratios = pair_ratios([r["seconds"] for r in flows], [r["seconds"] for r in plains])
    loads = [r["load"] for r in runs]
    cpu_ratios = pair_ratios([sum(r["cpu"].values()) for r in flows], [sum(r["cpu"].values()) for r in plains])
    lines = ["", "| pair | order | flow s | plain s | flow/plain | flow CPU s | plain CPU s | CPU flow/plain | load avg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, (order, flow, plain, ratio, cpu_ratio) in enumerate(zip(orders, flows, plains, ratios, cpu_ratios, strict=True)):
        lines.append(f"| {i + 1} | {' then '.join(order)} | {flow['seconds']:.1f} | {plain['seconds']:.1f} | {ratio:.3f} | "
                     f"{sum(flow['cpu'].values()):.1f} | {sum(plain['cpu'].values()):.1f} | {cpu_ratio:.3f} | "
                     f"{(flow['load'] + plain['load']) / 2:.1f} |")
    lines.append(f"\nmedian flow/plain: {statistics.median(ratios):.3f} wall, {statistics.median(cpu_ratios):.3f} CPU  "
                 f"(wall pairs: {', '.join(f'{r:.3f}' for r in ratios)}; load average {min(loads):.1f}-{max(loads):.1f})")

    stages = median_table([flow_breakdown(r["seconds"], r["summary"]["stage_seconds"]) for r in flows])
    shard_stages = median_table([r["summary"].get("shard_seconds", {}) for r in flows])
    plain_median = statistics.median(r["seconds"] for r in plains)
    flow_median = statistics.median(r["seconds"] for r in flows)
    lines += ["", f"flow stages, median of {len(flows)} runs (flow {flow_median:.1f} s, plain diffusers {plain_median:.1f} s):",
              "| stage | seconds | share of flow |", "|---|---|---|"]
    lines += [f"| {stage} | {seconds:.2f} | {100 * seconds / flow_median:.1f}% |" for stage, seconds in stages.items()]
    lines += ["", "inside the shards (seconds summed over shards; \"beside generation\" ran on the finishing thread meanwhile):",
              "| shard stage | seconds | per image ms |", "|---|---|---|"]
    images = flows[0]["summary"]["images"]
    stages_seen = [*SHARD_STAGES, *sorted(set(shard_stages) - set(SHARD_STAGES))]
    lines += [f"| {stage} | {shard_stages.get(stage, 0.0):.2f} | {1000 * shard_stages.get(stage, 0.0) / images:.1f} |"
              for stage in stages_seen]
    lines.append(f"\ngeneration inside the flow / plain diffusers loop: {shard_stages.get('generation', 0.0) / plain_median:.3f}")
    for side, side_runs in ((FLOW, flows), (PLAIN, plains)):
        cpu = median_table([r["cpu"] for r in side_runs])
        lines.append(f"{side} CPU seconds, median: " + ", ".join(f"{role} {seconds:.1f}" for role, seconds in cpu.items()))
    return "\n".join(lines)


def _plain_diffusers_loop(pipe, items, run_seed, settings, batch_size, image_seed) -> None:
    """What a script without this project would do: call the pipeline batch by batch.

    items: (sku, variant, prompt) per image, in the flow's order; seeds as the flow derives them.
    """
    import inspect

    import torch

    from catalog_concepts.engine.schedulers import make_scheduler
    from catalog_concepts.engine.seeds import image_generator

    accepted = inspect.signature(pipe.__call__).parameters
    extra = {k: v for k, v in {"use_resolution_binning": False, "clean_caption": False,
                               "max_sequence_length": settings.max_sequence_length}.items() if k in accepted and v is not None}
    pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler)
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            pipe(
                prompt=[prompt.text for _, _, prompt in batch], negative_prompt=batch[0][2].negative,
                num_inference_steps=settings.steps, guidance_scale=settings.guidance_scale,
                generator=[image_generator(image_seed(run_seed, sku, v)) for sku, v, _ in batch],
                width=settings.width, height=settings.height, output_type="np", **extra,
            )


if __name__ == "__main__":
    main()
