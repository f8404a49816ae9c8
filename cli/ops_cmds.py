"""`catalog-concepts ops ...`: the local stack, served deployments, report links and the review queue."""

import json
import os
import signal
import subprocess
import sys
from typing import Optional

import typer

from cli.blocks_cmds import app as blocks_app

app = typer.Typer(help="Operate it: local stack, served deployments, report links, review queue.", no_args_is_help=True)
stack_app = typer.Typer(help="The local production-like stack (Prefect server + embedded S3 + served deployments).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(blocks_app, name="blocks")

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
    from cli.main import _quiet_prefect_home, _use_embedded_s3
    from flows.resources import state_dir

    _quiet_prefect_home()
    # Ctrl-C must stop the stack even when a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # PREFECT_API_URL is set before anything imports prefect: its settings are read at import.
    from flows import stack

    port = port or stack.free_port()
    typer.echo(f"prefect server: starting on 127.0.0.1:{port} (PREFECT_HOME={os.environ['PREFECT_HOME']}) ...")
    server = stack.start_server(port, log_path=state_dir() / "prefect-server.log")
    os.environ["PREFECT_API_URL"] = server.api_url
    fleet: list = []
    try:
        _use_embedded_s3(bucket)
        typer.echo(f"Prefect UI: {server.ui_url}   (API {server.api_url}; server log {state_dir() / 'prefect-server.log'})")
        if workers:
            stack.deploy_gpu_pool(workers)
            fleet = stack.start_workers(workers, env={}, log_dir=state_dir() / "logs" / "workers")
            typer.echo(f"work pool {stack.GPU_POOL}: {workers} process workers, {stack.worker_threads(workers)} torch "
                       f"thread(s) each (logs in {state_dir() / 'logs' / 'workers'}); nightly and backfill default to "
                       f"shard_workers={workers}")
        typer.echo(f"in another shell: export PREFECT_API_URL={server.api_url}")
        typer.echo("serving deployments nightly, backfill, review (one run at a time); Ctrl-C stops everything")
        stack.serve_deployments(limit=1, shard_workers=workers)
    finally:
        stack.stop_process_groups(fleet)
        stack.stop_server(server)
        typer.echo("prefect server stopped; the embedded S3 keeps running (`catalog-concepts s3 stop` stops it)")


@app.command("serve")
def serve(limit: int = typer.Option(1, help="Flow runs at a time (1: one generation per GPU)")) -> None:
    """Serve the deployments of infra/prefect.yaml against $PREFECT_API_URL until interrupted."""
    if not os.environ.get("PREFECT_API_URL"):
        raise typer.BadParameter("set PREFECT_API_URL to a running Prefect server (or use `ops stack up`)")
    from flows.stack import serve_deployments

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
    from flows.deploy_check import deploy_problems
    from flows.resources import REPO_ROOT
    from flows.stack import PREFECT_YAML

    problems = deploy_problems(PREFECT_YAML, os.environ)
    if problems:
        typer.echo("error: nothing deployed: " + "; ".join(problems), err=True)
        raise typer.Exit(1)
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all",
               "--prefect-file", str(PREFECT_YAML.relative_to(REPO_ROOT))]
    # From the repository root: prefect.yaml's entrypoints are relative to it.
    code = subprocess.run(command, cwd=REPO_ROOT).returncode
    if code:
        raise typer.Exit(code)


@app.command("report-link")
def report_link(
    run_date: str = typer.Argument(..., help="YYYY-MM-DD"),
    run_id: str = typer.Argument(..., help="Run id"),
    minutes: int = typer.Option(15, min=1, max=15, help="Link lifetime in minutes (at most 15)"),
) -> None:
    """Print a fresh presigned link to a run's contact sheet."""
    from flows.resources import s3_settings
    from reports.publish import presigned_link, report_key

    typer.echo(presigned_link(s3_settings(), report_key(run_date, run_id), minutes * 60))


@app.command("review-queue")
def review_queue(limit: int = typer.Option(50, help="At most this many")) -> None:
    """List images awaiting human review (JSON lines: asset_id, run, sku, image URI)."""
    from flows.resources import s3_settings
    from review.log import read_review_log
    from review.queue import awaiting_review, decided_index, manifest_index
    from storage.manifest import read_manifests

    s3 = s3_settings()
    waiting = awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))
    typer.echo(f"{len(waiting)} images await review", err=True)
    for row in waiting[:limit]:
        typer.echo(json.dumps({k: row[k] for k in ("asset_id", "run_id", "sku", "s3_uri")}))


@app.command("review-status")
def review_status(run_id: Optional[str] = typer.Option(None, help="Only this run")) -> None:
    """Manifests joined with the review log: each image's current review status (JSON lines)."""
    from flows.resources import s3_settings
    from review.log import read_review_log
    from review.queue import review_status as joined_status
    from storage.manifest import read_manifests

    s3 = s3_settings()
    table = joined_status(read_manifests(s3), read_review_log(s3))
    for row in table.to_pylist():
        if run_id is None or row["run_id"] == run_id:
            typer.echo(json.dumps(row, default=str))


if __name__ == "__main__":
    app()
