"""bench/manifest_query.py at its smallest size: it writes a year's layout and prints one row per query."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_manifest_query_bench_runs_small(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/manifest_query.py", "--nights", "31", "--rows", "40", "--dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| query")}
    files = {name: int(cells[0]) for name, cells in rows.items()}
    assert files == {"no data (SELECT 1: the fixed cost)": 0, "one night": 1, "30-day aggregate": 30,
                     "full-year aggregate": 31}
    assert len(list((tmp_path / "manifests").glob("run_date=*/*.parquet"))) == 31
