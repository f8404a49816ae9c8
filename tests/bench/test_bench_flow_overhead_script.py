"""bench/flow_overhead.py: its pairing and median arithmetic as tables, and (slow) the script at its smallest size."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_flow_overhead", REPO_ROOT / "bench" / "flow_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("pairs", "orders"),
    [
        (1, [("flow", "plain")]),
        (3, [("flow", "plain"), ("plain", "flow"), ("flow", "plain")]),
        (4, [("flow", "plain"), ("plain", "flow"), ("flow", "plain"), ("plain", "flow")]),
    ],
)
def test_pairs_alternate_which_side_runs_first(pairs, orders):
    assert _bench().pair_orders(pairs) == orders


@pytest.mark.parametrize(
    ("flow", "plain", "ratios", "median"),
    [
        ([10.0], [8.0], [1.25], 1.25),
        ([10.0, 30.0, 12.0], [10.0, 10.0, 10.0], [1.0, 3.0, 1.2], 1.2),  # one disturbed pair does not move the median
        ([11.0, 9.0], [10.0, 10.0], [1.1, 0.9], 1.0),
    ],
)
def test_each_pair_has_its_ratio_and_the_median_is_reported(flow, plain, ratios, median):
    bench = _bench()
    assert bench.pair_ratios(flow, plain) == pytest.approx(ratios)
    assert bench.median_table([{"r": r} for r in ratios]) == pytest.approx({"r": median})


def test_bad_pairings_are_refused():
    bench = _bench()
    with pytest.raises(ValueError, match="pairs must be >= 1"):
        bench.pair_orders(0)
    with pytest.raises(ValueError, match="as many flow as plain"):
        bench.pair_ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="unknown flow stages"):
        bench.flow_breakdown(10.0, {"shards": 8.0, "teleport": 1.0})


def test_what_no_stage_covers_is_prefects_and_missing_stages_count_zero():
    bench = _bench()
    table = bench.flow_breakdown(10.0, {"shards": 7.5, "verification": 1.0, "report": 0.5})
    assert list(table)[: len(bench.FLOW_STAGES)] == list(bench.FLOW_STAGES)
    assert table["shards"] == 7.5 and table["commit"] == 0.0
    assert table[bench.ORCHESTRATION] == pytest.approx(1.0)
    # A key one run lacks counts as zero in the median over runs.
    assert bench.median_table([{"a": 1.0, "b": 4.0}, {"a": 3.0}, {"a": 2.0, "b": 2.0}]) == {"a": 2.0, "b": 2.0}


def test_cpu_of_this_process_is_counted_as_the_process():
    seconds = _bench().cpu_by_process(os.getpid())
    assert set(seconds) == {"process", "s3", "children"} and seconds["process"] > 0


@pytest.mark.slow
def test_script_runs_at_its_smallest_size():
    done = subprocess.run(
        [sys.executable, "bench/flow_overhead.py", "--skus", "2", "--pairs", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| 1 | flow then plain |")]
    assert float(row.split("|")[5]) > 0  # flow/plain
    assert "| prefect (rest) |" in done.stdout and "| generation |" in done.stdout
