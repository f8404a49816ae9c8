"""Fleet fan-out: the nightly over 1, 2, 4 shard workers on a SIMULATED accelerator, and the real model 1x2 vs 2x1 threads.

    .venv/bin/python bench/fanout.py [--workers 1,2,4] [--shards 8] [--skus-per-shard 2] [--delay-ms 3000]
                                     [--repeats 2] [--real-repeats N] [--real/--no-real] 2>fanout.log

Everything is the production path on one machine: a real `prefect server`, a process work pool,
one `prefect worker start --limit 1` per slot, embedded SeaweedFS, `nightly_campaign` with
`shard_workers=N`, child runs of the shard_worker flow, signing, verification and the report.

SIMULATED: in the first part each worker's "accelerator" is catalog_concepts/engine/simulated_accelerator.py: its
denoiser sleeps `--delay-ms` per batch (one batch per shard) without using CPU, so N workers are N
devices even on 2 cores; text encoding, VAE, scoring, signing and PUTs are real CPU work. Its
records give device-busy time and model loads per worker process. The second part runs the
shipped model on the CPU: 1 worker x 2 torch threads against 2 workers x 1 thread.

The simulated device counts as an accelerator (catalog_concepts.engine.load.LoadedModel.on_accelerator): host work
of a batch runs beside the next batch's generation, as it does on a GPU. Whole-night columns include
the night's fixed costs (planning, child start, commit, verify, report); the steady columns cover the
window in which every worker's device has started and none has run out of work, which is where a real
night spends its hours.

Configurations are interleaved (the order reverses every repeat) and medians are reported, so a
change in background load hits every configuration.
"""

import argparse
import contextlib
import datetime as dt
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "catalog_concepts" / "embedded_model" / "weights" / "concepts-dit-64"
POOL = "bench-fanout-pool"
VARIANTS = 2
SIM_DEPLOYMENT = "sim"
SIM_STEPS = 4  # sampler steps of the simulated model; a batch holds the device --delay-ms in all


@dataclass(frozen=True)
class Config:
    """One measured configuration: the simulated or the real model, N workers, torch threads each."""

    kind: str  # "sim" or "real"
    workers: int
    threads: int

    @property
    def deployment(self) -> str:
        return SIM_DEPLOYMENT if self.kind == "sim" else f"real-{self.threads}t"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.workers}w x{self.threads}t"


@dataclass
class Run:
    """What one nightly of one configuration measured (seconds; epoch-based spans)."""

    config: Config
    images: int
    shards: int
    wall_s: float  # the nightly_campaign call
    span_s: float  # first child run created -> last shard task ended
    parent_before_s: float  # nightly start -> first child run created (read, validate, plan, store the plan)
    parent_after_s: float  # last shard task ended -> nightly returned (notice, collect, commit, verify, report)
    child_start_s: list[float]  # per child: run created -> its first shard task started
    child_pickup_s: list[float]  # per child: run created -> run RUNNING (worker poll + process start + flow load)
    work_s: list[float]  # per child: its first shard task started -> its last one ended
    uncovered_s: list[float]  # per child: time within work_s with no shard task running (claims, leases, HEADs)
    task_s: list[float]  # every shard task's duration (a child keeps up to two in flight)
    busy_s: float | None = None  # simulated device busy time within the nightly (sim only)
    loads_per_process: list[int] = field(default_factory=list)  # sim only
    load_avg: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    # Steady state (sim only): from the moment every worker's device has started to the moment the
    # first one runs out of work. A real night keeps its GPUs in this state for hours; the fixed
    # costs around it (planning, child start, commit) are paid once per night and reported apart.
    steady_s: float | None = None
    steady_busy_s: float | None = None
    stage_seconds: dict = field(default_factory=dict)  # the nightly's own per-step wall seconds (its summary)

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s

    @property
    def fanout_images_per_s(self) -> float:
        return self.images / self.span_s


def parse_workers(text: str) -> list[int]:
    """'1,2,4' -> [1, 2, 4] (sorted, unique, each >= 1)."""
    values = sorted({int(part) for part in text.split(",") if part.strip()})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"--workers takes positive integers like 1,2,4; got {text!r}")
    return values


