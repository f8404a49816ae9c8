"""Command line: `catalog-concepts demo | run | s3 ... | catalog ...` (see --help)."""

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from catalog.vocabulary import CATEGORIES
from catalog_concepts.cli.environment import quiet_prefect_home, use_embedded_s3
from catalog_concepts.cli.failure_group import OneLineFailureGroup
from catalog_concepts.cli.ops_cmds import app as ops_app
from catalog_concepts.cli.policy_cmds import app as policy_app
from catalog_concepts.cli.provenance_cmds import app as provenance_app
from catalog_concepts.cli.run_log import LOG_PATH_META, open_command_log, route_prefect_logs
from catalog_concepts.engine.schedulers import SCHEDULERS
from catalog_concepts.local_services.command_prefect_api import start_local_api, stop_local_api
from flows.params import MODEL_DEFAULT, NightlyParams

app = typer.Typer(
    help=(
        "catalog-concepts: product catalog -> governed, labelled AI concept images.\n\n"
        "Start with `catalog-concepts demo`: it starts the embedded S3, runs the nightly flow over "
        "the shipped sample catalog with the shipped model, and prints where everything landed.\n\n"
        "A failing command prints one line (what is wrong, where its log is) and exits 1; "
        "--debug (or CONCEPTS_DEBUG=1) prints the full traceback too."
    ),
    no_args_is_help=True,
    add_completion=False,
    cls=OneLineFailureGroup,
)
s3_app = typer.Typer(help="The embedded S3 server (SeaweedFS on 127.0.0.1).", no_args_is_help=True)
catalog_app = typer.Typer(help="Make and check catalogs.", no_args_is_help=True)
app.add_typer(s3_app, name="s3")
app.add_typer(catalog_app, name="catalog")
# Commands that live in their own files, one file per concern.
app.add_typer(policy_app, name="policy")
app.add_typer(ops_app, name="ops")
app.add_typer(provenance_app, name="provenance")

DEMO_BUCKET = "concepts"
_CATEGORY_NAMES = ", ".join(CATEGORIES)
_SCHEDULER_NAMES = ", ".join(SCHEDULERS)


@app.callback()
def main_options(
    debug: bool = typer.Option(
        False, "--debug", envvar="CONCEPTS_DEBUG",
        help="On failure print the full traceback, and show Prefect's tracebacks on the console",
    ),
) -> None:
    """Options for every command (give them before the command's name)."""


@contextlib.contextmanager
def _prefect_for_flow_run(command: str, ctx: typer.Context) -> Iterator[None]:
    """Prefect for a flow run in this process: logs to this run's log file, and a local API unless PREFECT_API_URL is set."""
    quiet_prefect_home()
    log_path = open_command_log(command)
    ctx.meta[LOG_PATH_META] = log_path  # where the failure report appends the traceback
    route_prefect_logs(log_path, debug=bool(ctx.find_root().params.get("debug")))
    typer.echo(f"log: {log_path}")
    # Prefect fixes its settings when first imported: a process that already imported it
    # (an embedding program, a test harness) keeps the API it chose.
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        yield
        return
    api = start_local_api(Path(os.environ["PREFECT_HOME"]), log_path)
    saved_ui_url = os.environ.get("PREFECT_UI_URL")
    os.environ["PREFECT_API_URL"] = api.api_url
    # This API serves no UI and stops with the command: Prefect's "View at <url>" line would name
    # a page that never exists. An empty UI URL makes Prefect leave that line out.
    os.environ["PREFECT_UI_URL"] = ""
    typer.echo(f"Prefect API: {api.api_url}, local to this command, no UI (to watch runs in the UI: "
               "`catalog-concepts ops stack up`, then export the PREFECT_API_URL it prints)")
    try:
        yield
    finally:
        try:
            _drain_prefect_client()
        finally:
            stop_local_api(api)
            os.environ.pop("PREFECT_API_URL", None)
            if saved_ui_url is None:
                os.environ.pop("PREFECT_UI_URL", None)
            else:
                os.environ["PREFECT_UI_URL"] = saved_ui_url


