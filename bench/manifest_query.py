"""`provenance query` at a year of nightly manifests: latency and peak memory of three queries.

    nice -n 10 .venv/bin/python bench/manifest_query.py [--nights 365] [--rows 20000] [--dir DIR] [--s3]

Writes a synthetic year (one v2 manifest per night, `--rows` rows each, the pinned schema with
realistic strings: 32/64-hex ids, prompts, 14 scores, policy inputs JSON) into a local folder with
the bucket's layout (`DIR/manifests/run_date=YYYY-MM-DD/<run_id>.parquet`), unless DIR already
holds it. Then each query runs in a fresh process through `catalog_concepts.provenance.query.query_at` over
pyarrow's local filesystem, the same code path `provenance query` takes over S3; with `--s3` the
year is uploaded to an embedded SeaweedFS on loopback (data in DIR-seaweedfs) and queried there
through pyarrow's S3 filesystem, as `provenance query` does. Prints, per query:
files and rows scanned, the compressed bytes of the column chunks it reads, the first run's and the
median of three runs' latency, peak RSS above the process's baseline after imports, and the peak of
Arrow's memory pool (the scan's buffers: what streaming keeps bounded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIRST_NIGHT = dt.date(2025, 1, 1)
SCORERS = ("sharpness", "exposure", "saturation", "noise", "blockiness", "clip_alignment", "colour_match",
           "category_match", "aesthetic", "nsfw", "watermark", "text_overlay", "duplicate", "memorisation")
CATEGORIES = ("bag", "chair", "lamp", "mug", "shoe", "table", "watch", "jacket")
DECISIONS = ("publish_labeled_preview", "human_review", "reject")


def queries(nights: int) -> dict[str, str]:
    """The three questions: one night, a 30-day aggregate, the whole year."""
    last = FIRST_NIGHT + dt.timedelta(days=nights - 1)
    month = last - dt.timedelta(days=29)
    return {
        "no data (SELECT 1: the fixed cost)": "SELECT 1",
        "one night": (
            "SELECT category, decision, count(*) FILTER (WHERE kept IS NOT FALSE) AS kept, "
            "count(*) FILTER (WHERE kept = false) AS dropped, avg(scores['sharpness']) AS sharpness "
            f"FROM manifests WHERE run_date = DATE '{last}' GROUP BY ALL ORDER BY ALL"
        ),
        "30-day aggregate": (
            "SELECT run_date, any_value(device_name) AS device, count(*) AS images, "
            "round(sum(compute_seconds), 1) AS compute_seconds, sum(denoiser_evals) AS evals "
            f"FROM manifests WHERE run_date BETWEEN DATE '{month}' AND DATE '{last}' GROUP BY ALL ORDER BY ALL"
        ),
        "full-year aggregate": (
            "SELECT category, decision, count(*) FILTER (WHERE kept IS NOT FALSE) AS kept, "
            "count(*) FILTER (WHERE kept = false) AS dropped "
            "FROM manifests GROUP BY ALL ORDER BY ALL"
        ),
    }


def night_table(night: int, rows: int, base):
    """One night's manifest as the writer stores it (v2: no run_date column), ids unique per night."""
    import pyarrow as pa

    from catalog_concepts.storage.manifest import MANIFEST_FILE_SCHEMA

    def hexes(chars: int) -> pa.Array:
        raw = os.urandom(rows * chars // 2).hex()
        return pa.array([raw[i * chars:(i + 1) * chars] for i in range(rows)], pa.string())

    run_id = f"{FIRST_NIGHT + dt.timedelta(days=night)}-{night:08x}"
    created = dt.datetime.combine(FIRST_NIGHT + dt.timedelta(days=night), dt.time(2), dt.UTC)
    columns = dict(base)
    columns.update({
        "run_id": pa.array([run_id] * rows, pa.string()),
        "asset_id": hexes(32), "sha256": hexes(64), "request_sha256": hexes(64), "catalog_row_hash": hexes(64),
        "created_at": pa.array([created] * rows, pa.timestamp("us", tz="UTC")),
    })
    columns["s3_uri"] = pa.array([f"s3://concepts/images/run={run_id}/{a[:2]}/{a}/v0.png"
                                  for a in columns["asset_id"].to_pylist()], pa.string())
    return pa.Table.from_arrays([columns[f.name] for f in MANIFEST_FILE_SCHEMA], schema=MANIFEST_FILE_SCHEMA)


def base_columns(rows: int) -> dict:
    """Columns that vary within a night but need not be unique across nights."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    sku = [f"SKU-{i // 4:06d}" for i in range(rows)]
    category = [CATEGORIES[i % len(CATEGORIES)] for i in range(rows // 4 + 1)]
    cat = [category[i // 4] for i in range(rows)]
    decision = rng.choice(DECISIONS, size=rows, p=[0.4, 0.5, 0.1])
    kept = (np.arange(rows) % 4) < 2
    scores = [list(zip(SCORERS, rng.random(len(SCORERS)).round(6).tolist(), strict=True)) for _ in range(rows)]
    prompt = [f"a studio product photo of a {c}, colour {['red', 'blue', 'black', 'white'][i % 4]}, on white" for i, c in enumerate(cat)]
    policy_inputs = [json.dumps({"category": c, "sku": s, **{f"scores.{k}": v for k, v in sc}}) for c, s, sc in zip(cat, sku, scores, strict=True)]
    return {
        "flow_run_id": pa.array(["6f1c2b4e-0000-4000-8000-000000000000"] * rows),
        "sku": pa.array(sku), "catalog_uri": pa.array(["s3://concepts/catalog/catalog.parquet"] * rows),
        "variant": pa.array(np.arange(rows) % 4, pa.int16()), "prompt": pa.array(prompt),
        "negative_prompt": pa.array(["blurry, text, watermark"] * rows), "template_id": pa.array(["studio"] * rows),
        "template_version": pa.array(["3"] * rows), "model_id": pa.array(["concepts-dit-64"] * rows),
        "weights_sha256": pa.array(["ab" * 32] * rows), "pipeline_class": pa.array(["DiTPipeline"] * rows),
        "scheduler_class": pa.array(["DDIMScheduler"] * rows),
        "scheduler_config": pa.array(['{"beta_schedule": "linear", "clip_sample": false}'] * rows),
        "steps": pa.array([20] * rows, pa.int16()), "guidance_scale": pa.array([4.0] * rows, pa.float32()),
        "seed": pa.array(rng.integers(0, 2**62, rows), pa.int64()), "generator_device": pa.array(["cuda"] * rows),
        "dtype": pa.array(["bfloat16"] * rows), "width": pa.array([64] * rows, pa.int16()),
        "height": pa.array([64] * rows, pa.int16()), "torch_version": pa.array(["2.13.0"] * rows),
        "diffusers_version": pa.array(["0.42.1"] * rows), "transformers_version": pa.array(["5.24.0"] * rows),
        "device_name": pa.array(["NVIDIA H200"] * rows), "denoiser_evals": pa.array([40] * rows, pa.int32()),
        "compute_seconds": pa.array(rng.random(rows).astype("float32") / 10, pa.float32()),
        "scores": pa.array(scores, pa.map_(pa.string(), pa.float64())),
        "scorer_versions": pa.array([[(s, "1") for s in SCORERS]] * rows, pa.map_(pa.string(), pa.string())),
        "decision": pa.array(decision.tolist()),
        "rule_ids": pa.array([[] if d == DECISIONS[0] else ["R-ALIGN-01"] for d in decision], pa.list_(pa.string())),
        "decision_reasons": pa.array([[] if d == DECISIONS[0] else ["alignment below 0.25"] for d in decision],
                                     pa.list_(pa.string())),
        "policy_sha256": pa.array(["cd" * 32] * rows),
        "review_status": pa.array([{"publish_labeled_preview": "not_required", "human_review": "pending",
                                    "reject": "not_applicable"}[d] if k else "not_applicable"
                                   for d, k in zip(decision, kept, strict=True)]),
        "bytes": pa.array(rng.integers(2000, 9000, rows), pa.int64()), "phash": pa.array([f"{i:016x}" for i in range(rows)]),
        "digital_source_type": pa.array(["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"] * rows),
        "c2pa_manifest_label": pa.array([f"urn:c2pa:{i:032x}" for i in range(rows)]), "category": pa.array(cat),
        "kept": pa.array(kept), "selection_rank": pa.array(np.arange(rows) % 4 + 1, pa.int16()),
        "selection_composite": pa.array(rng.random(rows)),
        "drop_reason": pa.array([None if k else "below top-2 of SKU" for k in kept], pa.string()),
        "policy_inputs": pa.array(policy_inputs), "worker_host": pa.array(["gpu-node-1"] * rows),
        "worker_pid": pa.array([4242] * rows, pa.int64()),
        "guidance_interval": pa.array(["0,5"] * rows, pa.string()),
    }


def generate(root: Path, nights: int, rows: int) -> float:
    """Write the synthetic year unless already there; seconds spent writing."""
    import pyarrow.parquet as pq

    marker = root / f".complete-{nights}x{rows}"
    if marker.exists():
        return 0.0
    started = time.perf_counter()
    base = base_columns(rows)
    for night in range(nights):
        day = FIRST_NIGHT + dt.timedelta(days=night)
        folder = root / "manifests" / f"run_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = night_table(night, rows, base)
        pq.write_table(table, folder / f"{table['run_id'][0]}.parquet", compression="zstd")
    marker.touch()
    return time.perf_counter() - started


def run_one(root: Path | str, sql: str) -> dict:
    """In this (fresh) process: run sql 3 times; latency, peak RSS above baseline, what was scanned."""
    # Imported before the baseline, as the CLI has them loaded before it queries (pyarrow.dataset
    # alone pulls in pandas: ~0.7 s and ~50 MiB that belong to start-up, not to the query).
    import duckdb  # noqa: F401
    import pyarrow.dataset  # noqa: F401
    from pyarrow import fs

    from catalog_concepts.provenance.query import query_at
    from catalog_concepts.storage.manifest import manifest_dataset
    from catalog_concepts.storage.settings import S3Settings, arrow_filesystem

    if os.environ.get("BENCH_S3_ENDPOINT"):
        settings = S3Settings(endpoint_url=os.environ["BENCH_S3_ENDPOINT"], bucket=os.environ["BENCH_S3_BUCKET"],
                              access_key=os.environ["BENCH_S3_ACCESS_KEY"], secret_key=os.environ["BENCH_S3_SECRET_KEY"])
        filesystem, root = arrow_filesystem(settings), settings.bucket
    else:
        filesystem = fs.LocalFileSystem()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        result = query_at(filesystem, str(root), sql)
        seconds.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import pyarrow as pa

    arrow_peak = pa.default_memory_pool().max_memory()  # what the scan's Arrow buffers ever held at once
    # What the scan touched: the fragments left after the run_date filter, the columns the SQL names.
    dataset = manifest_dataset(filesystem, f"{root}/manifests")
    where = sql.split("FROM manifests WHERE ", 1)[1].split(" GROUP BY")[0] if "FROM manifests WHERE " in sql else None
    filter_ = _arrow_filter(where) if where else None
    fragments = list(dataset.get_fragments(filter=filter_)) if "FROM manifests" in sql else []
    columns = [c for c in dataset.schema.names if c != "run_date" and _names(sql, c)]
    column_bytes = 0
    for fragment in fragments:
        metadata = fragment.metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                if chunk.path_in_schema.split(".")[0] in columns:
                    column_bytes += chunk.total_compressed_size
    rows = sum(f.metadata.num_rows for f in fragments)
    return {"first_s": seconds[0], "median_s": statistics.median(seconds), "peak_rss_mb": (peak - baseline) / 1024,
            "arrow_peak_mb": arrow_peak / 2**20,
            "files": len(fragments), "rows": rows, "columns": columns, "column_mb": column_bytes / 2**20,
            "result_rows": result.num_rows}


def _names(sql: str, column: str) -> bool:
    import re

    return re.search(rf"\b{re.escape(column)}\b", sql) is not None


def _arrow_filter(where: str):
    """The run_date predicates of the benchmark's queries as a pyarrow expression (for counting files)."""
    import re

    import pyarrow as pa
    import pyarrow.dataset as ds

    dates = [dt.date.fromisoformat(d) for d in re.findall(r"DATE '(\d{4}-\d{2}-\d{2})'", where)]
    field = ds.field("run_date")
    if "BETWEEN" in where:
        return (field >= pa.scalar(dates[0], pa.date32())) & (field <= pa.scalar(dates[1], pa.date32()))
    return field == pa.scalar(dates[0], pa.date32())


def upload(root: Path, settings) -> float:
    """Copy the local year's manifests into the bucket unless they are all there; seconds spent."""
    from pyarrow import fs

    from catalog_concepts.storage.settings import arrow_filesystem

    s3 = arrow_filesystem(settings)
    local = sorted(p.relative_to(root).as_posix() for p in (root / "manifests").rglob("*.parquet"))
    stored = {i.path.removeprefix(f"{settings.bucket}/") for i in s3.get_file_info(
        fs.FileSelector(f"{settings.bucket}/manifests", recursive=True, allow_not_found=True)) if i.type == fs.FileType.File}
    started = time.perf_counter()
    for key in local:
        if key not in stored:
            fs.copy_files(str(root / key), f"{settings.bucket}/{key}", source_filesystem=fs.LocalFileSystem(),
                          destination_filesystem=s3)
    return time.perf_counter() - started


def report(args, env: dict[str, str]) -> None:
    """One child process per query; print the table."""
    load = os.getloadavg()[0]
    print(f"# load {load:.1f}, {os.cpu_count()} CPUs; {'embedded S3 (loopback)' if env else 'local folder'}\n")
    print("| query | files scanned | rows scanned | columns read | their compressed MiB | first run s | median of 3 s "
          "| peak RSS above baseline MiB | Arrow pool peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, sql in queries(args.nights).items():
        child = subprocess.run([sys.executable, __file__, "--dir", str(args.dir), "--run-one", sql],
                               check=True, capture_output=True, text=True, env={**os.environ, **env})
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['files']} | {r['rows']:,} | {', '.join(r['columns'])} | {r['column_mb']:.1f} | "
              f"{r['first_s']:.2f} | {r['median_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['arrow_peak_mb']:.0f} |")
    for name, sql in queries(args.nights).items():
        print(f"\n{name}: {sql}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/concepts-bench-manifests"),
                        help="folder for the synthetic year (kept: a second run reuses it)")
    parser.add_argument("--s3", action="store_true", help="query the year uploaded to an embedded SeaweedFS")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        print(json.dumps(run_one(args.dir, args.run_one)))
        return

    written = generate(args.dir, args.nights, args.rows)
    size = sum(p.stat().st_size for p in (args.dir / "manifests").rglob("*.parquet"))
    print(f"# {args.nights} nights x {args.rows} rows in {args.dir} ({size / 2**20:.0f} MiB; "
          f"written in {written:.0f} s{' (reused)' if not written else ''})")
    if not args.s3:
        report(args, env={})
        return
    from catalog_concepts.local_services.s3_server import local_s3, local_s3_settings
    from catalog_concepts.storage.bucket import ensure_bucket

    with local_s3(args.dir.parent / f"{args.dir.name}-seaweedfs") as server:
        settings = local_s3_settings(server, "bench")
        ensure_bucket(settings)
        print(f"# embedded S3 at {settings.endpoint_url}, bucket {settings.bucket}; uploaded in {upload(args.dir, settings):.0f} s")
        report(args, env={"BENCH_S3_ENDPOINT": settings.endpoint_url, "BENCH_S3_BUCKET": settings.bucket,
                          "BENCH_S3_ACCESS_KEY": settings.access_key, "BENCH_S3_SECRET_KEY": settings.secret_key})


if __name__ == "__main__":
    main()