def schedule(configs: list[Config], repeats: int, real_repeats: int | None = None) -> list[Config]:
    """Every configuration once per repeat (the real model only in the first real_repeats), the order reversed on odd repeats."""
    real_repeats = repeats if real_repeats is None else real_repeats
    order = []
    for repeat in range(repeats):
        these = [c for c in configs if c.kind == "sim" or repeat < real_repeats]
        order.extend(these if repeat % 2 == 0 else list(reversed(these)))
    return order


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[Run]) -> dict[Config, dict]:
    """Medians per configuration; efficiency against the 1-worker run of the same kind and thread count."""
    by_config: dict[Config, list[Run]] = {}
    for run in runs:
        by_config.setdefault(run.config, []).append(run)
    table = {}
    for config, group in by_config.items():
        n = config.workers
        busy = [r.busy_s / (n * r.wall_s) for r in group if r.busy_s is not None]
        busy_span = [r.busy_s / (n * r.span_s) for r in group if r.busy_s is not None]
        # Device idle while the children work (model load, host work not hidden behind the next
        # shard's generation), per shard: busy time always lies inside some child's work period.
        idle = [(sum(r.work_s) - r.busy_s) / r.shards for r in group if r.busy_s is not None]
        steady = [r.steady_busy_s / (n * r.steady_s) for r in group if r.steady_s]
        table[config] = {
            "repeats": len(group),
            "images": group[0].images,
            "shards": group[0].shards,
            "wall_s": _median(r.wall_s for r in group),
            "images_per_s": _median(r.images_per_s for r in group),
            "span_s": _median(r.span_s for r in group),
            "fanout_images_per_s": _median(r.fanout_images_per_s for r in group),
            "busy_fraction": _median(busy),
            "busy_fraction_fanout": _median(busy_span),
            "busy_fraction_steady": _median(steady),
            "steady_s": _median(r.steady_s for r in group),
            "loads_per_process": max((x for r in group for x in r.loads_per_process), default=None),
            "child_start_s": _median(x for r in group for x in r.child_start_s),
            "child_pickup_s": _median(x for r in group for x in r.child_pickup_s),
            "shard_gap_s": _median(sum(r.uncovered_s) / r.shards for r in group),
            "idle_s_per_shard": _median(idle),
            "parent_before_s": _median(r.parent_before_s for r in group),
            "parent_after_s": _median(r.parent_after_s for r in group),
            "load_avg": [x for r in group for x in r.load_avg],
        }
    for config, row in table.items():
        single = table.get(Config(config.kind, 1, config.threads))
        for key, rate in (("efficiency", "images_per_s"), ("efficiency_fanout", "fanout_images_per_s")):
            row[key] = row[rate] / (config.workers * single[rate]) if single else None
        # Every batch holds a simulated device for the same time, so in steady state a worker's
        # throughput is its device's busy fraction times a constant: efficiency is their ratio.
        steady_single = single and single.get("busy_fraction_steady")
        row["efficiency_steady"] = (
            row["busy_fraction_steady"] / steady_single if steady_single and row.get("busy_fraction_steady") is not None else None
        )
    return table


