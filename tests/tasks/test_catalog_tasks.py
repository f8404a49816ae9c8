"""The catalog read task retries only I/O errors: a wrong catalog fails at once, a flaky network is retried."""

import botocore.exceptions
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect import flow, get_client
from prefect.states import Failed
from prefect.testing.utilities import prefect_test_harness

from catalog.reader import CatalogFormatError
from catalog.sample import make_sample_catalog
from catalog.schema import CatalogSchemaError
from catalog_concepts.storage.settings import S3Settings
from tasks.catalog_tasks import is_transient_io_error, read_catalog_task, retry_only_io_errors


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    "error, retried",
    [
        (CatalogSchemaError("has_logo: found string, expected bool"), False),
        (CatalogFormatError("catalog x is empty (0 bytes)"), False),
        (ValueError("limit must be None or an int >= 0"), False),
        (pa.ArrowInvalid("Parquet magic bytes not found in footer"), False),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), False),
        (FileNotFoundError("catalog x does not exist"), False),
        (IsADirectoryError("catalog x is a directory"), False),
        (PermissionError("access denied"), False),
        (KeyError("sku"), False),
        (TypeError("bad argument"), False),
        (botocore.exceptions.NoCredentialsError(), False),
        (_client_error("NoSuchKey", 404), False),
        (_client_error("AccessDenied", 403), False),
        (ConnectionResetError("connection reset by peer"), True),
        (ConnectionError("connection refused"), True),
        (TimeoutError("read timed out"), True),
        (OSError("AWS Error NETWORK_CONNECTION during GetObject operation"), True),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (_client_error("ServiceUnavailable", 503), True),
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalError", 500), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_only_io_errors_are_retried(error, retried):
    assert is_transient_io_error(error) is retried
    # Prefect calls the condition with Failed(data=<the raised exception>) (prefect 3.9 task_engine.can_retry).
    assert retry_only_io_errors(read_catalog_task, None, Failed(data=error)) is retried


def test_a_failed_state_without_an_exception_is_not_retried():
    assert retry_only_io_errors(read_catalog_task, None, Failed(message="no data")) is False


def test_the_read_task_uses_the_condition_and_keeps_its_retries():
    assert read_catalog_task.retry_condition_fn is retry_only_io_errors
    assert read_catalog_task.retries == 2


@pytest.mark.server  # a real Prefect API
def test_a_wrong_column_type_runs_once_under_real_prefect(tmp_path):
    path = tmp_path / "typed.parquet"
    table = make_sample_catalog(5)
    pq.write_table(table.set_column(table.schema.get_field_index("has_logo"), "has_logo", pa.array(["yes"] * 5)), path)
    settings = S3Settings(endpoint_url=None, bucket="concepts", access_key=None, secret_key=None)

    @flow
    def read_once() -> tuple[object, bool, str]:
        # Zero delays: were the error retried, the run count below would say so without a wait.
        state = read_catalog_task.with_options(retry_delay_seconds=0)(
            str(path), settings, None, None, None, return_state=True
        )
        return state.state_details.task_run_id, state.is_failed(), state.message or ""

    with prefect_test_harness(server_startup_timeout=120):
        task_run_id, failed, message = read_once()
        with get_client(sync_client=True) as client:
            run = client.read_task_run(task_run_id)
    assert failed and "has_logo: found string, expected bool" in message
    assert run.run_count == 1  # before the retry condition: 3 runs over ~12 s
