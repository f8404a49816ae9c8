"""Shared pytest fixtures for the whole test tree.

Fixtures:
- `isolated_environment` (session, autouse): PREFECT_HOME in a temporary folder,
  PREFECT_SERVER_ANALYTICS_ENABLED=false, HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1.
  The variables are set in `pytest_configure`, i.e. before any test module is
  collected and can import prefect (Prefect reads its settings at import); the
  fixture hands the values to tests that want them and checks they still hold.
- `local_s3_server` (session): ONE real SeaweedFS (`weed mini`) on free loopback
  ports for the whole session, in a tmp dir; stopped at the end.
- `s3_env` (function): the `s3` bucket exported as CONCEPTS_S3_* / AWS_* variables, the way
  `flows/resources.py` resolves S3 for flows and commands.
- `s3` (function): `S3Settings` for that server with a FRESH, created bucket unique
  to the test; the bucket is deleted afterwards (SeaweedFS gives each bucket its
  own volume and a data dir only has room for ~free_disk/1 GiB of them).
- `prefect_server` (module): a real `prefect server` of the test module's own on a free
  loopback port, the current Prefect settings pointing at it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_concepts.engine.tiny import build_tiny_pipeline
from catalog_concepts.local_services.s3_server import LocalS3, local_s3, local_s3_settings
from catalog_concepts.storage.bucket import ensure_bucket
from catalog_concepts.storage.settings import S3Settings, boto3_client

_OFFLINE_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
_saved_env: dict[str, str | None] = {}
_prefect_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Set the isolated environment before collection imports any test module."""
    global _prefect_home
    _prefect_home = Path(tempfile.mkdtemp(prefix="prefect-home-"))
    wanted = {**_OFFLINE_ENV, "PREFECT_HOME": str(_prefect_home)}
    for name, value in wanted.items():
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the caller's environment and drop the temporary PREFECT_HOME."""
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if _prefect_home is not None:
        shutil.rmtree(_prefect_home, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the session's SeaweedFS `server`, so `make test-fast` can leave them out."""
    for item in items:
        if "local_s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session", autouse=True)
def isolated_environment() -> dict[str, str]:
    """The offline/isolated variables every test runs under (PREFECT_HOME is a tmp dir)."""
    values = {**_OFFLINE_ENV, "PREFECT_HOME": str(_prefect_home)}
    for name, value in values.items():
        assert os.environ.get(name) == value, f"{name} was changed before the session started"
    return values


@pytest.fixture(scope="session")
def local_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """One real SeaweedFS for the whole test session."""
    with local_s3(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3(local_s3_server: LocalS3) -> Iterator[S3Settings]:
    """Settings for the session's SeaweedFS with a fresh bucket of this test's own."""
    settings = local_s3_settings(local_s3_server, f"test-{uuid.uuid4().hex[:24]}")
    ensure_bucket(settings)
    yield settings
    # SeaweedFS runs with -s3.allowDeleteBucketNotEmpty (default true): one call frees the volume.
    boto3_client(settings).delete_bucket(Bucket=settings.bucket)


@pytest.fixture
def s3_env(s3: S3Settings, monkeypatch: pytest.MonkeyPatch) -> S3Settings:
    """The test's bucket exported as the environment that flows and commands resolve S3 from."""
    monkeypatch.setenv("CONCEPTS_S3_ENDPOINT", s3.endpoint_url)
    monkeypatch.setenv("CONCEPTS_S3_BUCKET", s3.bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.delenv("CONCEPTS_S3_BLOCK", raising=False)
    return s3


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `prefect server` for one test module, with PREFECT_API_URL pointing at it while the module runs."""
    # Imported here, not at the top: this file is imported before pytest_configure sets PREFECT_HOME,
    # and Prefect reads its settings when it is first imported.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from catalog_concepts.local_services.prefect_server import free_port, start_server, stop_server
    from flows.prefect_client import drain_client_workers

    home = tmp_path_factory.mktemp("prefect-server")
    started = time.monotonic()
    server = start_server(free_port(), env={"PREFECT_HOME": str(home), "PREFECT_API_URL": ""}, log_path=home / "server.log")
    print(f"\nprefect server healthy after {time.monotonic() - started:.1f} s")
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server
            # Inside the settings (Prefect's log and event workers are keyed by API URL), before the
            # server stops: a worker left holding events for a stopped server makes the next module's
            # prefect_test_harness hang for good when it drains every worker at its exit (measured:
            # the deploy tests' block saves, then tests/faults/test_run_integrity.py's teardown).
            drain_client_workers()
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random-weights pipeline (catalog_concepts.engine.tiny), built once per session for every test.

    Shared: a test that changes weights or config works on its own copy.
    """
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model"))
