"""`catalog-concepts run` in a real terminal (a pseudo-terminal): the images bar moves batch by batch and every
log line starts on a line of its own, never glued to the bar."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from catalog.sample import write_sample_catalog
from catalog_concepts.engine.tiny import build_tiny_pipeline

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DEADLINE_S = 900.0
SKUS = 4
LOG_MARK = " | INFO    | "  # catalog_concepts/cli/console_log_format.py: "HH:MM:SS | LEVEL   | ..."


def _screen(raw: str) -> list[str]:
    """The lines a terminal shows: a carriage return overwrites its line from the left (tqdm redraws so)."""
    lines = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip())
    return lines


def _run_in_terminal(command: list[str], env: dict) -> tuple[int, str]:
    """Run command with stdout and stderr on a pseudo-terminal; return its exit code and everything it drew."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns: a real window
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO once the child side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=secondary,
                               stderr=secondary, start_new_session=True)
    os.close(secondary)
    try:
        code = process.wait(timeout=RUN_DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    reader.join(timeout=60)
    os.close(primary)
    return code, b"".join(chunks).decode(errors="replace")


def test_bar_moves_per_batch_and_log_lines_never_share_its_line(tmp_path):
    model = build_tiny_pipeline(tmp_path / "tiny")
    catalog = write_sample_catalog(tmp_path / "four.parquet", n=SKUS, seed=3)
    env = {**os.environ, "CONCEPTS_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect"),
           "CONCEPTS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PREFECT_API_URL", None)
    # One shard of four one-image batches: before, the bar stayed at 0 and jumped to 4 when the shard ended.
    command = [sys.executable, "-m", "catalog_concepts.cli.main", "run", "--embedded-s3", "--catalog", str(catalog), "--model", str(model),
               "--variants", "1", "--batch-size", "1", "--skus-per-shard", str(SKUS), "--steps", "2"]
    try:
        code, raw = _run_in_terminal(command, env)
    finally:
        subprocess.run([sys.executable, "-m", "catalog_concepts.cli.main", "s3", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    screen = _screen(raw)
    assert code == 0, "\n".join(screen[-40:])

    # Every counted step the bar drew, in order: 1/4, 2/4, 3/4 appear before 4/4.
    drawn = [f"{n}/{SKUS}" for n in range(SKUS + 1) if f"| {n}/{SKUS} [" in raw]
    assert drawn == [f"{n}/{SKUS}" for n in range(SKUS + 1)], raw[-3000:]
    logs = [line for line in screen if LOG_MARK in line]
    assert len(logs) >= 5, screen
    glued = [line for line in logs if not line[:2].isdigit() or "images:" in line]
    assert glued == [], glued
    # The progress artifact was updated from the shard's thread without a failed call.
    assert not [line for line in screen if "could not publish run progress" in line], screen
