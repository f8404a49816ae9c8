"""Chaos: the nightly flow through an S3 fault proxy at several fault rates, audited without the proxy, in one run.

    .venv/bin/python bench/chaos.py [--skus 200] [--rates 0,0.2,0.5] [--model DIR] [--max-reruns 8]

For every rate, in a fresh bucket of one embedded SeaweedFS, the nightly flow runs with its S3
endpoint pointed at catalog_concepts.storage.fault_proxy, which fails that share of S3 requests in equal thirds:
connection reset, 503 SlowDown, response lost after the server applied the request. A run that
fails is rerun, as an operator would, until it commits (at most --max-reruns times). The bucket is
then audited straight against SeaweedFS (catalog_concepts.storage.bucket_audit) and one row per rate is printed:
manifest rows, image objects per prefix, lost, duplicated, orphaned and digest-mismatched images,
reruns, requests faulted, this process's CPU time and the wall time (all attempts), and the wall
time's ratio to the first rate's. CPU time beside wall time tells waiting (backoff, retry delays)
from work; on a machine shared with other jobs the wall time also carries their load.
Targets: 0 lost / duplicated / orphaned / mismatched at every rate; wall time at 20% <= 1.5x that at 0%.
A rate that never commits shows all its stored images as orphaned (no manifest names them); the
operator's next rerun once S3 is healthy again (a proxy at 0%) is then printed as its own row, which
must commit them all with nothing lost or duplicated. Why 50% may never commit: botocore's standard
retry mode spends a retry quota (5 tokens per retry, 10 per timeout, of 500) that a failing
endpoint drains, after which every fault is final; a shard needs all of its ~500 requests to
succeed in one attempt, so at 50% no attempt can.

A warm-up run (no proxy, its own bucket) loads the model and Prefect before any timed run. Each
rate has its own run id, so no rate can reuse another's work. CONCEPTS_TORCH_THREADS sets torch's
threads as it does for the flow.
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Failed attempts are expected here; their tracebacks would bury the table (one line each is printed).
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")

RUN_DATE = dt.date(2026, 1, 1)
PROXY_SEED = 0


def main() -> None:
    """Run every rate, audit every bucket, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--rates", default="0,0.2,0.5", help="comma-separated fault rates; the first is the baseline")
    parser.add_argument("--model", default=None, help="pipeline folder (default: the flow's default, the shipped model)")
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--max-reruns", type=int, default=5, help="give a rate up after this many reruns")
    parser.add_argument("--work", default=None, help="folder for S3 data, Prefect and state (default: a new temp folder)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-chaos-"))
    work.mkdir(parents=True, exist_ok=True)  # Prefect creates its home folder without parents
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ["CONCEPTS_HOME"] = str(work / "home")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("CONCEPTS_S3_BLOCK", None)

    from prefect.testing.utilities import prefect_test_harness

    from catalog.sample import write_sample_catalog
    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.local_services.s3_server import local_s3, local_s3_settings
    from catalog_concepts.storage.bucket import ensure_bucket
    from catalog_concepts.storage.bucket_audit import audit_bucket
    from catalog_concepts.storage.fault_proxy import FaultProxy, FaultRates
    from flows.nightly import nightly_campaign

    catalog = write_sample_catalog(work / "catalog.parquet", n=args.skus, seed=1)
    common = dict(catalog_uri=str(catalog), variants_per_sku=args.variants, run_date=RUN_DATE, max_bad_fraction=0.0)
    if args.model:
        common["model"] = args.model
    print(f"work folder: {work}  (skus {args.skus} x {args.variants} variants, torch threads {choose_placement().threads})", flush=True)

    results = []
    with local_s3(work / "s3") as server, prefect_test_harness(server_startup_timeout=300):
        _point_flow_at(local_s3_settings(server, "chaos-warmup"), server.endpoint_url)
        ensure_bucket(local_s3_settings(server, "chaos-warmup"))
        started = time.perf_counter()
        nightly_campaign(**common, limit=2, run_id="chaos-warmup")
        print(f"warm-up (model, Prefect, imports): {time.perf_counter() - started:.1f} s", flush=True)

        for rate in rates:
            label = f"{round(rate * 100):02d}"
            s3 = local_s3_settings(server, f"chaos-{label}")
            ensure_bucket(s3)
            params = {**common, "run_id": f"chaos-{label}-{work.name[-8:].lower()}"}
            with FaultProxy(server.endpoint_url, FaultRates.mixed(rate), seed=PROXY_SEED) as proxy:
                _point_flow_at(s3, proxy.endpoint_url)
                outcome = run_until_committed(nightly_campaign, params, args.max_reruns, label)
                counts = proxy.counts()
            audit = audit_bucket(s3)  # straight to SeaweedFS, no proxy
            results.append((f"{rate:.0%}", outcome, counts, audit))
            print(f"rate {rate:.0%}: {outcome['status']} after {outcome['reruns']} reruns, {outcome['seconds']:.1f} s; "
                  f"proxy: {counts.requests} requests, {counts.reset} reset, {counts.slowdown} 503, {counts.drop} lost responses",
                  flush=True)
            for line in audit.examples:
                print(f"  audit: {line}")
            if outcome["status"] != "committed":
                # S3 comes back: the operator's next rerun must commit what the outage left, with
                # nothing lost or made twice (its stored images are adopted, not orphaned).
                with FaultProxy(server.endpoint_url, FaultRates.mixed(0.0), seed=PROXY_SEED) as proxy:
                    _point_flow_at(s3, proxy.endpoint_url)
                    recovered = run_until_committed(nightly_campaign, params, 1, f"{label} recovered")
                    counts = proxy.counts()
                audit = audit_bucket(s3)
                results.append((f"{rate:.0%} → 0%", recovered, counts, audit))
                print(f"rate {rate:.0%}, then S3 recovered: {recovered['status']} after {recovered['reruns']} reruns, "
                      f"{recovered['seconds']:.1f} s", flush=True)

    print_table(results)


