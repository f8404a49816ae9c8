"""The GPU task: one shard of images generated, scored, routed and published in one worker call."""

from botocore.exceptions import BotoCoreError, ClientError
from prefect import task
from prefect.cache_policies import NO_CACHE

from prompts.requests import PlannedImage
from storage.settings import S3Settings
from worker.shard import RunSpec, ShardOutcome, process_shard


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
    # No result cache: S3 alone says whether a shard is done (its staged rows and every object
    # they name, checked by process_shard). A local cache once returned a shard whose objects a
    # cleanup had deleted, or that lived in another bucket, and the manifest named missing images.
    cache_policy=NO_CACHE,
    # No timeout_seconds: a synchronous task on Prefect's thread pool cannot be interrupted by its
    # timeout (Prefect's docs say so), so a timeout would only warn. A stuck generation is bounded
    # by the deployment's job timeout, and its process is what gets stopped.
    task_run_name="shard-{index}",
)
def render_shard_task(spec: RunSpec, index: int, planned: list[PlannedImage], s3: S3Settings) -> ShardOutcome:
    """Generate, score, route and publish one shard; returns its manifest rows."""
    return process_shard(spec, index, planned, s3)
