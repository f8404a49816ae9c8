"""Fan a run's shards out over the GPU fleet: child runs of the shard-worker deployment, rows back from S3.

The parent plans once, stores the plan in S3, starts about one child per GPU slot and watches
S3 staging for progress. Children share the work through shard leases (catalog_concepts/shards/shard_claims.py),
so a child that crashes has its shards finished by the others; when children end with shards
still unstaged, a further round of children is started, and after the last round the run fails
naming the shards. Rows are collected from S3 staging, never from Prefect results, which live
on each worker's disk.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.shards.run_plan import write_plan
from catalog_concepts.shards.shard import RunSpec, ShardOutcome, image_identities
from catalog_concepts.storage import staging
from catalog_concepts.storage.settings import S3Settings, boto3_client

# A crashed child's shards are finished by the other children of its round (work stealing); a
# second round retries what a round left (all its children crashed, or it stalled) once, elsewhere.
MAX_ROUNDS = 2
_COLLECT_THREADS = 8  # each also HEADs its shard's objects on staging's own pool


def run_on_fleet(
    spec: RunSpec,
    shards: Sequence[Sequence[PlannedImage]],
    s3: S3Settings,
    *,
    workers: int,
    deployment: str,
    logger,
    on_progress: Callable[[int], None],
    on_shard: Callable[[ShardOutcome], None] = lambda outcome: None,
    stall_seconds: float = 1800.0,
    poll_seconds: float = 1.0,
) -> list[ShardOutcome]:
    """Run every shard on `workers` child flow runs of `deployment`; return each shard's rows as S3 holds them.

    on_shard: called with each shard's outcome as soon as its rows are read (during the night), once per shard.
    stall_seconds: when no shard is staged for this long while children run, the round's children
    are cancelled (their workers stop their processes) and the next round retries the pending shards.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if stall_seconds <= 0:
        raise ValueError(f"stall_seconds must be > 0, got {stall_seconds}")
    client = boto3_client(s3)
    keys = [staging.shard_key(spec.run_id, i, image_identities(spec, images)) for i, images in enumerate(shards)]
    collected: dict[int, ShardOutcome] = {}  # shards whose rows were read and whose objects S3 holds

    def collect(staged: set[str]) -> dict[int, str]:
        """Read the rows of newly staged shards (and HEAD their objects), hand each good one to on_shard at
        once; returns what is wrong with the others (read again on the next call)."""
        new = {i: key for i, key in enumerate(keys) if key in staged and i not in collected}
        problems = {}
        for index, (rows, stale) in sorted(_read_shards(client, s3.bucket, new).items()):
            if rows is None or stale:
                problems[index] = "not staged" if rows is None else stale[0]
            else:
                collected[index] = ShardOutcome(index=index, rows=rows, resumed=False)
                on_shard(collected[index])
        return problems

    # 1. Staged shards from an earlier attempt count only while S3 holds every object they name;
    #    the others are discarded here so that the children make them again.
    staged = staging.staged_keys(client, s3.bucket, spec.run_id)
    for index, (rows, stale) in _read_shards(client, s3.bucket, {i: key for i, key in enumerate(keys) if key in staged}).items():
        if stale:
            logger.warning("shard %d: staged rows name %d missing or changed objects (first: %s); it is made again", index, len(stale), stale[0])
            staging.discard(client, s3.bucket, keys[index])
        elif rows is not None:
            collected[index] = ShardOutcome(index=index, rows=rows, resumed=True)
            on_shard(collected[index])

    # 2. Store the plan once; start about one child per slot, each taking its own share first.
    plan_key = write_plan(client, s3.bucket, spec, shards)
    finishing: list = []  # the last round's children, when it ended with every shard staged
    for round_number in range(1, MAX_ROUNDS + 1):
        staged = staging.staged_keys(client, s3.bucket, spec.run_id)
        pending = [i for i, key in enumerate(keys) if key not in staged]
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
        # 3. Watch: progress from S3 staging, the children's states from the Prefect API. A round ends
        #    when its children have ended, when every shard is staged (children still running are left
        #    to notice and end on their own while the rows are collected), or when no shard was staged
        #    for stall_seconds (all its children are cancelled).
        # The rows of each shard are read as it is staged, so that the parent, idle while the children
        # work, has little left to read after the last one (360 shards and 1,440 HEADs took 5.5 s there).
        def staged_images() -> int:
            staged = staging.staged_keys(client, s3.bucket, spec.run_id)
            collect(staged)
            images = sum(len(images) for i, images in enumerate(shards) if keys[i] in staged)
            on_progress(images)
            return images

        states, ending = _watch_round(children, staged_images, len([p for images in shards for p in images]), stall_seconds, poll_seconds)
        if ending == "every shard staged":
            finishing = children
            ended_badly = [f"{child.name}: {state.type.value}" for child, state in zip(children, states, strict=True)
                           if state is not None and state.is_final() and not state.is_completed()]
        else:
            ended_badly = [f"{child.name}: {state.type.value}" for child, state in zip(children, states, strict=True) if not state.is_completed()]
        if ending not in ("children ended", "every shard staged") or ended_badly:
            logger.warning("round %d ended (%s); shard workers that did not complete: %s; unfinished shards go to the next round",
                           round_number, ending, ", ".join(ended_badly) or "none")

    # 4. Collect every shard's rows from S3; a shard that is still not there fails the run by name.
    #    A child still running once they are read (frozen, or waiting on a peer it has not seen finish
    #    yet) is cancelled then: healthy ones have ended on their own and show Completed in the UI.
    try:
        problems = collect(staging.staged_keys(client, s3.bucket, spec.run_id))
        unfinished = [f"shard {index} ({problems.get(index, 'not staged')})" for index in range(len(keys)) if index not in collected]
    finally:
        if finishing:
            with get_client(sync_client=True) as api:
                states = [api.read_flow_run(child.id).state for child in finishing]
                running = [child.name for child, state in zip(finishing, states, strict=True) if state is None or not state.is_final()]
                _cancel(api, finishing, states, "every shard staged; a shard worker still running was cancelled")
            if running:
                logger.info("every shard staged; shard workers still running were cancelled: %s", ", ".join(running))
    if unfinished:
        raise RuntimeError(
            f"run {spec.run_id}: {len(unfinished)} of {len(keys)} shards unfinished after {MAX_ROUNDS} rounds of shard workers: "
            f"{'; '.join(unfinished[:5])}. See the shard_worker flow runs' logs; rerunning resumes from what S3 holds"
        )
    return [collected[index] for index in sorted(collected)]


