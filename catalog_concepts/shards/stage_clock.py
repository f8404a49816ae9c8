"""Wall seconds per named stage, so a run's summary says where its time went.

The flow and each shard keep one clock; bench/flow_overhead.py turns the seconds into its
per-stage table, and whatever the clocks do not cover is orchestration.
"""

import time
from collections.abc import Iterable, Mapping


class StageClock:
    """Seconds since the previous lap, added to the stage each lap names."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or since the clock started) to stage."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (now - self._last)
        self._last = now

    def lap_parts(self, parts: Mapping[str, float], rest: str) -> None:
        """Charge the time since the previous lap to the stages in parts (as far as it goes) and the remainder to rest."""
        now = time.perf_counter()
        left = now - self._last
        for stage, seconds in parts.items():
            part = min(max(seconds, 0.0), left)
            self.seconds[stage] = self.seconds.get(stage, 0.0) + part
            left -= part
        self.seconds[rest] = self.seconds.get(rest, 0.0) + left
        self._last = now

    def skip(self) -> None:
        """Charge the time since the previous lap to no stage (it is someone else's to count)."""
        self._last = time.perf_counter()


def add_seconds(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Stage seconds summed over several clocks (e.g. every shard of a run), rounded to milliseconds."""
    total: dict[str, float] = {}
    for part in parts:
        for stage, seconds in part.items():
            total[stage] = total.get(stage, 0.0) + seconds
    return {stage: round(seconds, 3) for stage, seconds in total.items()}
