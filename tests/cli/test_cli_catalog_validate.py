"""`catalog validate` through typer's runner: hostile rows are listed, wrong files get one line."""

import json

import pytest
from typer.testing import CliRunner

from catalog.hostile_sample import HOSTILE_ROW_KINDS, write_hostile_catalog
from catalog_concepts.cli.main import app


def _rows(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_hostile_rows_are_listed_with_reasons_and_escaped(tmp_path):
    path = write_hostile_catalog(tmp_path / "hostile.parquet", n=20)
    result = CliRunner().invoke(app, ["catalog", "validate", str(path), "--max-bad-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    assert f"30 rows checked, 20 good, {len(HOSTILE_ROW_KINDS)} quarantined" in result.output
    assert [row["reasons"] for row in _rows(result.output)] == [[r] for r in HOSTILE_ROW_KINDS.values()]
    assert "\u202e" not in result.output and "\x00" not in result.output  # shown as \\u202e, \\u0000


def test_rejected_catalog_lists_the_rows_then_fails_with_one_line(tmp_path):
    path = write_hostile_catalog(tmp_path / "hostile.parquet", n=20)
    result = CliRunner().invoke(app, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    assert len(_rows(result.output)) == len(HOSTILE_ROW_KINDS)
    assert result.output.splitlines()[-1].startswith("error: catalog rejected: 10 of 30 rows (33.33%)")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty (0 bytes)"), (b"sku,title\nA,B\n", "is not a Parquet file (it starts like CSV text)"), (None, "does not exist")],
)
def test_wrong_files_fail_with_one_line(tmp_path, content, message):
    path = tmp_path / "catalog.parquet"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error: catalog ") and message in result.output
