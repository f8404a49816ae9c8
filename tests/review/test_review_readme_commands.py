"""The README's bulk-review commands, run as written (placeholders filled, optional [...] parts included) against a
committed run in the real local S3 whose waiting images carry the rules the README names."""

import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from catalog_concepts.cli.main import app
from catalog_concepts.review.log import read_review_log
from catalog_concepts.storage import keys
from catalog_concepts.storage.manifest import commit_manifest, read_manifests, rows_to_table
from catalog_concepts.storage.settings import boto3_client

README = Path(__file__).resolve().parents[2] / "README.md"
RUN_ID = "2026-11-20-readme"
# (rules, category) of the run's four waiting images.
WAITING = [(["DMG-001"], "mug"), (["DMG-001"], "mug"), (["ALIGN-001"], "lamp"), (["ALIGN-001", "DMG-001"], "mug")]


def readme_commands() -> list[list[str]]:
    """The `catalog-concepts ops review…` lines of the README's bulk-review block, as argument lists."""
    block = re.search(r"\*\*Bulk review from the shell\.\*\*.*?```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "README.md lost its bulk-review block"
    commands = []
    for line in block.group(1).splitlines():
        line = re.sub(r"\s+#.*$", "", line).replace("<run_id>", RUN_ID)
        line = re.sub(r"\[([^\]]*)\]", r"\1", line)  # the optional parts, taken
        words = shlex.split(line)
        assert words[:2] == ["catalog-concepts", "ops"], line
        commands.append(words[1:])
    return commands


def _run_with_rules(s3, run_store) -> None:
    """run_store's run, its manifest committed again with the README's rules and categories on its waiting rows."""
    run_store(s3, RUN_ID, ["human_review"] * len(WAITING) + ["publish_labeled_preview"])
    rows = read_manifests(s3).to_pylist()
    waiting = sorted(rows, key=lambda r: r["sku"])[: len(WAITING)]  # the last row is the published one
    for row, (rules, category) in zip(waiting, WAITING, strict=True):
        row.update(rule_ids=rules, category=category, decision_reasons=[f"{r} matched" for r in rules])
    for row in rows:  # Arrow map columns read back as (key, value) pairs; the writer takes dicts
        row.update(scores=dict(row["scores"]), scorer_versions=dict(row["scorer_versions"]))
    key = keys.manifest_key("2026-11-20", RUN_ID)
    client = boto3_client(s3)
    client.delete_object(Bucket=s3.bucket, Key=key)  # manifests are create-only: remove, then commit the new one
    commit_manifest(client, s3.bucket, key, rows_to_table(rows))


def test_the_readme_bulk_review_commands_do_what_it_says(s3_env, run_store):
    _run_with_rules(s3_env, run_store)
    queue, dry_run, approve, reject = readme_commands()
    runner = CliRunner()

    listed = runner.invoke(app, queue)
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and all("DMG-001" in line["rule_ids"] and line["thumbnail"] for line in lines)

    previewed = runner.invoke(app, dry_run)
    assert previewed.exit_code == 0 and "would mark 3 image(s) approved" in previewed.output, previewed.output
    assert read_review_log(s3_env).num_rows == 0

    approved = runner.invoke(app, approve)
    assert approved.exit_code == 0 and approved.output.startswith("3 approved, 0 refused; 3 promoted"), approved.output
    rejected = runner.invoke(app, reject)
    assert rejected.exit_code == 0 and rejected.output.startswith("1 rejected, 0 refused; 0 promoted"), rejected.output
    log = read_review_log(s3_env).to_pylist()
    assert sorted((r["decision"], r["note"]) for r in log) == [("approve", "mockups ok")] * 3 + [("reject", None)]
