"""Prefect tasks of the human-review queue: read a decisions file, list the queue, ingest a batch."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from review.decisions import decisions_format, parse_decisions
from review.ingest import IngestResult, ingest_decisions
from review.log import read_review_log
from review.queue import awaiting_review, decided_index, manifest_index
from storage.manifest import read_manifests
from storage.settings import S3Settings, boto3_client


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=300)
def read_decisions_task(s3: S3Settings, uri: str) -> list[dict]:
    """Rows of a decisions file (CSV or Parquet) from a local path or an s3:// URI in our bucket."""
    file_format = decisions_format(uri)
    prefix = f"s3://{s3.bucket}/"
    if uri.startswith("s3://"):
        if not uri.startswith(prefix):
            raise ValueError(f"decisions file {uri!r} is not in the configured bucket {s3.bucket!r}")
        data = boto3_client(s3).get_object(Bucket=s3.bucket, Key=uri.removeprefix(prefix))["Body"].read()
    else:
        with open(uri, "rb") as handle:
            data = handle.read()
    return parse_decisions(data, file_format)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=300)
def pending_reviews_task(s3: S3Settings) -> list[dict]:
    """Images the policy sent to a person that nobody has decided yet."""
    return awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))


# No retries: a half-done ingest is finished by ingesting the same rows again (see review.ingest).
@task(cache_policy=NO_CACHE, timeout_seconds=1800)
def ingest_decisions_task(s3: S3Settings, rows: list[dict], source: str) -> IngestResult:
    """Check, promote and log one batch of decisions."""
    return ingest_decisions(s3, rows, source)
