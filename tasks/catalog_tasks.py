"""Prefect tasks around the catalog: read, validate, quarantine."""

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from catalog.reader import read_catalog
from catalog.validate import ValidationResult, validate_catalog
from storage.manifest import write_quarantine
from storage.settings import S3Settings, arrow_filesystem, boto3_client


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=900)
def read_catalog_task(
    uri: str, s3: S3Settings, limit: int | None, skus: list[str] | None, categories: list[str] | None
) -> pa.Table:
    """Stream the catalog's needed columns from a local path or s3:// URI, keeping the asked-for rows."""
    filesystem = arrow_filesystem(s3) if uri.startswith("s3://") else None
    return read_catalog(uri, filesystem=filesystem, limit=limit, skus=skus, categories=categories)


@task(cache_policy=NO_CACHE, timeout_seconds=900)
def validate_catalog_task(table: pa.Table, max_bad_fraction: float) -> ValidationResult:
    """Validate rows with great-expectations; bad rows come back quarantined with their reasons."""
    return validate_catalog(table, max_bad_fraction=max_bad_fraction)


@task(retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NO_CACHE, timeout_seconds=300)
def write_quarantine_task(s3: S3Settings, key: str, table: pa.Table) -> str:
    """Store quarantined rows (with reasons) as Parquet; returns their s3:// URI."""
    write_quarantine(boto3_client(s3), s3.bucket, key, table)
    return f"s3://{s3.bucket}/{key}"
