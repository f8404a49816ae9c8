"""A run's progress as people watch it: images made so far, batch by batch, sent on at most every few seconds.

Finished shards are reported by the flow; shards still running add their batches as they are
decoded. The number shown never goes back and never passes the total, whatever order those
reports arrive in. The terminal bar writes log lines above itself, so the two never share a line.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

MIN_PUBLISH_INTERVAL_S = 3.0  # the UI polls artifacts every few seconds; each update is one API call

logger = logging.getLogger(__name__)


class RunProgress:
    """Images made of `total`: finished shards plus batches of shards in flight; `publish(done, total)` rate-limited."""

    def __init__(
        self,
        total: int,
        publish: Callable[[int, int], None],
        *,
        bar=None,
        min_interval_s: float = MIN_PUBLISH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self._publish = publish
        self._bar = bar
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._finished = 0
        self._in_flight: dict[Hashable, int] = {}
        self._shown = 0  # on the bar
        self._published = 0
        self._published_at: float | None = None
        self._lock = threading.Lock()
        self._publishing = threading.Lock()

    @property
    def done(self) -> int:
        """Images counted so far (never less than before, never more than total)."""
        with self._lock:
            return self._shown

    def batch_made(self, shard: Hashable, images: int) -> None:
        """A running shard decoded `images` more images (called from the thread that made them)."""
        with self._lock:
            self._in_flight[shard] = self._in_flight.get(shard, 0) + images
        self._advance(force=False)

    def shard_left(self, shard: Hashable) -> None:
        """A shard's task ended (done or failed): its batches now count only through `finished`."""
        with self._lock:
            self._in_flight.pop(shard, None)

    def finished(self, images: int) -> None:
        """Images of every finished shard so far, as the flow counts them; sent on at once when all are done."""
        with self._lock:
            self._finished = max(self._finished, images)
        self._advance(force=images >= self.total)

    def _advance(self, force: bool) -> None:
        with self._lock:
            current = min(self.total, self._finished + sum(self._in_flight.values()))
            step, self._shown = max(0, current - self._shown), max(self._shown, current)
            now = self._clock()
            due = force or self._published_at is None or now - self._published_at >= self._min_interval_s
            value = self._shown
        if step and self._bar is not None:
            self._bar.update(step)
        if value == self._published or not due:
            return
        # One publisher at a time; a batch that finds one at work leaves the number to the next call
        # (the final one, forced, waits its turn so the last number always goes out).
        if not self._publishing.acquire(blocking=force):
            return
        try:
            with self._lock:
                value = self._shown
                if value == self._published:
                    return
                self._published, self._published_at = value, self._clock()
            self._publish(value, self.total)
        except Exception:
            # Progress is for people watching; a failed update must never fail the images being made.
            logger.warning("could not publish run progress (%d / %d images)", value, self.total, exc_info=True)
        finally:
            self._publishing.release()


@contextmanager
def decoded_images(pipe, on_images: Callable[[int], None]) -> Iterator[bool]:
    """Call on_images(n) each time this thread's calls of `pipe` decode n images; yields whether it can tell.

    A torch forward hook on the VAE decoder (diffusers pipelines decode once per batch, or once per
    image with slicing): the batch dimension of what it decodes is the number of images finished,
    whatever the sampler and its steps. The pipeline is shared by the threads of one process, so
    the hook counts only the thread that entered. A pipeline without a VAE decoder reports nothing.
    """
    decoder = getattr(getattr(pipe, "vae", None), "decoder", None)
    if decoder is None or not hasattr(decoder, "register_forward_hook"):
        yield False
        return
    thread = threading.get_ident()

    def count(module, args, output) -> None:
        if threading.get_ident() == thread and args:
            on_images(int(args[0].shape[0]))  # latents (B, C, h, w)

    handle = decoder.register_forward_hook(count)
    try:
        yield True
    finally:
        handle.remove()


class NoBar:
    """Stands in for the terminal bar where nobody watches (workers, tests, logs to a file)."""

    def update(self, n: int) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TerminalBar:
    """A tqdm bar on stderr; while it is open, console log handlers write above it instead of into it."""

    def __init__(self, total: int, stream=None) -> None:
        from tqdm import tqdm

        self._stream = stream or sys.stderr
        self._tqdm = tqdm
        # Updates come once per decoded batch (tens of ms at the least), so every one is drawn:
        # tqdm's defaults (redraw at most every 0.1 s, miniters that grow after a burst) skip
        # steps whenever two batches end close together, as they do on a busy machine.
        self._bar = tqdm(total=total, unit="img", desc="images", file=self._stream, mininterval=0, miniters=1)
        self._restore = _write_logs_above_bar(self._tqdm, self._stream)

    def update(self, n: int) -> None:
        """Advance by n images."""
        self._bar.update(n)

    def close(self) -> None:
        """Close the bar and give the log handlers their stream back."""
        try:
            self._bar.close()
        finally:
            self._restore()

    def __enter__(self) -> TerminalBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # on failure too: the error line after it must start on a line of its own


def terminal_bar(total: int):
    """A progress bar when a person watches stderr; silent under workers and tests."""
    return TerminalBar(total) if sys.stderr.isatty() else NoBar()


class _AboveTheBar:
    """A stream whose writes go through tqdm.write: the bar is cleared, the text written, the bar redrawn."""

    def __init__(self, tqdm, stream) -> None:
        self._tqdm = tqdm
        self._stream = stream

    def write(self, text: str) -> int:
        self._tqdm.write(text, file=self._stream, end="")
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)  # flush, isatty, fileno, encoding: the terminal's own


def _write_logs_above_bar(tqdm, stream) -> Callable[[], None]:
    """Point every console log handler writing to `stream` at tqdm.write; returns the undo."""
    above = _AboveTheBar(tqdm, stream)
    swapped = []
    loggers = [logging.root] + [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for handler in {h for lg in loggers for h in lg.handlers}:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is stream:
            swapped.append((handler, handler.setStream(above)))
            console = getattr(handler, "console", None)  # Prefect's rich handler prints through its own Console
            if console is not None and getattr(console, "file", None) is stream:
                console.file = above
                swapped.append((console, stream))

    def restore() -> None:
        for target, original in reversed(swapped):
            if isinstance(target, logging.StreamHandler):
                target.setStream(original)
            else:
                target.file = original

    return restore
