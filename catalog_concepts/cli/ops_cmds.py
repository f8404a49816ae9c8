"""`catalog-concepts ops ...`: the local stack, served deployments, report links and the review queue."""

import json
import os
import signal
import subprocess
import sys

import typer

from catalog_concepts.cli.blocks_cmds import app as blocks_app
from catalog_concepts.cli.environment import quiet_prefect_home, use_embedded_s3
from catalog_concepts.cli.review_cmds import app as review_app
from flows.resources import state_dir

app = typer.Typer(help="Operate it: local stack, served deployments, report links, review queue.", no_args_is_help=True)
stack_app = typer.Typer(help="The local production-like stack (Prefect server + embedded S3 + served deployments).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(blocks_app, name="blocks")
app.add_typer(review_app, name="review")

STACK_BUCKET = "concepts"


@stack_app.command("up")
def stack_up(
    port: int = typer.Option(0, help="Prefect server port on 127.0.0.1 (0: a free one)"),
    bucket: str = typer.Option(STACK_BUCKET, help="Bucket in the embedded S3"),
    workers: int = typer.Option(0, min=0, max=64, help="GPU-pool process workers on this machine (0: none; a night runs in the served process)"),
) -> None:
    """Start prefect server on loopback and the embedded S3, serve the deployments; Ctrl-C stops all.

    With --workers N it also makes the process work pool gpu-pool (N slots), deploys the
    shard-worker flow on it, starts N workers with this machine's CPU threads split between them,
    and makes shard_workers=N the default of the served nightly and backfill.
    """
    quiet_prefect_home()
    # Ctrl-C must stop the stack even when a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # PREFECT_API_URL is set before anything imports prefect: its settings are read at import.
    from catalog_concepts.local_services import prefect_server
    from flows import deployments

    port = port or prefect_server.free_port()
    typer.echo(f"prefect server: starting on 127.0.0.1:{port} (PREFECT_HOME={os.environ['PREFECT_HOME']}) ...")
    server = prefect_server.start_server(port, log_path=state_dir() / "prefect-server.log")
    os.environ["PREFECT_API_URL"] = server.api_url
    fleet: list = []
    try:
        use_embedded_s3(bucket)
        typer.echo(f"Prefect UI: {server.ui_url}   (API {server.api_url}; server log {state_dir() / 'prefect-server.log'})")
        if workers:
            deployments.deploy_gpu_pool(workers)
            fleet = prefect_server.start_workers(workers, env={}, log_dir=state_dir() / "logs" / "workers", pool=deployments.GPU_POOL)
            typer.echo(f"work pool {deployments.GPU_POOL}: {workers} process workers, {prefect_server.worker_threads(workers)} torch "
                       f"thread(s) each (logs in {state_dir() / 'logs' / 'workers'}); nightly and backfill default to "
                       f"shard_workers={workers}")
        typer.echo(f"in another shell: export PREFECT_API_URL={server.api_url}")
        typer.echo("serving deployments nightly, backfill, review (one run at a time); Ctrl-C stops everything")
        deployments.serve_deployments(limit=1, shard_workers=workers)
    finally:
        prefect_server.stop_process_groups(fleet)
        prefect_server.stop_server(server)
        typer.echo("prefect server stopped; the embedded S3 keeps running (`catalog-concepts s3 stop` stops it)")


@app.command("serve")
def serve(limit: int = typer.Option(1, help="Flow runs at a time (1: one generation per GPU)")) -> None:
    """Serve the deployments of infra/prefect.yaml against $PREFECT_API_URL until interrupted."""
    if not os.environ.get("PREFECT_API_URL"):
        raise typer.BadParameter("set PREFECT_API_URL to a running Prefect server (or use `ops stack up`)")
    from flows.deployments import serve_deployments

    serve_deployments(limit=limit)


@app.command("deploy")
def deploy() -> None:
    """Check the configuration infra/prefect.yaml needs, then `prefect --no-prompt deploy --all` it.

    Fails before deploying, in one line, when a `{{ $VAR }}` it uses (CONCEPTS_REPO_DIR) is unset or
    CONCEPTS_REPO_DIR is not a checkout, when the S3 block its deployments name is not on the server
    (`ops blocks create`), when a Prefect Variable it uses is not set, or when a work pool they use
    does not exist.
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise typer.BadParameter("set PREFECT_API_URL to your Prefect server's API before deploying")
    from catalog_concepts.assets import source_root
    from flows.deploy_check import deploy_problems
    from flows.deployments import PREFECT_YAML

    problems = deploy_problems(PREFECT_YAML, os.environ)
    if problems:
        typer.echo("error: nothing deployed: " + "; ".join(problems), err=True)
        raise typer.Exit(1)
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all",
               "--prefect-file", str(PREFECT_YAML.relative_to(source_root()))]
    # From the source root (the checkout): prefect.yaml's entrypoints are relative to it.
    code = subprocess.run(command, cwd=source_root()).returncode
    if code:
        raise typer.Exit(code)


@app.command("report-link")
def report_link(
    run_date: str = typer.Argument(..., help="YYYY-MM-DD"),
    run_id: str = typer.Argument(..., help="Run id"),
    hours: int | None = typer.Option(None, min=1, max=168, help="Link lifetime in hours, at most 168 (7 days, S3's limit) "
                                        "(default: $CONCEPTS_REPORT_LINK_HOURS, else 24)"),
) -> None:
    """Print a fresh presigned link to a run's contact sheet."""
    from catalog_concepts.reports.publish import presigned_link, report_key
    from flows.resources import report_link_seconds, s3_settings

    seconds = hours * 3600 if hours else report_link_seconds()
    typer.echo(presigned_link(s3_settings(), report_key(run_date, run_id), seconds))


@app.command("review-queue")
def review_queue(
    limit: int = typer.Option(50, help="At most this many"),
    run: str | None = typer.Option(None, "--run", help="Only this run id"),
    rule: str | None = typer.Option(None, "--rule", help="Only images this policy rule fired on"),
    category: str | None = typer.Option(None, "--category", help="Only this category"),
    link_hours: int | None = typer.Option(None, min=1, max=168, help="Thumbnail link lifetime in hours "
                                             "(default: $CONCEPTS_REPORT_LINK_HOURS, else 24)"),
) -> None:
    """List images awaiting human review, oldest run first (JSON lines).

    Each line: asset_id, run_id, run_date, sku, category, rule_ids, reasons (the rules' messages),
    s3_uri and thumbnail (a presigned link to the image). Decide a whole group with
    `ops review approve|reject --run RUN --rule RULE --reviewer NAME`.
    """
    from catalog_concepts.reports.publish import presigned_link
    from catalog_concepts.review.bulk import select_waiting
    from catalog_concepts.review.log import read_review_log
    from catalog_concepts.review.queue import awaiting_review, decided_index, manifest_index
    from catalog_concepts.storage.manifest import read_manifests
    from flows.resources import report_link_seconds, s3_settings

    s3 = s3_settings()
    seconds = link_hours * 3600 if link_hours else report_link_seconds()
    waiting = awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))
    chosen = select_waiting(waiting, run_id=run, rule_id=rule, category=category)
    typer.echo(f"{len(waiting)} images await review, {len(chosen)} match the filters", err=True)
    prefix = f"s3://{s3.bucket}/"
    for row in chosen[:limit]:
        line = {k: row.get(k) for k in ("asset_id", "run_id", "run_date", "sku", "category", "rule_ids")}
        line["reasons"] = row.get("decision_reasons") or []
        line["s3_uri"] = row["s3_uri"]
        line["thumbnail"] = presigned_link(s3, row["s3_uri"].removeprefix(prefix), seconds) if row["s3_uri"].startswith(prefix) else None
        typer.echo(json.dumps(line, default=str))


@app.command("review-status")
def review_status(run_id: str | None = typer.Option(None, help="Only this run")) -> None:
    """Manifests joined with the review log: each image's current review status (JSON lines)."""
    from catalog_concepts.review.log import read_review_log
    from catalog_concepts.review.queue import review_status as joined_status
    from catalog_concepts.storage.manifest import read_manifests
    from flows.resources import s3_settings

    s3 = s3_settings()
    table = joined_status(read_manifests(s3), read_review_log(s3))
    for row in table.to_pylist():
        if run_id is None or row["run_id"] == run_id:
            typer.echo(json.dumps(row, default=str))


if __name__ == "__main__":
    app()
