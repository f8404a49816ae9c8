"""Run progress: batches move it, it is sent on at most every few seconds, it never goes back or past the total,
and a terminal bar writes log lines above itself."""

import io
import logging
import threading

from catalog_concepts.reports.progress import MIN_PUBLISH_INTERVAL_S, RunProgress, TerminalBar


class FakeClock:
    """Seconds under the test's control (the rate limit is about time, not about how fast this box is)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingBar:
    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int) -> None:
        self.n += n


def _progress(total=10):
    sent, clock, bar = [], FakeClock(), CountingBar()
    progress = RunProgress(total, lambda done, t: sent.append((done, t)), bar=bar, clock=clock)
    return progress, sent, clock, bar


def test_batches_move_it_and_updates_are_rate_limited():
    progress, sent, clock, bar = _progress()
    progress.batch_made("shard-0", 2)
    assert sent == [(2, 10)]  # the first batch goes out at once
    clock.now += 1.0
    progress.batch_made("shard-0", 2)
    progress.batch_made("shard-1", 1)
    assert sent == [(2, 10)] and progress.done == 5 and bar.n == 5  # the bar moves, the artifact waits
    clock.now += MIN_PUBLISH_INTERVAL_S
    progress.batch_made("shard-1", 1)
    assert sent == [(2, 10), (6, 10)]


def test_finished_shards_replace_their_batches_and_the_last_number_always_goes_out():
    progress, sent, clock, bar = _progress()
    progress.batch_made(0, 3)
    progress.batch_made(1, 3)
    progress.shard_left(0)  # the task ended; the flow has not counted it yet
    assert progress.done == 6  # never goes back
    progress.finished(5)  # shard 0 had 5 images; 2 of them were in its last batch
    clock.now += MIN_PUBLISH_INTERVAL_S
    progress.batch_made(1, 2)
    assert progress.done == 10 and sent[-1] == (10, 10) and bar.n == 10
    progress.shard_left(1)
    progress.finished(10)  # immediately after: not due, but the final number is forced (here already sent)
    assert sent.count((10, 10)) == 1


def test_the_final_count_is_sent_inside_the_interval_and_never_past_the_total():
    progress, sent, clock, _ = _progress(total=4)
    progress.batch_made(0, 1)
    progress.batch_made(0, 9)  # a retried attempt counts again: capped
    assert progress.done == 4
    progress, sent, clock, _ = _progress(total=4)
    progress.batch_made(0, 1)
    progress.shard_left(0)
    progress.finished(4)  # no time passed since the last update: sent anyway, it is the end
    assert sent == [(1, 4), (4, 4)]


def test_a_failing_publisher_never_fails_the_batch(caplog):
    def broken(done, total):
        raise ConnectionError("API down")

    progress = RunProgress(3, broken, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="catalog_concepts.reports.progress"):
        progress.batch_made(0, 1)
    assert progress.done == 1 and "could not publish run progress" in caplog.text


def test_threads_count_every_batch_once():
    progress, sent, clock, bar = _progress(total=4000)

    def shard(index):
        for _ in range(500):
            progress.batch_made(index, 1)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert progress.done == bar.n == 4000
    assert [d for d, _ in sent] == sorted(d for d, _ in sent)  # what was sent never went back


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, so tqdm draws the way it does for a person."""

    def isatty(self) -> bool:
        return True


def _screen(raw: str) -> list[str]:
    """The lines a terminal shows: each carriage return starts overwriting its line from the left."""
    lines = []
    for line in raw.split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip())
    return lines


def test_log_lines_are_written_above_the_bar_and_handlers_get_their_stream_back():
    terminal = FakeTerminal()
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("%(levelname)s | %(message)s"))
    log = logging.getLogger("test.progress.bar")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        with TerminalBar(4, stream=terminal) as bar:
            for shard in range(4):
                bar.update(1)
                log.info("shard %d done", shard)
        log.info("after the bar")
    finally:
        log.removeHandler(handler)
    screen = _screen(terminal.getvalue())
    logs = [line for line in screen if "| shard" in line or "after the bar" in line]
    assert len(logs) == 5, screen
    assert all(line.startswith("INFO | ") for line in logs), screen  # no log line glued to a bar
    assert not [line for line in screen if "images:" in line and "INFO" in line], screen
    assert handler.stream is terminal