def _watch_round(children, staged_images: Callable[[], int], total_images: int, stall_seconds: float, poll_seconds: float):
    """Poll the round's children and S3 until the round ends; returns (their states, why it ended)."""
    # The stall clock runs only while a child runs: a child waiting for a free slot (the pool busy
    # with another run) is not stalled, and a child that just started gets the whole period to load
    # its model and stage a shard. A shard staged or a child starting to run resets the clock.
    last_images, last_change, running = -1, time.monotonic(), set()
    with get_client(sync_client=True) as api:
        while True:
            polled = time.monotonic()
            states = [api.read_flow_run(child.id).state for child in children]
            if all(state is not None and state.is_final() for state in states):
                return states, "children ended"
            started = {child.id for child, state in zip(children, states, strict=True) if state is not None and state.is_running()}
            if not running and not started:
                last_change = time.monotonic()
            if started - running:
                last_change = time.monotonic()
            running |= started
            images = staged_images()
            if images != last_images:
                last_images, last_change = images, time.monotonic()
            if images >= total_images:
                return states, "every shard staged"
            if time.monotonic() - last_change > stall_seconds:
                return _cancel(api, children, states, f"no shard staged for {stall_seconds:.0f} s"), f"stalled for {stall_seconds:.0f} s"
            # Every poll_seconds, or twice as long as a poll took (a LIST of a huge night, a busy API),
            # so that watching never costs the API or S3 more than a third of one connection.
            time.sleep(max(poll_seconds, 2 * (time.monotonic() - polled)))


def _cancel(api, children, states, why: str) -> list:
    """Ask Prefect to cancel every child still running (its worker stops the process); returns the states seen."""
    for child, state in zip(children, states, strict=True):
        if state is None or not state.is_final():
            api.set_flow_run_state(child.id, Cancelling(message=why), force=True)
    return [api.read_flow_run(child.id).state for child in children]


def _read_shards(client, bucket: str, keys: Mapping[int, str]) -> dict[int, tuple[list[dict] | None, list[str]]]:
    """Per shard index: (its staged rows or None, what is wrong with the objects they name), read side by side.

    A night of thousands of shards is read through _COLLECT_THREADS connections at once: one at a time,
    each shard's GET and HEADs (≈ 15 ms on loopback) would add minutes to the parent's time.
    """
    def read(key: str) -> tuple[list[dict] | None, list[str]]:
        rows = staging.read_rows(client, bucket, key)
        return rows, ([] if rows is None else staging.missing_objects(client, bucket, rows))

    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=min(_COLLECT_THREADS, len(keys)), thread_name_prefix="collect") as pool:
        return dict(zip(keys, pool.map(read, keys.values()), strict=True))
