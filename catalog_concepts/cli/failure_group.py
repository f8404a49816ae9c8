"""The root command group: a failing command prints one line and exits 1; --debug adds the traceback."""

import sys
import traceback
from pathlib import Path

import typer
from typer.core import TyperGroup

from catalog_concepts.cli.failure_message import describe_failure
from catalog_concepts.cli.run_log import LOG_PATH_META, open_command_log

FAILURE_EXIT_CODE = 1


class OneLineFailureGroup(TyperGroup):
    """Runs the chosen command; any exception it raises becomes one line on stderr and exit code 1."""

    def invoke(self, ctx: typer.Context):
        """Invoke the command, turning an unexpected exception into the one-line report."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exit codes, Ctrl-C and usage errors: click already reports those
        except Exception as error:
            log_path = save_traceback(error, ctx.meta.get(LOG_PATH_META), ctx.invoked_subcommand or "command")
            if ctx.params.get("debug"):
                traceback.print_exception(error, file=sys.stderr)
            typer.echo(describe_failure(error, log_path), err=True)
            raise typer.Exit(FAILURE_EXIT_CODE) from error


def save_traceback(error: BaseException, log_path: Path | None, command: str) -> Path | None:
    """Append the full traceback to the command's log (a new one when the command had none); its path."""
    try:
        path = log_path or open_command_log(command)
        with open(path, "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(error)))
        return path
    except OSError:
        return None  # a full or read-only disk: the one line still tells what failed
