"""Prefect tasks around the catalog: read, validate, quarantine."""

import botocore.exceptions
import pyarrow as pa
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from catalog.reader import read_catalog
from catalog.validate import ValidationResult, validate_catalog
from catalog_concepts.storage.manifest import write_quarantine
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem, boto3_client

# OSErrors that say something about the path, not the network: another try reads the same answer.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
# S3 error codes that a later try can get past (the 5xx family answers with these too).
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
                                 "ServiceUnavailable"})


def is_transient_io_error(error: BaseException) -> bool:
    """True for an I/O error another try may get past; never for a catalog that is wrong (ValueError and kin)."""
    if isinstance(error, ValueError):  # CatalogSchemaError, CatalogFormatError, ArrowInvalid: the file is wrong
        return False
    if isinstance(error, botocore.exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or error.response.get("Error", {}).get("Code") in _TRANSIENT_S3_CODES
    if isinstance(error, botocore.exceptions.BotoCoreError):
        # Connection failures and read/connect timeouts only; missing credentials or bad parameters stay wrong.
        return isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError))
    if isinstance(error, _PERMANENT_OS_ERRORS):
        return False
    return isinstance(error, OSError)  # ConnectionError and TimeoutError are OSErrors too


def retry_only_io_errors(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect retry_condition_fn: retry a failed read only when its exception is a transient I/O error."""
    # Prefect hands over Failed(data=<the exception>) for a task that raised.
    error = state.data
    return isinstance(error, BaseException) and is_transient_io_error(error)


@task(
    retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_only_io_errors,
    cache_policy=NO_CACHE, timeout_seconds=900,
)
def read_catalog_task(
    uri: str, s3: S3Settings, limit: int | None, skus: list[str] | None, categories: list[str] | None
) -> pa.Table:
    """Stream the catalog's needed columns from a local path or s3:// URI, keeping the asked-for rows."""
    filesystem = arrow_filesystem(s3) if uri.startswith("s3://") else None
    return read_catalog(uri, filesystem=filesystem, limit=limit, skus=skus, categories=categories)


@task(cache_policy=NO_CACHE, timeout_seconds=900)
def validate_catalog_task(table: pa.Table, max_bad_fraction: float) -> ValidationResult:
    """Validate rows: undecodable text, refused characters, the GE suite and the slot vocabulary."""
    return validate_catalog(table, max_bad_fraction=max_bad_fraction)


@task(retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NO_CACHE, timeout_seconds=300)
def write_quarantine_task(s3: S3Settings, key: str, table: pa.Table) -> str:
    """Store quarantined rows (with reasons) as Parquet; returns their s3:// URI."""
    write_quarantine(boto3_client(s3), s3.bucket, key, table)
    return f"s3://{s3.bucket}/{key}"
