"""The console's log format: one line per record, no traceback (the run's log file keeps those)."""

import logging

CONSOLE_FORMAT = "%(asctime)s | %(levelname)-7s | %(message)s"
DATE_FORMAT = "%H:%M:%S"


class ConsoleLineFormatter(logging.Formatter):
    """Formats a record as its first line, naming the flow or task run it came from."""

    def __init__(self, tracebacks: bool = False) -> None:
        super().__init__(CONSOLE_FORMAT, DATE_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        """The record's first line (with its traceback only when tracebacks=True)."""
        message = record.getMessage()
        # Prefect's run loggers carry the run's name; its own console formatter prints it too.
        for attribute, kind in (("task_run_name", "Task run"), ("flow_run_name", "Flow run")):
            name = getattr(record, attribute, None)
            if name:
                message = f"{kind} {name!r} - {message}"
                break
        line = f"{self.formatTime(record, self.datefmt)} | {record.levelname:<7s} | "
        if self.tracebacks:
            text = line + message
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
            return text
        first = message.splitlines()[0] if message else ""
        return line + first
