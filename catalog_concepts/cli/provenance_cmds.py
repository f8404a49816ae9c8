"""`catalog-concepts provenance verify | reproduce | query | migrate-manifests | cleanup`: audit what runs published."""

import json
from pathlib import Path

import typer

from catalog_concepts.cli.environment import use_embedded_s3

app = typer.Typer(
    help="Check, regenerate and query what runs published (manifests, labels, orphans).",
    no_args_is_help=True,
)

_EMBEDDED = typer.Option(False, "--embedded-s3", help="Use the embedded S3 instead of CONCEPTS_S3_* settings")
_BUCKET = typer.Option("concepts", help="Bucket when --embedded-s3 is used")


def _settings(embedded_s3: bool, bucket: str):
    """S3 settings from the one resolver; --embedded-s3 first points it at the local server."""
    if embedded_s3:
        use_embedded_s3(bucket)
    from flows.resources import s3_settings

    return s3_settings()


@app.command()
def verify(
    run: str = typer.Argument(..., help="Run id, manifests/... key or s3://bucket/manifests/... URI"),
    trust_anchor: Path | None = typer.Option(
        None, help="Root CA PEM the signer must chain to (state Trusted); without it, signature validity only"
    ),
    local_anchor: bool = typer.Option(
        False, "--local-anchor", help="Use this machine's local signing root ($CONCEPTS_HOME/signing) as the trust anchor"
    ),
    allow_unsigned: bool = typer.Option(False, help="Accept images without a C2PA manifest"),
    embedded_s3: bool = _EMBEDDED,
    bucket: str = _BUCKET,
) -> None:
    """Re-download every image a manifest names; check SHA-256, XMP and C2PA; exit 1 on any mismatch."""
    from catalog_concepts.provenance.local_ca import ROOT_FILE
    from catalog_concepts.provenance.verify import verify_run
    from flows.resources import state_dir

    settings = _settings(embedded_s3, bucket)
    if local_anchor:
        if trust_anchor is not None:
            raise typer.BadParameter("give --trust-anchor or --local-anchor, not both")
        trust_anchor = state_dir() / "signing" / ROOT_FILE
        if not trust_anchor.exists():
            raise typer.BadParameter(f"no local signing root at {trust_anchor}")
    anchor = trust_anchor.read_bytes() if trust_anchor else None
    report = verify_run(settings, run, trust_anchor_pem=anchor, require_c2pa=not allow_unsigned)
    for check in report.rows:
        status = "ok  " if check.ok else "FAIL"
        typer.echo(f"{status} {check.asset_id} c2pa={check.c2pa_state} {check.s3_uri} {'; '.join(check.problems)}")
    typer.echo(report.summary() + (f" (trust anchor {trust_anchor})" if trust_anchor else " (no trust anchor)"))
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def reproduce(
    asset_id: str = typer.Argument(..., help="asset_id of a committed manifest row"),
    model: Path | None = typer.Option(None, help="Diffusers pipeline folder (default: shipped model)"),
    device: str = typer.Option("auto", help="auto (the row's device family), cpu or cuda"),
    batch_size: int = typer.Option(
        16, min=1, help="Batch size of the run that made the image (nightly default 16); pixels are bit-identical only at the same size"
    ),
    threads: int | None = typer.Option(None, min=1, help="torch CPU threads (default: the count the row records)"),
    embedded_s3: bool = _EMBEDDED,
    bucket: str = _BUCKET,
) -> None:
    """Regenerate one image from its manifest row; say identical / within tolerance / different (exit 1)."""
    from catalog_concepts.provenance.reproduce import reproduce as run_reproduce
    from flows.resources import default_model_dir

    settings = _settings(embedded_s3, bucket)
    result = run_reproduce(
        settings, asset_id, model_dir=model or default_model_dir(), device=device, batch_size=batch_size, threads=threads
    )
    typer.echo(result.summary())
    if not result.reproduced:
        raise typer.Exit(code=1)


@app.command()
def query(
    sql: str | None = typer.Argument(
        None, help="SQL over `manifests`, `review_log`, `asset_status` and `quarantine` (see docs/manifest.md)"
    ),
    example: str | None = typer.Option(None, help="Run a documented example instead (see --list)"),
    list_examples: bool = typer.Option(False, "--list", help="Print the example queries and exit"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row"),
    embedded_s3: bool = _EMBEDDED,
    bucket: str = _BUCKET,
) -> None:
    """DuckDB SQL over the committed manifests and the review log, scanned lazily through pyarrow."""
    from catalog_concepts.provenance.query import EXAMPLES, QueryError
    from catalog_concepts.provenance.query import query as run_query

    if list_examples:
        for name, text in EXAMPLES.items():
            typer.echo(f"-- {name}\n{text};\n")
        return
    if (sql is None) == (example is None):
        raise typer.BadParameter(f"give either SQL or --example NAME (one of: {', '.join(EXAMPLES)})")
    if example is not None and example not in EXAMPLES:
        raise typer.BadParameter(f"unknown example {example!r}; allowed: {', '.join(EXAMPLES)}")
    try:
        table = run_query(_settings(embedded_s3, bucket), EXAMPLES[example] if example else sql)
    except QueryError as error:
        # DuckDB's own words and what one can query: a typo needs no traceback.
        typer.echo(f"query failed: {error}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        for row in table.to_pylist():
            typer.echo(json.dumps(row, default=str))
    else:
        typer.echo(table.to_pandas().to_string(index=False) if table.num_columns else "(no result)")


@app.command("migrate-manifests")
def migrate_manifests(
    apply: bool = typer.Option(False, "--apply", help="Rewrite the v1 files; without it nothing changes (dry run)"),
    embedded_s3: bool = _EMBEDDED,
    bucket: str = _BUCKET,
) -> None:
    """Rewrite v1 manifests as v2 (run_date only in the key), so any hive-aware Parquet reader reads them."""
    from catalog_concepts.storage.manifest_migration import migrate_manifests as run_migration

    report = run_migration(_settings(embedded_s3, bucket), apply=apply)
    for key in report.v1_keys:
        typer.echo(f"v1 {key}")
    typer.echo(report.summary() + ("" if apply else " (dry run: pass --apply to act)"))


@app.command()
def cleanup(
    grace_hours: float = typer.Option(72.0, help="Leave objects younger than this alone (must exceed the longest run)"),
    apply: bool = typer.Option(False, "--apply", help="Delete and abort; without it nothing changes (dry run)"),
    embedded_s3: bool = _EMBEDDED,
    bucket: str = _BUCKET,
) -> None:
    """Remove images/review/rejected/staging objects no committed manifest names, after a grace period."""
    import datetime as dt

    from catalog_concepts.storage.cleanup import cleanup_orphans

    if grace_hours < 0:
        raise typer.BadParameter(f"--grace-hours must be >= 0, got {grace_hours}")
    report = cleanup_orphans(_settings(embedded_s3, bucket), grace=dt.timedelta(hours=grace_hours), apply=apply)
    for orphan in report.orphans:
        typer.echo(f"orphan {orphan.key} {orphan.last_modified.isoformat()} {orphan.bytes} bytes")
    for upload in report.stale_uploads:
        typer.echo(f"stale multipart upload {upload.key} {upload.upload_id} {upload.initiated.isoformat()}")
    typer.echo(report.summary() + ("" if apply else " (dry run: pass --apply to act)"))
