"""catalog_concepts/shards/stage_clock.py: laps charge the time since the previous lap; shard clocks add up by stage."""

import pytest

from catalog_concepts.shards import stage_clock
from catalog_concepts.shards.stage_clock import StageClock, add_seconds


def test_each_lap_charges_the_time_since_the_previous_one(monkeypatch):
    ticks = iter([10.0, 10.5, 12.0, 12.25, 13.0, 14.0])
    monkeypatch.setattr(stage_clock.time, "perf_counter", lambda: next(ticks))
    clock = StageClock()  # 10.0
    clock.lap("read")  # 10.5
    clock.lap("generation")  # 12.0
    clock.skip()  # 12.25: not counted
    clock.lap("read")  # 13.0
    clock.lap("puts")  # 14.0
    assert clock.seconds == {"read": 0.5 + 0.75, "generation": 1.5, "puts": 1.0}


def test_a_lap_in_parts_charges_each_part_and_the_rest(monkeypatch):
    ticks = iter([0.0, 5.0, 6.0])
    monkeypatch.setattr(stage_clock.time, "perf_counter", lambda: next(ticks))
    clock = StageClock()
    clock.lap_parts({"generation": 3.0, "labelling": 0.5}, rest="waiting")  # 5 s: 3 + 0.5, 1.5 waiting
    clock.lap_parts({"generation": 9.0, "labelling": 1.0}, rest="waiting")  # never more than the lap itself
    assert clock.seconds == {"generation": 4.0, "labelling": 0.5, "waiting": 1.5}


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], {}),
        ([{"generation": 1.0}], {"generation": 1.0}),
        ([{"generation": 1.0, "puts": 0.25}, {"generation": 2.0004}, {}], {"generation": 3.0, "puts": 0.25}),
        ([{"a": 0.0001}, {"a": 0.0004}], {"a": 0.001}),
    ],
)
def test_add_seconds_sums_by_stage_in_milliseconds(parts, expected):
    assert add_seconds(parts) == expected
