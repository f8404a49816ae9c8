"""Each command's log file under $CONCEPTS_HOME/logs, and Prefect's logging routed into it."""

import datetime as dt
import os
from pathlib import Path

from catalog_concepts.assets import packaged
from flows.resources import state_dir

PREFECT_LOGGING_FILE = packaged("catalog_concepts.cli", "prefect_logging.yaml")
KEEP_LOGS = 200  # older logs are deleted when a new one is opened: one per run adds up
# Key in the click context's `meta` (shared by the whole command tree) holding the command's log path.
LOG_PATH_META = "catalog_concepts.log_path"


def logs_dir() -> Path:
    """Where command logs live: $CONCEPTS_HOME/logs."""
    path = state_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_command_log(command: str) -> Path:
    """Create a new log file for this invocation, named for its UTC start time, the command and the pid."""
    directory = logs_dir()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}-{command}-{os.getpid()}.log"
    path.touch()
    _prune(directory)
    return path


def route_prefect_logs(log_path: Path, debug: bool) -> None:
    """Point Prefect's logging at catalog_concepts/cli/prefect_logging.yaml: INFO lines on the console, everything in log_path."""
    # Prefect reads these at import, so this must run before anything imports prefect.
    if os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(PREFECT_LOGGING_FILE)) != str(PREFECT_LOGGING_FILE):
        return  # the user's own logging configuration wins
    os.environ["PREFECT_LOGGING_HANDLERS_FILE_FILENAME"] = str(log_path)
    if debug:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER"] = "console_debug"


def _prune(directory: Path) -> None:
    """Delete all but the KEEP_LOGS newest logs (names start with their UTC time, so names sort by age)."""
    logs = sorted(directory.glob("*.log"), key=lambda p: p.name, reverse=True)
    for old in logs[KEEP_LOGS:]:
        old.unlink(missing_ok=True)