def _fmt(value, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def format_tables(table: dict[Config, dict]) -> str:
    """Markdown tables: the simulated accelerator, then the real model."""
    lines = []
    sim = sorted((c for c in table if c.kind == "sim"), key=lambda c: c.workers)
    if sim:
        lines += [
            "SIMULATED accelerator (sleeping denoiser, no CPU), medians; efficiency = img/s_N / (N x img/s_1); "
            "busy = device-busy / (N x time)",
            "",
            "| workers | images | wall s | img/s | efficiency | fan-out s | fan-out eff. | busy / wall | busy / fan-out "
            "| steady s | steady eff. | busy / steady | loads / process | child start s (pickup) | no-shard s / shard "
            "| device idle s / shard | parent before / after s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in sim:
            r = table[c]
            lines.append(
                f"| {c.workers} | {r['images']} | {_fmt(r['wall_s'], '.1f')} | {_fmt(r['images_per_s'])} | {_fmt(r['efficiency'])} "
                f"| {_fmt(r['span_s'], '.1f')} | {_fmt(r['efficiency_fanout'])} | {_fmt(r['busy_fraction'])} "
                f"| {_fmt(r['busy_fraction_fanout'])} | {_fmt(r['steady_s'], '.1f')} | {_fmt(r['efficiency_steady'])} "
                f"| {_fmt(r['busy_fraction_steady'])} | {_fmt(r['loads_per_process'], 'd')} "
                f"| {_fmt(r['child_start_s'], '.1f')} ({_fmt(r['child_pickup_s'], '.1f')}) | {_fmt(r['shard_gap_s'])} "
                f"| {_fmt(r['idle_s_per_shard'])} | {_fmt(r['parent_before_s'], '.1f')} / {_fmt(r['parent_after_s'], '.1f')} |"
            )
    real = sorted((c for c in table if c.kind == "real"), key=lambda c: c.workers)
    if real:
        lines += [
            "",
            "Real model (shipped concepts-dit-64 on the CPU), medians",
            "",
            "| workers x threads | images | wall s | img/s | fan-out s | fan-out img/s | child start s (pickup) | parent before / after s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in real:
            r = table[c]
            lines.append(
                f"| {c.workers} x {c.threads} | {r['images']} | {_fmt(r['wall_s'], '.1f')} | {_fmt(r['images_per_s'])} "
                f"| {_fmt(r['span_s'], '.1f')} | {_fmt(r['fanout_images_per_s'])} "
                f"| {_fmt(r['child_start_s'], '.1f')} ({_fmt(r['child_pickup_s'], '.1f')}) "
                f"| {_fmt(r['parent_before_s'], '.1f')} / {_fmt(r['parent_after_s'], '.1f')} |"
            )
    loads = [x for r in table.values() for x in r["load_avg"]]
    if loads:
        lines += ["", f"1-minute load average seen at run starts and ends: median {statistics.median(loads):.1f}, "
                      f"range {min(loads):.1f}-{max(loads):.1f} ({os.cpu_count()} CPUs)"]
    return "\n".join(lines)


# --- the stack -------------------------------------------------------------------------------


def _isolate(home: Path) -> None:
    """Offline, throw-away Prefect and state folders, set before prefect is imported."""
    os.environ.update({
        "PREFECT_HOME": str(home / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "CONCEPTS_HOME": str(home / "concepts-home"),
        "OMP_WAIT_POLICY": "PASSIVE",
    })
    os.environ.pop("CONCEPTS_S3_BLOCK", None)


def _deploy(configs: list[Config], sim_threads: int) -> None:
    """A process pool with one deployment per configuration kind (thread count via the job's environment)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.flows import Flow

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process", concurrency_limit=max(c.workers for c in configs)),
                                overwrite=True)
    for config in {c.deployment: c for c in configs}.values():
        entrypoint = "bench/simulated_shard_worker.py:shard_worker" if config.kind == "sim" else "flows/shard_worker.py:shard_worker"
        threads = sim_threads if config.kind == "sim" else config.threads
        with contextlib.redirect_stdout(io.StringIO()):  # deploy prints a table and advice; stdout is the results
            Flow.from_source(source=str(ROOT), entrypoint=entrypoint).deploy(
                name=config.deployment, work_pool_name=POOL, print_next_steps=False, build=False, push=False,
                job_variables={"env": {"CONCEPTS_TORCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}},
            )


def _s3_environment(s3) -> dict[str, str]:
    """The variables flows/resources.py resolves S3 from (each nightly names its own bucket)."""
    return {"CONCEPTS_S3_ENDPOINT": s3.endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}


def _start_workers(count: int, api_url: str, home: Path, poll_seconds: float) -> list[subprocess.Popen]:
    """`count` process workers, one slot each (--limit 1); S3 comes from this process's environment."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home / "worker-home"),
           "PREFECT_WORKER_QUERY_SECONDS": str(poll_seconds)}
    return [
        subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--limit", "1", "--name", f"slot-{i}"],
                         cwd=ROOT, env=env, stdout=open(home / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT,
                         start_new_session=True)
        for i in range(count)
    ]


def _children(run_id: str, timeout_s: float = 120.0) -> list:
    """The run's shard_worker child runs, once all of them have reached a final state (cancelled ones included)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=f"{run_id}-r")))
            if all(r.state is not None and r.state.is_final() for r in runs) or time.monotonic() > deadline:
                return runs
            time.sleep(1.0)


def _shard_tasks(children: list) -> dict:
    """Shard task runs per child run id, in start order."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    # Page through them: the API returns at most 200 per call, and a night has one task per shard.
    tasks, page = [], 200
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[c.id for c in children])),
                                          sort=TaskRunSort.ID_DESC, limit=page, offset=len(tasks))
            tasks.extend(found)
            if len(found) < page:
                break
    by_child: dict = {c.id: [] for c in children}
    for task in tasks:
        if task.name.startswith("shard-") and task.start_time is not None and task.end_time is not None:
            by_child[task.flow_run_id].append(task)
    return {child: sorted(runs, key=lambda t: t.start_time) for child, runs in by_child.items()}


