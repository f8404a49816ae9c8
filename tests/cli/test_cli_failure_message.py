"""The one-line failure report, from real exceptions: own messages verbatim, disk full named, --debug adds tracebacks."""

import errno
import sqlite3
import tomllib
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from catalog.reader import CatalogFormatError, read_catalog
from catalog.schema import CatalogSchemaError
from catalog_concepts.cli.failure_message import OWN_PACKAGES, RESUME_ADVICE, describe_failure, headline
from catalog_concepts.cli.main import app

REPO_ROOT = Path(__file__).resolve().parents[2]


def _sqlite_full_error() -> sqlite3.OperationalError:
    """A real SQLITE_FULL: a database capped at two pages, then filled."""
    connection = sqlite3.connect(":memory:")
    connection.execute("PRAGMA max_page_count = 2")
    connection.execute("CREATE TABLE t (x)")
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full") as raised:
        for _ in range(100):
            connection.execute("INSERT INTO t VALUES (?)", ("x" * 10_000,))
    return raised.value


def _enospc_from_dev_full() -> OSError:
    """A real ENOSPC: /dev/full refuses every write."""
    with pytest.raises(OSError) as raised, open("/dev/full", "wb", buffering=0) as full:
        full.write(b"x")
    assert raised.value.errno == errno.ENOSPC
    return raised.value


def _csv_error(tmp_path: Path) -> CatalogFormatError:
    csv = tmp_path / "catalog.csv"
    csv.write_text("sku,title\nA1,a chair\n")
    with pytest.raises(CatalogFormatError) as raised:
        read_catalog(str(csv))
    return raised.value


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    """outer raised with `raise outer from inner`, tracebacks and all."""
    try:
        try:
            raise inner
        except BaseException as caught:
            raise outer from caught
    except BaseException as raised:
        return raised


def test_sqlite_disk_full_names_prefects_folder_and_says_the_rerun_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    wrapped = _raised_from(RuntimeError("Flow run encountered an exception"), _sqlite_full_error())
    line = describe_failure(wrapped, tmp_path / "run.log")
    assert line.startswith(f"disk full: {tmp_path / 'prefect'} has ") and " MB free; " in line
    assert RESUME_ADVICE in line and str(tmp_path / "run.log") in line
    assert "\n" not in line


def test_enospc_anywhere_in_the_chain_is_disk_full(tmp_path, monkeypatch):
    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path / "home"))
    assert describe_failure(_enospc_from_dev_full(), None).startswith("disk full: ")
    # An OSError that names its file points at that file's folder.
    named = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.png"))
    implicit = _raised_from(ValueError("could not store shard 3"), named)
    assert describe_failure(implicit, None).startswith(f"disk full: {tmp_path} has ")


def test_our_own_message_is_printed_verbatim_from_deep_in_the_chain(tmp_path):
    csv_error = _csv_error(tmp_path)
    expected = str(csv_error).splitlines()[0]
    # As Prefect hands it back: the flow's failure wrapping the task's exception.
    wrapped = _raised_from(RuntimeError("Flow run encountered an exception"), csv_error)
    assert headline(wrapped) == expected
    assert describe_failure(wrapped, tmp_path / "x.log") == (
        f"error: {expected} (full log: {tmp_path / 'x.log'}; --debug prints the traceback)"
    )
    group = ExceptionGroup("task group failed", [KeyError("unrelated"), csv_error])
    assert headline(group) == expected


def test_the_innermost_explicit_cause_of_ours_wins_but_not_an_implicit_context(tmp_path):
    schema = CatalogSchemaError("catalog column(s) have the wrong Arrow type: has_logo\nsecond line")
    csv_error = _csv_error(tmp_path)
    # `raise A from B`: B is the reason.
    assert headline(_raised_from(csv_error, schema)) == "catalog column(s) have the wrong Arrow type: has_logo"
    # `except B: raise A` (no `from`): A translated B, so A is the message.
    translation = CatalogFormatError("catalog x.parquet is truncated; write it again")
    try:
        try:
            raise CatalogSchemaError("column sku is missing")
        except CatalogSchemaError:
            raise translation  # noqa: B904 -- the implicit __context__ is what this test is about
    except CatalogFormatError as translated:
        assert isinstance(translated.__context__, CatalogSchemaError)
        assert headline(translated) == "catalog x.parquet is truncated; write it again"


def test_a_foreign_error_is_named_by_type_and_first_line():
    error = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "The bucket does not exist"}}, "PutObject")
    assert headline(error) == f"ClientError: {str(error).splitlines()[0]}"


def test_a_flow_parameter_refused_by_prefect_is_named_with_its_reason():
    from prefect.exceptions import ParameterTypeError

    from flows.nightly import nightly_campaign

    with pytest.raises(ParameterTypeError) as raised:
        nightly_campaign.validate_parameters({"model": "sdxl", "run_date": "2026-13-01"})
    line = headline(raised.value)
    assert line.startswith("ParameterTypeError: Flow run received invalid parameters: ") and "\n" not in line
    assert "unknown model 'sdxl'; allowed: shipped" in line and "run_date:" in line, line


def test_an_s3_internal_error_is_not_called_disk_full_when_the_embedded_s3_has_room(tmp_path, monkeypatch):
    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path))
    monkeypatch.setenv("CONCEPTS_S3_ENDPOINT", "http://127.0.0.1:9")
    error = ClientError({"Error": {"Code": "InternalError", "Message": "please try again"}}, "PutObject")
    assert describe_failure(error, None).startswith("error: ClientError: ")


def test_own_packages_are_the_packages_pyproject_ships():
    include = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert set(OWN_PACKAGES) == {name.removesuffix("*") for name in include}


def test_a_failing_command_prints_one_line_and_debug_prints_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path / "home"))
    for name in ("CONCEPTS_S3_BUCKET", "CONCEPTS_S3_BLOCK", "CONCEPTS_S3_ENDPOINT", "CONCEPTS_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    quiet = runner.invoke(app, ["provenance", "verify", "some-run"])
    assert quiet.exit_code == 1
    lines = quiet.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no S3 bucket configured" in lines[0]
    assert "Traceback" not in quiet.output
    log = Path(lines[0].split("full log: ")[1].split(";")[0])
    assert log.parent == tmp_path / "home" / "logs" and "Traceback (most recent call last)" in log.read_text()

    loud = runner.invoke(app, ["--debug", "provenance", "verify", "some-run"])
    assert loud.exit_code == 1 and "Traceback (most recent call last)" in loud.output
    assert loud.output.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" in runner.invoke(app, ["provenance", "verify", "x"], env={"CONCEPTS_DEBUG": "1"}).output
