"""`catalog-concepts run` failing for real: one short line, no traceback unless --debug, disk full named."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.reader import read_catalog
from catalog.sample import write_sample_catalog
from catalog_concepts.cli.failure_message import RESUME_ADVICE, headline
from catalog_concepts.local_services.command_prefect_api import start_local_api, stop_local_api

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DEADLINE_S = 900.0
SERVER_DEADLINE_S = 400.0
# Console lines a failed run may print: its log path, the S3 line, Prefect's few INFO/ERROR
# lines (one each, no tracebacks) and the report. Before: 350+ lines with three tracebacks.
MAX_OUTPUT_LINES = 15


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """One local Prefect API for this module's runs (each run would otherwise start its own)."""
    home = tmp_path_factory.mktemp("prefect")
    api = start_local_api(home, home / "server.log", deadline_s=SERVER_DEADLINE_S)
    yield api
    stop_local_api(api)


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return str(tiny_model_dir)


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catalog_concepts.cli.main", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=RUN_DEADLINE_S)


def _env(tmp_path: Path, prefect_api=None, **extra) -> dict:
    env = {**os.environ, "CONCEPTS_HOME": str(tmp_path / "home"), "CONCEPTS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           **extra}
    env.pop("CONCEPTS_DEBUG", None)
    if prefect_api is not None:
        env["PREFECT_API_URL"] = prefect_api.api_url
    return env


def _report(result: subprocess.CompletedProcess) -> str:
    """The failure's one line: the last line on stderr, which must be the only 'error:'/'disk full:' line."""
    reports = [line for line in result.stderr.splitlines() if line.startswith(("error: ", "disk full: "))]
    assert len(reports) == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == reports[0]
    return reports[0]


def _assert_short_and_quiet(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert len(output.strip().splitlines()) <= MAX_OUTPUT_LINES, output


def _wrong_type_catalog(path: Path) -> Path:
    table = pq.read_table(write_sample_catalog(path, n=4, seed=2))
    index = table.schema.get_field_index("has_logo")
    as_text = pa.array([str(value) for value in table.column("has_logo").to_pylist()])
    pq.write_table(table.set_column(index, "has_logo", as_text), path)
    return path


def _expected_headline(catalog: Path) -> str:
    with pytest.raises(Exception) as raised:
        read_catalog(str(catalog))
    return headline(raised.value)


def test_wrong_column_type_is_one_line_with_its_log_and_debug_shows_the_traceback(s3_env, prefect_api, model_dir, tmp_path):
    catalog = _wrong_type_catalog(tmp_path / "wrong-type.parquet")
    expected = _expected_headline(catalog)
    assert "has_logo" in expected  # the catalog's own sentence, printed verbatim
    args = ["run", "--catalog", str(catalog), "--model", model_dir]

    quiet = _run(args, _env(tmp_path, prefect_api))
    _assert_short_and_quiet(quiet)
    report = _report(quiet)
    assert report.startswith(f"error: {expected} (full log: ")
    log = Path(report.split("full log: ")[1].split(";")[0])
    assert log.parent == tmp_path / "home" / "logs"
    # The full story is in the run's log: Prefect's task and flow tracebacks and ours.
    assert log.read_text().count("Traceback (most recent call last)") >= 2

    loud = _run(["--debug", *args], _env(tmp_path, prefect_api))
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr and expected in loud.stderr
    assert _report(loud).startswith(f"error: {expected}")


@pytest.mark.parametrize("kind", ["csv", "missing"])
def test_unreadable_catalogs_fail_in_one_line(kind, s3_env, prefect_api, model_dir, tmp_path):
    catalog = tmp_path / ("catalog.csv" if kind == "csv" else "nowhere.parquet")
    if kind == "csv":
        catalog.write_text("sku,title,category\nA1,a chair,chair\n")
    expected = _expected_headline(catalog)
    result = _run(["run", "--catalog", str(catalog), "--model", model_dir], _env(tmp_path, prefect_api))
    _assert_short_and_quiet(result)
    assert _report(result).startswith(f"error: {expected}")


@pytest.fixture
def tmpfs():
    """Mount small tmpfs file systems (root only); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                    capture_output=True, text=True)
        except FileNotFoundError:
            pytest.skip("no `mount` command here: the disk-full test needs a small tmpfs")
        if result.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here ({result.stderr.strip()}): "
                        "the disk-full test needs root and mount rights")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> None:
    """Write zeros into folder until its file system has no space left."""
    chunk = b"\0" * (1 << 20)
    with pytest.raises(OSError) as raised, open(folder / "filler", "wb") as filler:
        while True:
            filler.write(chunk)
            filler.flush()
    assert raised.value.errno == errno.ENOSPC


def test_full_concepts_home_says_disk_full_and_where(model_dir, tmp_path, tmpfs):
    """CONCEPTS_HOME (and Prefect's database in it) full: the local API cannot start. Before: 833 lines."""
    home = tmpfs(tmp_path / "home", "4m")
    _fill(home)
    env = _env(tmp_path)
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)  # the CLI's default: $CONCEPTS_HOME/prefect
    result = _run(["run", "--model", model_dir], env)
    _assert_short_and_quiet(result)
    report = _report(result)
    assert report.startswith(f"disk full: {home}") and " has 0 MB free; " in report and RESUME_ADVICE in report


def test_full_embedded_s3_disk_says_disk_full_not_internal_error(prefect_api, model_dir, tmp_path, tmpfs):
    """The embedded S3's data folder full: SeaweedFS answers InternalError; the CLI says disk full."""
    s3_dir = tmpfs(tmp_path / "home" / "s3", "64m")
    env = _env(tmp_path, prefect_api)
    started = _run(["s3", "start"], env)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        _fill(s3_dir)
        result = _run(["run", "--embedded-s3", "--bucket", "full", "--model", model_dir], env)
        _assert_short_and_quiet(result)
        report = _report(result)
        assert report.startswith(f"disk full: {s3_dir} has 0 MB free; ") and RESUME_ADVICE in report
    finally:
        stopped = _run(["s3", "stop"], env)
        assert stopped.returncode == 0, stopped.stderr[-3000:]
