"""Prefect task for the run's single commit point: the manifest PUT."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.manifest import commit_manifest, rows_to_table
from storage.settings import S3Settings, boto3_client


@task(retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NO_CACHE, timeout_seconds=600)
def commit_manifest_task(s3: S3Settings, key: str, rows: list[dict]) -> bool:
    """PUT the run's manifest if absent; True when this call committed the run."""
    return commit_manifest(boto3_client(s3), s3.bucket, key, rows_to_table(rows))
