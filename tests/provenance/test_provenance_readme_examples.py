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


def _analyst_commands() -> list[list[str]]:
    """The `catalog-concepts provenance query` lines of the analysts' sh block, without --embedded-s3."""
    import shlex

    block = re.search(r"### For analysts:.*?```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "README.md lost its analysts' command block"
    commands = []
    for line in block.group(1).splitlines():
        words = [w for w in shlex.split(re.sub(r"\s+#.*$", "", line)) if w != "--embedded-s3"]
        assert words[0].endswith("catalog-concepts") and words[1:3] == ["provenance", "query"], line
        commands.append(words[1:])  # the test's bucket comes from the environment instead
    return commands


def test_the_analysts_commands_do_what_the_readme_says(bucket):
    from typer.testing import CliRunner

    from catalog_concepts.cli.main import app
    from catalog_concepts.provenance.query import EXAMPLES

    listed, by_status = _analyst_commands()
    runner = CliRunner()
    result = runner.invoke(app, listed)
    assert result.exit_code == 0 and all(f"-- {name}" in result.output for name in EXAMPLES), result.output
    result = runner.invoke(app, by_status)
    assert result.exit_code == 0, result.output
    counts = dict(line.split() for line in result.output.splitlines()[1:])
    assert counts == {"pending": "9", "published": "3", "rejected": "3", "dropped": "3"}
