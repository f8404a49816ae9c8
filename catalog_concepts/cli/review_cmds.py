"""`catalog-concepts ops review approve|reject ...`: decide a whole group of waiting images from the shell."""

from collections import Counter

import typer

from catalog_concepts.review.bulk import bulk_source, group_decisions, select_waiting
from catalog_concepts.review.decisions import AWAITING_ACTION

app = typer.Typer(help="Decide a whole group of waiting images (one rule in one run) at once.", no_args_is_help=True)


def _decide(verdict: str, run_id: str, rule_id: str, reviewer: str, note: str | None, category: str | None,
            dry_run: bool) -> None:
    """Select the group, then print it (dry run) or ingest it like a decisions file and re-render the run's sheet."""
    from catalog_concepts.reports.rerender import rerender_contact_sheets
    from catalog_concepts.review.ingest import ingest_decisions
    from catalog_concepts.review.log import read_review_log
    from catalog_concepts.review.queue import awaiting_review, decided_index, manifest_index
    from catalog_concepts.storage.manifest import read_manifests
    from flows.resources import report_link_seconds, s3_settings

    s3 = s3_settings()
    waiting = awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))
    group = select_waiting(waiting, run_id=run_id, rule_id=rule_id, category=category)
    if not group:
        in_run = Counter(rule for row in select_waiting(waiting, run_id=run_id) for rule in row.get("rule_ids") or ())
        offer = ", ".join(f"{rule} ({n})" for rule, n in sorted(in_run.items())) or f"none: nothing of run {run_id} awaits review"
        typer.echo(f"error: no image of run {run_id} awaiting review has rule {rule_id}"
                   + (f" in category {category}" if category else "") + f"; rules waiting in that run: {offer}", err=True)
        raise typer.Exit(1)
    rows = group_decisions(group, verdict, reviewer, note)
    word = {"approve": "approved", "reject": "rejected"}[verdict]
    if dry_run:
        typer.echo(f"dry run: would mark {len(rows)} image(s) {word}: run {run_id}, rule {rule_id}"
                   + (f", category {category}" if category else "") + f", reviewer {reviewer}; nothing written")
        for row in group:
            typer.echo(f"  {row['asset_id']}  {row['sku']}  {row.get('category') or '-'}  {row['s3_uri']}")
        return
    result = ingest_decisions(s3, rows, bulk_source(verdict, run_id, rule_id, category))
    typer.echo(f"{len(result.accepted)} {word}, {len(result.rejected)} refused; {len(result.promoted_keys)} promoted to images/; "
               f"review log {result.log_key or '(nothing logged)'}")
    for refused in result.rejected:
        typer.echo(f"  refused {refused.asset_id}: {refused.reason}", err=True)
    for report in rerender_contact_sheets(s3, result.runs, expires_in_s=report_link_seconds()):
        typer.echo(f"contact sheet re-rendered: {report.uri}\n  {report.link}")
    if rows and not result.accepted:
        raise typer.Exit(1)


def _command(verdict: str):
    def command(
        run: str = typer.Option(..., "--run", help="Run id whose waiting images to decide"),
        rule: str = typer.Option(..., "--rule", help="Policy rule id: every waiting image of the run it fired on"),
        reviewer: str = typer.Option(..., "--reviewer", help="Your name or e-mail (stored in the review log)"),
        note: str | None = typer.Option(None, "--note", help="Note stored with every decision"),
        category: str | None = typer.Option(None, "--category", help="Only images of this category"),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the images it would decide; write nothing"),
    ) -> None:
        _decide(verdict, run, rule, reviewer, note, category, dry_run)

    command.__doc__ = (f"{verdict.capitalize()} every image of --run awaiting review that --rule fired on "
                       f"(policy decision {AWAITING_ACTION}), through the same check, log and promotion as a decisions file.")
    return command


app.command("approve")(_command("approve"))
app.command("reject")(_command("reject"))