def run_until_committed(flow, params, max_reruns: int, label: str) -> dict:
    """Run the flow; rerun it after any failure (an operator's rerun) until it returns, at most max_reruns times."""
    from catalog_concepts.storage.lease import DEFAULT_TTL, RunInProgressError

    started, cpu_started = time.perf_counter(), time.process_time()
    errors = []

    def outcome(status: str, reruns: int) -> dict:
        return {"status": status, "reruns": reruns, "errors": errors, "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu_started}

    for attempt in range(max_reruns + 1):
        try:
            return outcome(flow(**params)["status"], attempt)
        except RunInProgressError as error:
            # Our own failed attempt left its lease (its release failed too); this process is alive,
            # so the lease only lapses with its time to live. An operator would wait; so do we.
            errors.append(f"{type(error).__name__}: {error}")
            print(f"  [{label}] attempt {attempt + 1}: lease still held by this process; waiting for it to lapse", flush=True)
            time.sleep(DEFAULT_TTL.total_seconds() + 1)
        except Exception as error:  # noqa: BLE001 - any failure is what an operator reruns after
            errors.append(f"{type(error).__name__}: {error}")
            print(f"  [{label}] attempt {attempt + 1} failed: {type(error).__name__}: {str(error)[:300]}", flush=True)
    return outcome("gave up", max_reruns)


def _point_flow_at(s3, endpoint_url: str) -> None:
    """Export the S3 settings the flow resolves, with endpoint_url (the proxy or SeaweedFS itself)."""
    os.environ.update({
        "CONCEPTS_S3_ENDPOINT": endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
        "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    })


def print_table(results) -> None:
    """One row per rate (and per recovery after a rate that never committed); wall times against the first row."""
    base_seconds = results[0][1]["seconds"]
    header = (f"{'fault rate':>10} {'rows':>6} {'images/':>7} {'review/':>7} {'rejected/':>9} {'lost':>5} {'dup':>4} "
              f"{'orphan':>6} {'digest!=':>8} {'reruns':>6} {'faults':>6} {'cpu s':>7} {'wall s':>7} {'x 0%':>5}  status")
    print()
    print(header)
    for label, outcome, counts, audit in results:
        print(f"{label:>10} {audit.rows:>6} {audit.objects['images']:>7} {audit.objects['review']:>7} "
              f"{audit.objects['rejected']:>9} {audit.lost:>5} {audit.duplicated:>4} {audit.orphaned:>6} "
              f"{audit.mismatched:>8} {outcome['reruns']:>6} {counts.faults:>6} {outcome['cpu_seconds']:>7.1f} {outcome['seconds']:>7.1f} "
              f"{outcome['seconds'] / base_seconds:>5.2f}  {outcome['status']}")
    # Never lost, duplicated or changed, whatever the rate; orphans only while a run is uncommitted.
    intact = all(a.lost == a.duplicated == a.mismatched == 0 for _, _, _, a in results)
    settled = [a for label, _, _, a in results if "→" in label or not any(r[0].startswith(label + " →") for r in results)]
    committed_clean = all(a.ok and a.rows > 0 for a in settled)
    twenty = [outcome["seconds"] / base_seconds for label, outcome, _, _ in results if label == "20%"]
    print(f"integrity target (0 lost / duplicated / mismatched at every rate): {'met' if intact else 'MISSED'}")
    print(f"every run committed, at its rate or once S3 recovered, with 0 orphaned: {'met' if committed_clean else 'MISSED'}")
    if twenty:
        print(f"wall-time target at 20% (<= 1.50x the 0% run): {twenty[0]:.2f}x, {'met' if twenty[0] <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
