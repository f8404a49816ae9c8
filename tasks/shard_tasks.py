"""The GPU task: one shard of images generated, scored, routed and published in one worker call."""

from botocore.exceptions import BotoCoreError, ClientError
from prefect import task

from prompts.requests import PlannedImage
from storage.settings import S3Settings
from storage.staging import shard_key
from worker.shard import RunSpec, ShardOutcome, process_shard


def _shard_cache_key(context, parameters) -> str:
    # The run id and the shard's exact asset ids: a rerun of the same run skips finished shards.
    spec: RunSpec = parameters["spec"]
    planned: list[PlannedImage] = parameters["planned"]
    return shard_key(spec.run_id, parameters["index"], [p.request.asset_id for p in planned])


def _retry_on_io(task, task_run, state) -> bool:
    # Only storage I/O is retried; a generation error would fail the same way again.
    try:
        state.result()
    except (BotoCoreError, ClientError, ConnectionError, TimeoutError):
        return True
    except Exception:
        return False
    return False


@task(
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_retry_on_io,
    cache_key_fn=_shard_cache_key,
    persist_result=True,
    # No timeout_seconds: a synchronous task on the thread pool cannot be interrupted (Prefect
    # docs; FIELD-NOTES), so a timeout would only warn. A stuck generation is bounded by the
    # deployment's job timeout and its process is what gets stopped.
    task_run_name="shard-{index}",
)
def render_shard_task(spec: RunSpec, index: int, planned: list[PlannedImage], s3: S3Settings) -> ShardOutcome:
    """Generate, score, route and publish one shard; returns its manifest rows."""
    return process_shard(spec, index, planned, s3)
