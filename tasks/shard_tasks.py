"""The GPU task: one shard of images generated, scored, routed and published in one worker call."""

from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from prefect import task
from prefect.cache_policies import NO_CACHE

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.load import load_model
from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.reports.progress import RunProgress, decoded_images
from catalog_concepts.shards.shard import RunSpec, ShardOutcome, process_shard
from catalog_concepts.shards.shard_claims import is_staged
from catalog_concepts.storage.settings import S3Settings, boto3_client


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
def render_shard_task(
    spec: RunSpec, index: int, planned: list[PlannedImage], s3: S3Settings, progress: RunProgress | None = None,
) -> ShardOutcome:
    """Generate, score, route and publish one shard; returns its manifest rows (each batch counted in `progress`)."""
    with _batches_counted(spec, index, planned, s3, progress):
        return process_shard(spec, index, planned, s3)


@contextmanager
def _batches_counted(spec: RunSpec, index: int, planned: list[PlannedImage], s3: S3Settings, progress: RunProgress | None):
    """Report each decoded batch of this shard to progress; a staged shard makes none (and needs no model)."""
    if progress is None or is_staged(boto3_client(s3), s3.bucket, spec, index, planned):
        yield
        return
    # The pipeline process_shard generates with: load_model caches it per process, so this is the same object.
    model = load_model(spec.model_dir, choose_placement(spec.device, spec.dtype))
    try:
        with decoded_images(model.pipe, lambda images: progress.batch_made(index, images)):
            yield
    finally:
        progress.shard_left(index)
