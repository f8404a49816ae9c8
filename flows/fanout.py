"""Fan a run's shards out over the GPU fleet: child runs of the shard-worker deployment, rows back from S3.

The parent plans once, stores the plan in S3, starts about one child per GPU slot and watches
S3 staging for progress. Children share the work through shard leases (worker/shard_claims.py),
so a child that crashes has its shards finished by the others; when children end with shards
still unstaged, a further round of children is started, and after the last round the run fails
naming the shards. Rows are collected from S3 staging, never from Prefect results, which live
on each worker's disk.
"""

import time
from collections.abc import Callable, Sequence

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from prompts.requests import PlannedImage
from storage import staging
from storage.settings import S3Settings, boto3_client
from worker.run_plan import write_plan
from worker.shard import RunSpec, ShardOutcome, image_identities

MAX_ROUNDS = 3  # a round ends when all its children have ended; three rounds survive two waves of crashes


def run_on_fleet(
    spec: RunSpec,
    shards: Sequence[Sequence[PlannedImage]],
    s3: S3Settings,
    *,
    workers: int,
    deployment: str,
    logger,
    on_progress: Callable[[int], None],
    poll_seconds: float = 5.0,
) -> list[ShardOutcome]:
    """Run every shard on `workers` child flow runs of `deployment`; return each shard's rows as S3 holds them."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    client = boto3_client(s3)
    keys = [staging.shard_key(spec.run_id, i, image_identities(spec, images)) for i, images in enumerate(shards)]

    # 1. Staged shards from an earlier attempt count only while S3 holds every object they name;
    #    the others are discarded here so that the children make them again.
    resumed = set()
    for index, key in enumerate(keys):
        rows = staging.read_rows(client, s3.bucket, key)
        if rows is None:
            continue
        stale = staging.missing_objects(client, s3.bucket, rows)
        if stale:
            logger.warning("shard %d: staged rows name %d missing or changed objects (first: %s); it is made again", index, len(stale), stale[0])
            staging.discard(client, s3.bucket, key)
        else:
            resumed.add(index)

    # 2. Store the plan once; start about one child per slot, each taking its own share first.
    plan_key = write_plan(client, s3.bucket, spec, shards)
    for round_number in range(1, MAX_ROUNDS + 1):
        pending = [i for i, key in enumerate(keys) if not _exists(client, s3.bucket, key)]
        if not pending:
            break
        children = [
            run_deployment(
                deployment, timeout=0, as_subflow=True,
                parameters={"plan_key": plan_key, "share": share, "shares": min(workers, len(pending)), "bucket": s3.bucket},
                flow_run_name=f"{spec.run_id}-r{round_number}-w{share}",
            )
            for share in range(min(workers, len(pending)))
        ]
        logger.info("round %d: %d shards pending, %d shard workers started (%s)", round_number, len(pending), len(children), deployment)
        # 3. Watch: progress from S3 staging, the children's states from the Prefect API.
        states = _wait_for_children(children, lambda: on_progress(_staged_images(client, s3.bucket, spec.run_id, shards)), poll_seconds)
        ended_badly = [f"{child.name}: {state.type.value}" for child, state in zip(children, states) if not state.is_completed()]
        if ended_badly:
            logger.warning("round %d: %d shard workers did not complete (%s); their unfinished shards go to the others or the next round",
                           round_number, len(ended_badly), ", ".join(ended_badly))

    # 4. Collect every shard's rows from S3; a shard that is still not there fails the run by name.
    outcomes, unfinished = [], []
    for index, key in enumerate(keys):
        rows = staging.read_rows(client, s3.bucket, key)
        stale = [] if rows is None else staging.missing_objects(client, s3.bucket, rows)
        if rows is None or stale:
            unfinished.append(f"shard {index} ({'not staged' if rows is None else stale[0]})")
        else:
            outcomes.append(ShardOutcome(index=index, rows=rows, resumed=index in resumed))
    if unfinished:
        raise RuntimeError(
            f"run {spec.run_id}: {len(unfinished)} of {len(keys)} shards unfinished after {MAX_ROUNDS} rounds of shard workers: "
            f"{'; '.join(unfinished[:5])}. See the shard_worker flow runs' logs; rerunning resumes from what S3 holds"
        )
    return outcomes


def _wait_for_children(children, report_progress: Callable[[], None], poll_seconds: float) -> list:
    """Poll until every child run is in a final state; returns their final states."""
    with get_client(sync_client=True) as api:
        while True:
            states = [api.read_flow_run(child.id).state for child in children]
            report_progress()
            if all(state is not None and state.is_final() for state in states):
                return states
            time.sleep(poll_seconds)


def _staged_images(client, bucket: str, run_id: str, shards: Sequence[Sequence[PlannedImage]]) -> int:
    """Images of the shards staged so far (one LIST of the run's staging prefix)."""
    indices = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"staging/run={run_id}/"):
        for obj in page.get("Contents", []):
            name = obj["Key"].rsplit("/", 1)[-1]  # shard-00003-<digest>.parquet
            if name.startswith("shard-"):
                indices.add(int(name[len("shard-"):].split("-", 1)[0]))
    return sum(len(shards[i]) for i in indices if i < len(shards))


def _exists(client, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return False
        raise
    return True
