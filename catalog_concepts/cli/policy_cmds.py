"""`policy test` and `policy explain`: check a policy file safely, and say why an image got its verdict."""

from pathlib import Path

import typer

from catalog_concepts.assets import packaged

app = typer.Typer(help="Review policies: test a policy file against its fixtures; explain a verdict.", no_args_is_help=True)

POLICIES_DIR = packaged("policies")


def _fixtures_for(policy_path: Path) -> Path:
    """The fixture table that ships with a policy: policies/fixtures/<name>.yaml beside it."""
    return policy_path.parent / "fixtures" / policy_path.name


@app.command("test")
def test_policy(
    file: Path | None = typer.Argument(None, help="Policy YAML (default: policies/default.yaml)."),
    fixtures: Path | None = typer.Option(None, "--fixtures", "-f", help="Fixture table (default: fixtures/<file name> beside the policy)."),
) -> None:
    """Load and validate a policy, run its fixture table, print pass/fail per case and the decision confusion; exit 1 on failure."""
    from policies.confusion import confusion_matrix, format_confusion
    from policies.load import PolicyError, load_policy
    from policies.run_fixtures import run_fixtures, uncovered_rule_ids

    path = file if file is not None else POLICIES_DIR / "default.yaml"
    try:
        policy = load_policy(path)
    except (PolicyError, OSError) as error:
        typer.echo(f"INVALID POLICY: {error}", err=True)
        raise typer.Exit(1) from None
    table = fixtures if fixtures is not None else _fixtures_for(Path(path))
    typer.echo(f"policy {policy.name} v{policy.version} ({len(policy.rules)} rules, sha256 {policy.sha256[:12]}) from {path}")
    try:
        results = run_fixtures(policy, table)
    except (ValueError, OSError) as error:
        typer.echo(f"INVALID FIXTURES: {error}", err=True)
        raise typer.Exit(1) from None
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        typer.echo(f"{status} {r.name}: {r.decision.action} {list(r.decision.rule_ids)}")
        for problem in r.problems:
            typer.echo(f"     {problem}")
    failed = [r for r in results if not r.passed]
    uncovered = uncovered_rule_ids(policy, results)
    typer.echo(format_confusion(confusion_matrix(results)))
    typer.echo(f"{len(results) - len(failed)}/{len(results)} cases pass; rules without a fixture: {', '.join(uncovered) or 'none'}")
    if failed or uncovered:
        raise typer.Exit(1)


@app.command("explain")
def explain_asset(
    asset_id: str = typer.Argument(..., help="asset_id of the image (manifest column asset_id)."),
    run: str | None = typer.Option(None, "--run", help="run_id, when the asset id appears in several runs."),
    policy_file: Path | None = typer.Option(None, "--policy", help="Policy YAML to evaluate with (default: policies/default.yaml)."),
) -> None:
    """Read the image's manifest row from S3 and print each rule's evaluation with the inputs it used."""
    from catalog_concepts.storage.manifest import read_manifests
    from catalog_concepts.storage.settings import arrow_filesystem
    from flows.resources import s3_settings
    from policies.explain import explain, find_manifest_row, format_explanation, policy_row_for
    from policies.load import PolicyError, load_policy

    try:
        policy = load_policy(policy_file)
    except (PolicyError, OSError) as error:
        typer.echo(f"INVALID POLICY: {error}", err=True)
        raise typer.Exit(1) from None
    settings = s3_settings()
    try:
        manifest_row = find_manifest_row(read_manifests(settings), asset_id, run)
    except LookupError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    catalog_fs = arrow_filesystem(settings) if str(manifest_row["catalog_uri"]).startswith("s3://") else None
    row, notes = policy_row_for(manifest_row, catalog_filesystem=catalog_fs)
    typer.echo(f"asset {asset_id} (run {manifest_row['run_id']}, sku {manifest_row['sku']}, variant {manifest_row['variant']})")
    typer.echo(format_explanation(explain(policy, row, notes), recorded=manifest_row))
