"""The fleet's child flow: one per GPU slot, taking shards of one run's plan until none is left.

Deployed on the GPU work pool (infra/prefect.yaml, deployment `shard-worker`); the nightly
starts about one child per slot with `run_deployment`. Each child loads the model once
(catalog_concepts.engine.load caches it per process) and works through its own share of the shards, then
steals any shard no other live worker holds, until every shard is staged in S3.
"""

import socket
import time

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote  # a shard's requests are data, not futures: not walked by Prefect

from catalog_concepts.shards.run_plan import read_plan
from catalog_concepts.shards.shard_claims import claim_next, shard_keys, share_order
from catalog_concepts.storage import staging
from catalog_concepts.storage.settings import boto3_client
from flows.resources import s3_settings, scorer_models, signing_paths
from tasks.shard_tasks import render_shard_task

DEPLOYMENT_NAME = "shard_worker/shard-worker"
IN_FLIGHT = 2  # shards per worker at once: one generating, one being finished on the CPU


@flow(name="shard_worker", task_runner=ThreadPoolTaskRunner(max_workers=IN_FLIGHT), log_prints=False)
def shard_worker(plan_key: str, share: int = 0, shares: int = 1, bucket: str | None = None, poll_seconds: float = 1.0) -> dict:
    """Make shards of the stored plan (own share first, then any unclaimed one) until all are staged in S3."""
    logger = get_run_logger()

    # 1. Read the plan; this machine's signing keys and scorer models fill the machine-local fields.
    s3 = s3_settings(bucket)
    client = boto3_client(s3)
    plan = read_plan(client, s3.bucket, plan_key, flow_run_id=flow_run.get_id(), scorer_models=scorer_models(), **signing_paths())
    run_id = plan.spec.run_id
    order = share_order(len(plan.shards), share, shares)
    keys = shard_keys(plan.spec, plan.shards)
    logger.info("run %s: worker %d of %d on %s, %d shards in the plan", run_id, share, shares, socket.gethostname(), len(plan.shards))

    # 2. Take the first unstaged shard whose lease is free; when every unstaged shard is held by a
    #    live peer, wait for it to finish or for its lease to lapse (a crashed or frozen peer). Two
    #    shards are in flight at once: generation is serialised on the accelerator (one pipeline per
    #    process), so one shard's scoring, labelling, signing and PUTs overlap the next one's generation.
    made, waits, in_flight = [], 0, {}
    while True:
        for index in [i for i, (future, _) in in_flight.items() if future.state.is_final()]:
            future, lease = in_flight.pop(index)
            try:
                outcome = future.result()  # a shard that failed for good fails this worker (its lease is freed)
            finally:
                lease.__exit__(None, None, None)
            made.append(index)
            logger.info("shard %d %s: %d images (%s)", index, "resumed" if outcome.resumed else "done", len(outcome.rows),
                        "own share" if index % shares == share else "taken over")
        claimed = None
        if len(in_flight) < IN_FLIGHT:
            staged = staging.staged_keys(client, s3.bucket, run_id)  # one LIST for the whole plan
            pending = [i for i in order if i not in in_flight and keys[i] not in staged]
            if not pending and not in_flight:
                break
            claimed = claim_next(client, s3.bucket, run_id, pending)
        if claimed is not None:
            index, lease = claimed
            in_flight[index] = (render_shard_task.submit(plan.spec, index, quote(plan.shards[index]), s3), lease)
            continue
        if not in_flight:
            waits += 1  # every pending shard is held by a live peer
        time.sleep(poll_seconds if not in_flight else min(poll_seconds, 0.5))

    # 3. Every shard of the plan is staged: the parent collects the rows from S3 and commits.
    return {"run_id": run_id, "share": share, "shards": made, "host": socket.gethostname(), "waits": waits}
