"""The standing GPU benchmark must keep working between the rare sessions that have a GPU."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # the whole benchmark script at its smallest size
def test_gpu_bench_runs_in_smoke_mode_on_cpu():
    done = subprocess.run(
        [sys.executable, "bench/gpu.py", "--smoke"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if "ours/raw" in line]
    assert [line.split()[0] for line in lines] == ["sd15", "sdxl"]