def _drain_prefect_client() -> None:
    """Send this process's queued Prefect logs and events before its API stops (else exit retries for minutes)."""
    if "prefect" not in sys.modules:
        return
    from flows.prefect_client import drain_client_workers

    try:
        drain_client_workers()
    except Exception:
        # The run's own outcome matters more than its last log lines reaching the API.
        logging.getLogger(__name__).warning("could not flush Prefect logs to the local API", exc_info=True)


def _run(**parameters) -> dict:
    from flows.nightly import nightly_campaign

    return nightly_campaign(**parameters)


def _print_summary(summary: dict) -> None:
    typer.echo("")
    typer.echo(f"run {summary['run_id']}: {summary['status']}")
    for key in ("images", "decisions", "quarantined", "model_dir", "manifest_uri", "images_prefix", "review_prefix", "quarantine_uri",
                "verified", "report_uri", "report_link"):
        if key in summary:
            typer.echo(f"  {key:15s} {summary[key]}")


def _nightly_option(field: str, *flags: str, default=..., help: str | None = None):
    """A command-line option for a NightlyParams field: its default and help come from the model the flow validates with.

    default / help: where the command line means something else than a form (a list option's
    "none given", a person at a terminal allowed the sample catalog).
    """
    info = NightlyParams.model_fields[field]
    return typer.Option(info.default if default is ... else default, *flags, help=help or info.description)


@app.command()
def demo(
    ctx: typer.Context,
    limit: int = _nightly_option("limit", help="At most this many SKUs of the sample catalog (0: all 58)"),
    variants: int = _nightly_option("variants_per_sku", "--variants"),
) -> None:
    """Run the nightly flow on embedded defaults: local S3, shipped sample catalog, shipped model."""
    with _prefect_for_flow_run("demo", ctx):
        use_embedded_s3(DEMO_BUCKET)
        # The shipped sample holds 10 deliberately bad rows among 58 (17%), to show quarantine at work;
        # production runs keep the 5% default.
        typer.echo("demo: the sample catalog has 10 deliberately bad rows; allowing up to 25% bad rows")
        _print_summary(_run(limit=limit, variants_per_sku=variants, max_bad_fraction=0.25, allow_sample_catalog=True))


@app.command()
def run(
    ctx: typer.Context,
    catalog: str = _nightly_option("catalog_uri", "--catalog", help="Catalog Parquet: path or s3:// URI (default: the shipped sample)"),
    run_date: str = _nightly_option("run_date", default="today", help="Partition date of the run, YYYY-MM-DD (default: today, UTC)"),
    limit: int = _nightly_option("limit"),
    category: list[str] | None = _nightly_option("categories", "--category", default=None,
                                                 help=f"Only this category (repeatable): {_CATEGORY_NAMES}"),
    sku: list[str] | None = _nightly_option("skus", "--sku", default=None, help="Only this SKU (repeatable)"),
    variants: int = _nightly_option("variants_per_sku", "--variants"),
    model: str = _nightly_option(
        "model", help="Model name from infra/registry.yaml, or a diffusers pipeline folder (a path: contains '/')"),
    scheduler: str = _nightly_option("scheduler", help=f"Sampler: {MODEL_DEFAULT!r} (the model's own) or {_SCHEDULER_NAMES}"),
    steps: int = _nightly_option("steps"),
    guidance: float = _nightly_option("guidance_scale", "--guidance"),
    guidance_interval: str = _nightly_option("guidance_interval"),
    seed: int = _nightly_option("seed"),
    batch_size: int = _nightly_option("batch_size"),
    skus_per_shard: int = _nightly_option("skus_per_shard"),
    max_bad_fraction: float = _nightly_option("max_bad_fraction"),
    policy: str = _nightly_option("policy", help="Review policy name from infra/registry.yaml, or a policy YAML (a path: contains '/')"),
    embedded_s3: bool = typer.Option(False, "--embedded-s3", help="Use the embedded S3 instead of CONCEPTS_S3_* settings"),
    bucket: str = typer.Option(DEMO_BUCKET, help="Bucket when --embedded-s3 is used"),
) -> None:
    """Run the nightly flow with explicit parameters against the configured S3 (CONCEPTS_S3_ENDPOINT/BUCKET)."""
    with _prefect_for_flow_run("run", ctx):
        if embedded_s3:
            use_embedded_s3(bucket)
        _print_summary(_run(
            # "today" rather than nothing: the run's parameters in the UI then say which day was meant.
            run_date=run_date, model=model, scheduler=scheduler, steps=steps, guidance_scale=guidance, policy=policy,
            guidance_interval=guidance_interval,
            # A person at a terminal may run the shipped sample (the default of --catalog, as its help
            # says); a deployment refuses it unless its run says allow_sample_catalog.
            catalog_uri=catalog, allow_sample_catalog=True, limit=limit,
            categories=category or [], skus=sku or [], variants_per_sku=variants, seed=seed,
            batch_size=batch_size, skus_per_shard=skus_per_shard, max_bad_fraction=max_bad_fraction,
        ))


