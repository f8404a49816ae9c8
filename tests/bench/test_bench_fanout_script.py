"""bench/fanout.py: its arithmetic on made-up runs, the simulated accelerator through the normal loader, and
(slow) the whole script at its smallest size."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import clear_cache, load_model, read_defaults
from catalog_concepts.engine.simulated_accelerator import build_simulated_pipeline, read_records

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_fanout", REPO_ROOT / "bench" / "fanout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(bench, workers: int, wall: float, busy: float, kind: str = "sim", threads: int = 1):
    return bench.Run(
        config=bench.Config(kind, workers, threads), images=48, shards=12, wall_s=wall, span_s=wall - 10,
        parent_before_s=4, parent_after_s=6, child_start_s=[20.0] * workers, child_pickup_s=[15.0] * workers,
        work_s=[36.0 / workers] * workers, uncovered_s=[0.6], task_s=[3.0] * 12, busy_s=busy, loads_per_process=[1] * workers, load_avg=(2.0, 3.0),
    )


def test_efficiency_and_busy_fraction_are_medians_against_one_worker():
    bench = _bench()
    runs = [_run(bench, 1, 100, 24), _run(bench, 1, 120, 24), _run(bench, 1, 80, 24), _run(bench, 4, 40, 24), _run(bench, 4, 30, 24)]
    table = bench.summarize(runs)
    one, four = table[bench.Config("sim", 1, 1)], table[bench.Config("sim", 4, 1)]
    assert one["images_per_s"] == pytest.approx(48 / 100) and one["efficiency"] == pytest.approx(1.0)
    assert four["images_per_s"] == pytest.approx((48 / 40 + 48 / 30) / 2)
    assert four["efficiency"] == pytest.approx(four["images_per_s"] / (4 * 48 / 100))
    assert four["busy_fraction"] == pytest.approx((24 / 160 + 24 / 120) / 2)
    assert four["idle_s_per_shard"] == pytest.approx((36 - 24) / 12) and four["shard_gap_s"] == pytest.approx(0.05)
    assert bench._uncovered([(0, 3), (1, 2), (4, 6), (5, 7)]) == pytest.approx(1.0)
    text = bench.format_tables(table)
    assert "SIMULATED" in text and text.count("\n| 4 |") == 1


def test_steady_state_is_the_window_where_every_device_works_and_efficiency_is_its_busy_ratio():
    bench = _bench()
    from catalog_concepts.engine.simulated_accelerator import DeviceRecords

    # Device A works 10-20 and 22-40, B 15-35: both have started at 15, B runs out at 35.
    a, b = DeviceRecords(1, [(10.0, 20.0), (22.0, 40.0)]), DeviceRecords(1, [(15.0, 35.0)])
    seconds, busy = bench.steady_state([a, b], start=0.0, end=50.0)
    assert seconds == pytest.approx(20.0) and busy == pytest.approx((5 + 13) + 20)
    assert bench.steady_state([a, DeviceRecords(1, [(41.0, 45.0)])], 0.0, 50.0) == (None, None)  # never together
    one, two = _run(bench, 1, 100, 24), _run(bench, 2, 60, 24)
    one.steady_s, one.steady_busy_s = 50.0, 45.0  # 0.90 busy
    two.steady_s, two.steady_busy_s = 20.0, 34.2  # 0.855 busy per device
    table = bench.summarize([one, two])
    assert table[bench.Config("sim", 2, 1)]["busy_fraction_steady"] == pytest.approx(0.855)
    assert table[bench.Config("sim", 2, 1)]["efficiency_steady"] == pytest.approx(0.95)
    assert "| 20.0 | 0.95 | 0.86 |" in bench.format_tables(table)


def test_real_configurations_have_no_device_columns_and_schedule_interleaves():
    bench = _bench()
    real = [bench.Config("real", 1, 2), bench.Config("real", 2, 1)]
    table = bench.summarize([_run(bench, 1, 60, None, "real", 2), _run(bench, 2, 50, None, "real", 1)])
    assert table[real[0]]["busy_fraction"] is None and table[real[1]]["efficiency"] is None  # no 1-worker x1 run
    assert "| 2 x 1 |" in bench.format_tables(table)
    assert bench.schedule(real, 3) == [real[0], real[1], real[1], real[0], real[0], real[1]]
    sim = bench.Config("sim", 1, 1)
    assert bench.schedule([sim, *real], 2, real_repeats=1) == [sim, *real, sim]
    assert bench.parse_workers("4,1,2,2") == [1, 2, 4]


def test_simulated_accelerator_loads_through_load_model_and_sleeps_without_cpu(tmp_path):
    model_dir = build_simulated_pipeline(tmp_path / "model", call_ms=150, record_dir=tmp_path / "records", steps=2)
    clear_cache()
    try:
        model = load_model(model_dir, choose_placement("cpu", threads=1))
        d = read_defaults(model_dir)
        settings = SamplingSettings(d["scheduler"], d["steps"], d["guidance_scale"], d["width"], d["height"], d.get("max_sequence_length"))
        requests = [ImageRequest(str(i), f"S{i}", 0, i, f"a red wood chair {i}", "text") for i in range(4)]
        generate(model, requests[:1], settings, 1)  # warm-up: the text encoder's first call
        cpu, wall = time.process_time(), time.perf_counter()
        images = generate(model, requests, settings, 4)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        clear_cache()
    assert model.on_accelerator  # its host work overlaps generation, as on a GPU
    assert model.model_id == "simulated-accelerator" and len(images) == 4 and images[0].denoiser_evals == 2 * 2
    assert wall >= 0.3 and cpu < wall  # two calls of 150 ms, slept rather than computed
    (records,) = read_records(tmp_path / "records").values()
    assert records.loads == 1 and len(records.busy) == 2 + 2 and records.busy_seconds() == pytest.approx(0.6, abs=0.1)


@pytest.mark.slow
def test_script_runs_at_its_smallest_size():
    done = subprocess.run(
        [sys.executable, "bench/fanout.py", "--workers", "1", "--shards", "1", "--skus-per-shard", "1", "--delay-ms", "200",
         "--repeats", "1", "--no-real"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| workers |"))
    (row,) = [line for line in lines if line.startswith("| 1 | 2 |")]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")], strict=True))
    assert cells["loads / process"] == "1"  # one model load in the worker's process