def _uncovered(intervals: list[tuple[float, float]]) -> float:
    """Time between the first start and the last end that no interval covers."""
    intervals = sorted(intervals)
    gaps, reach = 0.0, intervals[0][1]
    for start, end in intervals[1:]:
        gaps += max(0.0, start - reach)
        reach = max(reach, end)
    return gaps


def measure(config: Config, catalog: Path, model_dir: Path, s3_server, record_dir: Path | None, args, seed: int) -> Run:
    """One nightly of config in a fresh bucket; its timings from the Prefect API and the device records."""
    from catalog_concepts.local_services.s3_server import local_s3_settings
    from catalog_concepts.storage.settings import boto3_client
    from flows.nightly import nightly_campaign

    skus_per_shard = args.skus_per_shard if config.kind == "sim" else args.real_skus_per_shard
    bucket = f"fanout-{uuid.uuid4().hex[:16]}"
    params = dict(
        catalog_uri=str(catalog), model=str(model_dir), variants_per_sku=VARIANTS, skus_per_shard=skus_per_shard,
        batch_size=skus_per_shard * VARIANTS if config.kind == "sim" else args.real_batch_size, seed=seed, bucket=bucket,
        shard_workers=config.workers, shard_worker_deployment=f"shard_worker/{config.deployment}", shard_timeout_minutes=10,
    )
    load_start = os.getloadavg()[0]
    started = time.time()
    summary = nightly_campaign(**params)
    ended = time.time()
    load_end = os.getloadavg()[0]
    if summary["status"] != "committed":
        raise RuntimeError(f"{config.label}: the nightly ended {summary['status']}")

    children = _children(summary["run_id"])
    tasks = _shard_tasks(children)
    all_tasks = [t for runs in tasks.values() for t in runs]
    first_created = min(c.created.timestamp() for c in children)
    last_task_end = max(t.end_time.timestamp() for t in all_tasks)
    child_start = [runs[0].start_time.timestamp() - c.created.timestamp() for c in children if (runs := tasks[c.id])]
    pickup = [c.start_time.timestamp() - c.created.timestamp() for c in children if c.start_time is not None]
    work = [max(t.end_time.timestamp() for t in runs) - runs[0].start_time.timestamp() for runs in tasks.values() if runs]
    uncovered = [_uncovered([(t.start_time.timestamp(), t.end_time.timestamp()) for t in runs]) for runs in tasks.values() if runs]
    run = Run(
        config=config, images=summary["images"], shards=summary["shards"], wall_s=ended - started,
        span_s=last_task_end - first_created, parent_before_s=first_created - started, parent_after_s=ended - last_task_end,
        child_start_s=child_start, child_pickup_s=pickup, work_s=work, uncovered_s=uncovered,
        task_s=[(t.end_time - t.start_time).total_seconds() for t in all_tasks], load_avg=(load_start, load_end),
        stage_seconds=dict(summary.get("stage_seconds", {})),
    )
    if record_dir is not None:
        from catalog_concepts.engine.simulated_accelerator import read_records

        records = read_records(record_dir)
        ours = {pid: r for pid, r in records.items() if r.busy_seconds(started, ended) > 0}
        run.busy_s = sum(r.busy_seconds(started, ended) for r in ours.values())
        run.loads_per_process = [r.loads for r in ours.values()]
        run.steady_s, run.steady_busy_s = steady_state(list(ours.values()), started, ended)
    boto3_client(local_s3_settings(s3_server, bucket)).delete_bucket(Bucket=bucket)  # SeaweedFS deletes a non-empty bucket
    return run


def steady_state(devices: list, start: float, end: float) -> tuple[float | None, float | None]:
    """(seconds, device-busy seconds) of the window in which every device has started and none has finished.

    devices: catalog_concepts.engine.simulated_accelerator.DeviceRecords of the run's processes; [start, end] the run.
    None when the devices never worked at the same time.
    """
    spans = [(min(s for s, _ in d.busy if s >= start), max(e for _, e in d.busy if e <= end))
             for d in devices if any(s >= start and e <= end for s, e in d.busy)]
    if not spans:
        return None, None
    window_start, window_end = max(s for s, _ in spans), min(e for _, e in spans)
    if window_end <= window_start:
        return None, None
    return window_end - window_start, sum(d.busy_seconds(window_start, window_end) for d in devices)