@s3_app.command("start")
def s3_start() -> None:
    """Start the embedded S3 in the background (reused if already running) and print its settings."""
    from catalog_concepts.local_services.s3_server import find_running, start_local_s3
    from flows.resources import state_dir

    data_dir = state_dir() / "s3"
    local = find_running(data_dir) or start_local_s3(data_dir)
    typer.echo(f"export CONCEPTS_S3_ENDPOINT={local.endpoint_url}")
    typer.echo(f"export CONCEPTS_S3_BUCKET={DEMO_BUCKET}")
    typer.echo(f"export AWS_ACCESS_KEY_ID={local.access_key}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={local.secret_key}")


@s3_app.command("stop")
def s3_stop() -> None:
    """Stop the embedded S3 started by `s3 start` or `demo`."""
    from catalog_concepts.local_services.s3_server import find_running, stop_local_s3
    from flows.resources import state_dir

    local = find_running(state_dir() / "s3")
    if local is None:
        typer.echo("embedded S3 is not running")
        return
    stop_local_s3(local)
    typer.echo(f"stopped embedded S3 (pid {local.pid})")


@catalog_app.command("sample")
def catalog_sample(
    out: Path = typer.Argument(..., help="Parquet file to write"),
    n: int = typer.Option(10_000, help="Number of good SKUs"),
    seed: int = typer.Option(0, help="Generator seed"),
    bad_rows: int = typer.Option(0, help="Deliberately bad rows to append (for trying quarantine)"),
) -> None:
    """Write a seeded sample catalog the shipped model knows."""
    from catalog.sample import write_sample_catalog

    path = write_sample_catalog(out, n=n, seed=seed, bad_rows=bad_rows)
    typer.echo(f"wrote {n + bad_rows} rows to {path}")


@catalog_app.command("validate")
def catalog_validate(
    uri: str = typer.Argument(..., help="Catalog Parquet path"),
    max_bad_fraction: float = typer.Option(0.05, help="Fail when more rows than this are bad"),
) -> None:
    """Validate a catalog and print the quarantined rows with their reasons."""
    from catalog.reader import CatalogFormatError, read_catalog
    from catalog.schema import CatalogSchemaError
    from catalog.validate import CatalogRejectedError, validate_catalog

    try:
        result = validate_catalog(read_catalog(uri), max_bad_fraction=max_bad_fraction)
    except CatalogRejectedError as error:
        result, failure = error.result, str(error)
    except (CatalogFormatError, CatalogSchemaError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    else:
        failure = None
    typer.echo(f"{result.checked} rows checked, {result.good.num_rows} good, {result.quarantined.num_rows} quarantined")
    # json.dumps escapes every non-ASCII character, so a bidi or control character in a
    # quarantined sku is shown as \u202e instead of rearranging or driving the terminal.
    for row in result.quarantined.select(["row_index", "sku", "reasons"]).to_pylist():
        typer.echo(json.dumps(row, default=str))
    if failure is not None:
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
