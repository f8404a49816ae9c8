"""One line from any exception: what is wrong (or that a disk is full, and which), and where the log is."""

import errno
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from catalog_concepts.local_services.free_space import NEARLY_FULL_BYTES, fullest
from flows.resources import state_dir

# The project's top-level packages (pyproject's packages.find include list): their exceptions
# carry messages written for the user, so the innermost of them is the one worth printing.
OWN_PACKAGES = ("catalog_concepts", "catalog", "policies", "flows", "tasks")
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SQLITE_FULL_TEXT = "database or disk is full"  # sqlite3.OperationalError for SQLITE_FULL
NO_SPACE_TEXT = "No space left on device"  # strerror(ENOSPC), also inside pyarrow and log quotes
S3_INTERNAL_ERROR = "InternalError"
# `weed mini` sizes its volume count from free disk in 128 MB volumes and each bucket takes
# volumes of its own (about 1 GiB per bucket, measured for the test fixtures); with less free
# than that, an InternalError from the embedded S3 is its way of saying the disk is full.
EMBEDDED_S3_LOW_FREE_BYTES = 1 << 30
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MB = 1 << 20
RESUME_ADVICE = "free space and rerun (nothing was lost: the rerun resumes)"


def describe_failure(error: BaseException, log_path: Path | None) -> str:
    """The single line the CLI prints for a failed command."""
    where = f" (full log: {log_path}; --debug prints the traceback)" if log_path else " (--debug prints the traceback)"
    full = disk_full(error)
    if full is None and not any(is_own(e) for e in exception_chain(error)):
        # A foreign error (an HTTP 500 from the local Prefect API whose SQLite could not write,
        # a failed flush) while a folder the run writes to is full: the full disk is the cause.
        folder, free = fullest(candidate_folders())
        full = (folder, free) if free < NEARLY_FULL_BYTES else None
    if full is not None:
        folder, free = full
        return f"disk full: {folder} has {free // MB} MB free; {RESUME_ADVICE}{where}"
    return f"error: {headline(error)}{where}"


def headline(error: BaseException) -> str:
    """What went wrong, in the words of the innermost exception of our own packages when there is one."""
    chain = exception_chain(error)
    own = [e for e in chain if is_own(e)]
    if own:
        # Follow explicit causes (`raise Outer(...) from inner`) down from the outermost of ours:
        # an implicit __context__ below one of ours is what it translated, not the reason.
        chosen, step = own[0], own[0].__cause__
        while step is not None:
            if is_own(step):
                chosen = step
            step = step.__cause__
        return first_line(chosen) or type(chosen).__name__
    # Prefect wraps failures in its own types; the first exception from elsewhere says more.
    foreign = [e for e in chain if not type(e).__module__.startswith("prefect")] or chain
    chosen = foreign[0]
    text = first_line(chosen)
    return f"{type(chosen).__name__}: {text}" if text else type(chosen).__name__


def exception_chain(error: BaseException) -> list[BaseException]:
    """error and every exception behind it (causes, contexts, exception-group members), outermost first."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        behind = [current.__cause__ or (None if current.__suppress_context__ else current.__context__)]
        if isinstance(current, BaseExceptionGroup):
            behind = [*current.exceptions, *behind]
        pending.extend(reversed(behind))
    return chain


def is_own(error: BaseException) -> bool:
    """Whether the exception's type comes from one of the project's packages."""
    return type(error).__module__.split(".")[0] in OWN_PACKAGES


def first_line(error: BaseException) -> str:
    """The first non-empty line of the exception's message, with the list it introduces when it ends with ':'."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        # Alone, a heading such as Prefect's "Flow run received invalid parameters:" names no
        # parameter; its items ("- model: unknown model 'x'; allowed: ...") are the message.
        return f"{lines[0]} {'; '.join(line.removeprefix('- ') for line in lines[1:])}"
    return lines[0] if lines else ""


def disk_full(error: BaseException) -> tuple[Path, int] | None:
    """(folder, free bytes) when a full disk is behind the error, else None."""
    for e in exception_chain(error):
        text = str(e)
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            named = [folder_of(name) for name in (e.filename, e.filename2) if name]
            return fullest(named or candidate_folders())
        if SQLITE_FULL_TEXT in text:
            return fullest([prefect_home()])
        if NO_SPACE_TEXT in text:
            return fullest(candidate_folders())
        if is_s3_internal_error(e):
            s3_dir = embedded_s3_dir()
            if s3_dir is not None:
                folder, free = fullest([s3_dir])
                if free < EMBEDDED_S3_LOW_FREE_BYTES:
                    return folder, free
    return None


def folder_of(name) -> Path:
    """The folder an OSError's filename names: itself when it is a folder, else its parent."""
    path = Path(os.fsdecode(name))
    return path if path.is_dir() else path.parent


def is_s3_internal_error(error: BaseException) -> bool:
    """An S3 'InternalError' (HTTP 500) as botocore or pyarrow reports it."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Code") == S3_INTERNAL_ERROR:
        return True
    return isinstance(error, OSError) and S3_INTERNAL_ERROR in str(error)


def embedded_s3_dir() -> Path | None:
    """The embedded S3's data folder when the configured endpoint is on loopback, else None."""
    endpoint = os.environ.get("CONCEPTS_S3_ENDPOINT", "")
    if urlparse(endpoint).hostname not in LOOPBACK_HOSTS:
        return None
    return state_dir() / "s3"


def prefect_home() -> Path:
    """The folder holding Prefect's database for CLI runs."""
    return Path(os.environ.get("PREFECT_HOME") or state_dir() / "prefect")


def candidate_folders() -> list[Path]:
    """Folders a run writes to: state folder, Prefect's home, the embedded S3's data, the temp folder."""
    folders = [state_dir(), prefect_home(), Path(tempfile.gettempdir())]
    s3_dir = embedded_s3_dir()
    return folders + ([s3_dir] if s3_dir else [])