def _print_run(run: Run) -> None:
    busy = "" if run.busy_s is None else (
        f", busy {run.busy_s / (run.config.workers * run.wall_s):.2f}, loads/process {run.loads_per_process}"
        + (f", steady {run.steady_s:.1f} s busy {run.steady_busy_s / (run.config.workers * run.steady_s):.2f}" if run.steady_s else "")
    )
    print(f"  {run.config.label}: {run.images} images in {run.wall_s:.1f} s = {run.images_per_s:.2f} img/s "
          f"(fan-out {run.span_s:.1f} s, parent {run.parent_before_s:.1f} + {run.parent_after_s:.1f} s, child start "
          f"{_fmt(_median(run.child_start_s), '.1f')} s{busy}; load {run.load_avg[0]:.1f}->{run.load_avg[1]:.1f})", flush=True)
    if run.stage_seconds:
        print("    parent steps s: " + ", ".join(f"{name} {s:.1f}" for name, s in run.stage_seconds.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=parse_workers, default=[1, 2, 4], help="worker counts for the simulated accelerator")
    parser.add_argument("--shards", type=int, default=8, help="shards of the simulated run")
    parser.add_argument("--skus-per-shard", type=int, default=2, help=f"SKUs per shard ({VARIANTS} variants each, one batch per shard)")
    parser.add_argument("--delay-ms", type=float, default=3000.0, help="simulated device time per batch (= per shard)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=True, help="also run the shipped model 1x2 vs 2x1 threads")
    parser.add_argument("--real-repeats", type=int, default=None, help="repeats of the real-model runs (default: --repeats)")
    parser.add_argument("--real-skus", type=int, default=16)
    parser.add_argument("--real-skus-per-shard", type=int, default=8)
    parser.add_argument("--real-batch-size", type=int, default=16)
    parser.add_argument("--worker-poll-seconds", type=float, default=10.0, help="PREFECT_WORKER_QUERY_SECONDS (Prefect's default: 10)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    _isolate(home)
    sys.path.insert(0, str(ROOT))
    from catalog.sample import write_sample_catalog
    from catalog_concepts.engine.simulated_accelerator import build_simulated_pipeline
    from catalog_concepts.local_services import prefect_server
    from catalog_concepts.local_services.s3_server import local_s3, local_s3_settings
    from catalog_concepts.provenance.c2pa_sign import load_or_create_signer
    from flows.prefect_client import drain_client_workers
    from flows.resources import signing_paths

    configs = [Config("sim", n, 1) for n in args.workers]
    if args.real:
        configs += [Config("real", 1, 2), Config("real", 2, 1)]
    record_dir = home / "device-records"
    sim_model = build_simulated_pipeline(home / "sim-model", call_ms=args.delay_ms / SIM_STEPS, record_dir=record_dir, steps=SIM_STEPS)
    sim_catalog = write_sample_catalog(home / "sim-catalog.parquet", n=args.shards * args.skus_per_shard, seed=11)
    real_catalog = write_sample_catalog(home / "real-catalog.parquet", n=args.real_skus, seed=12)
    load_or_create_signer(signing_paths()["signing_dir"])  # one local C2PA chain, made before the workers race for it

    print(f"bench/fanout.py {dt.datetime.now().isoformat(timespec='seconds')}: {' '.join(sys.argv[1:]) or '(defaults)'}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; SIMULATED device: {args.delay_ms:.0f} ms per batch "
          f"({SIM_STEPS} calls of {args.delay_ms / SIM_STEPS:.0f} ms), {args.shards} shards x {args.skus_per_shard} SKUs x {VARIANTS} variants",
          flush=True)
    runs: list[Run] = []
    with local_s3(home / "seaweedfs") as s3_server:
        server = prefect_server.start_server(prefect_server.free_port(), env={"PREFECT_HOME": os.environ["PREFECT_HOME"]},
                                             log_path=home / "server.log")
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ.update(_s3_environment(local_s3_settings(s3_server, "fanout-default")))
        workers = []
        try:
            _deploy(configs, sim_threads=1)
            workers = _start_workers(max(c.workers for c in configs), server.api_url, home, args.worker_poll_seconds)
            for index, config in enumerate(schedule(configs, args.repeats, args.real_repeats)):
                sim = config.kind == "sim"
                run = measure(config, sim_catalog if sim else real_catalog, sim_model if sim else SHIPPED_MODEL, s3_server,
                              record_dir if sim else None, args, seed=index)
                runs.append(run)
                _print_run(run)
        finally:
            for worker in workers:
                prefect_server.stop_process_group(worker)
            try:
                drain_client_workers()
            finally:
                prefect_server.stop_server(server)
    print()
    print(format_tables(summarize(runs)))
    print(f"\n(state, server and worker logs: {home})")


if __name__ == "__main__":
    main()
