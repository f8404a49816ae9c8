"""The README's analyst examples (plain pyarrow, plain DuckDB) run verbatim against a real bucket."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _example(name: str) -> str:
    """The ```python block right after the README's `<!-- analyst-example: NAME ...-->` marker."""
    match = re.search(rf"<!-- analyst-example: {name} .*?-->\n```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, f"README.md has no analyst example {name!r}"
    return match.group(1)


def _run(code: str) -> str:
    # A fresh interpreter with only the environment the README names: nothing of this project is imported.
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy(), cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def bucket(s3_env, nights_bucket):
    return s3_env


def test_the_plain_pyarrow_example_reads_one_night(bucket):
    out = _run(_example("pyarrow"))
    counts = {tuple(line.split()[1:3]): int(line.split()[3]) for line in out.splitlines()[1:]}
    assert counts == {("human_review", "True"): 3, ("publish_labeled_preview", "True"): 1, ("reject", "True"): 1,
                      ("human_review", "False"): 1}


def test_the_plain_duckdb_example_counts_kept_and_dropped_apart(bucket):
    out = _run(_example("duckdb"))
    assert "2026-11-24" not in out and "2026-11-25" in out and "2026-11-26" in out
    # The lamp of each night: one kept candidate waiting for review, one dropped by selection.
    lamp_review = [line for line in out.splitlines() if "lamp" in line and "human_review" in line]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lamp_review]
    assert [row[3:] for row in cells] == [["1", "1"], ["1", "1"]]
