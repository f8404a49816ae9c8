"""`policy explain` and `policy test`: the pure explanation, and both commands on real files and a real S3."""

import datetime as dt
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from catalog.schema import CATALOG_SCHEMA, catalog_row_hash
from catalog_concepts.cli.policy_cmds import POLICIES_DIR, app
from catalog_concepts.storage.keys import manifest_key
from catalog_concepts.storage.manifest import commit_manifest, rows_to_table
from catalog_concepts.storage.settings import boto3_client
from policies.conditions import parse_condition
from policies.explain import condition_fields, explain, find_manifest_row, format_explanation, policy_row_for, value_text
from policies.load import load_policy

from example_rows import example_judgement, example_origin, example_row

RUNNER = CliRunner()
FIXTURE_BASE = yaml.safe_load((POLICIES_DIR / "fixtures" / "default.yaml").read_text())["base"]


@pytest.mark.parametrize(
    "when, fields",
    [
        ({"field": "has_logo", "op": "true"}, ("has_logo",)),
        ({"all": [{"not": {"field": "scores.safety_nsfw", "op": "missing"}}, {"field": "scores.safety_nsfw", "op": "gt", "value": 0}]},
         ("scores.safety_nsfw",)),
        ({"any": [{"field": "asset_type", "op": "eq", "value": "lifestyle_scene"}, {"field": "variant", "op": "ge", "value": 1}]},
         ("asset_type", "variant")),
    ],
)
def test_condition_fields_table(when, fields):
    assert condition_fields(parse_condition(when)) == fields


@pytest.mark.parametrize(
    "value, text",
    [(None, "<missing>"), (math.nan, "<missing: nan>"), (0.123456, "0.1235"), (["a", "b"], "[a; b]"), ("x", "'x'"), (True, "True")],
)
def test_value_text_table(value, text):
    assert value_text(value) == text


def test_explain_traces_every_rule_with_its_inputs():
    row = dict(FIXTURE_BASE, has_logo=True, scores=dict(FIXTURE_BASE["scores"], alignment=None))
    explanation = explain(load_policy(), row)
    traces = {t.rule_id: t for t in explanation.rules}
    assert len(traces) == len(load_policy().rules)
    assert traces["LOGO-001"].matched is True and traces["LOGO-001"].inputs == (("has_logo", "True"),)
    assert "brand: Nordhavn" in traces["LOGO-001"].message
    assert traces["CLAIM-001"].matched is False and traces["CLAIM-001"].message is None
    assert traces["ALIGN-001"].matched is None and traces["ALIGN-001"].problems == ("missing input: scores.alignment",)
    assert traces["SAFE-002"].matched is False
    assert traces["SAFE-002"].inputs == (("scores.safety_nsfw", "<missing>"), ("model_closed_domain", "True"))
    assert explanation.decision.action == "human_review"
    assert explanation.decision.rule_ids == ("LOGO-001", "ALIGN-001")
    text = format_explanation(explanation)
    assert "LOGO-001 [enforce, human_review] MATCH" in text and "ALIGN-001 [enforce, human_review] UNKNOWN" in text
    assert "    scores.alignment = <missing>" in text


def _catalog_row() -> dict:
    row = {k: FIXTURE_BASE[k] for k in CATALOG_SCHEMA.names if k != "updated_at"}
    row["updated_at"] = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return row


def _manifest_row(run_id: str, catalog_uri: str, catalog_hash: str, **changes) -> dict:
    """The published row of OSL-TBL-0001 variant 1 (not stored: explain needs no image), scored like the fixture."""
    origin = example_origin(run_id, "OSL-TBL-0001", 1, catalog_row_hash=catalog_hash, catalog_uri=catalog_uri, seed=7,
                            prompt="campaign concept, a orange wood table on a soft gradient backdrop")
    judgement = example_judgement(scores={k: float(v) for k, v in FIXTURE_BASE["scores"].items()},
                                  scorer_versions={"technical": "technical/1"}, phash=None, policy_sha256=load_policy().sha256)
    return example_row(origin=origin, judgement=judgement, **changes)


def _commit(s3, run_id: str, rows: list[dict], policy_inputs: list[str] | None = None) -> None:
    if policy_inputs is not None:
        rows = [dict(row, policy_inputs=value) for row, value in zip(rows, policy_inputs, strict=True)]
    table = rows_to_table(rows)
    commit_manifest(boto3_client(s3), s3.bucket, manifest_key("2026-11-26", run_id), table)


def test_explain_command_reconstructs_from_the_catalog(s3_env, tmp_path):
    catalog = tmp_path / "catalog.parquet"
    pq.write_table(pa.Table.from_pylist([_catalog_row()], schema=CATALOG_SCHEMA), catalog)
    row = _manifest_row("run-a", str(catalog), catalog_row_hash(_catalog_row()))
    _commit(s3_env, "run-a", [row])
    result = RUNNER.invoke(app, ["explain", row["asset_id"]])
    assert result.exit_code == 0, result.output
    assert "recorded: publish_labeled_preview" in result.output
    assert "technical_failures recomputed" in result.output
    assert "    asset_type = 'campaign_background'" in result.output  # read back from the catalog
    assert "TECH-001 [enforce, reject] no" in result.output
    # duplicate_of / model_closed_domain are not in the manifest: shown, and the verdict differs honestly.
    assert "    model_closed_domain = <missing>" in result.output
    assert "verdict: human_review" in result.output and "differs from the recorded verdict" in result.output


def test_explain_command_uses_recorded_policy_inputs(s3_env):
    inputs = dict(FIXTURE_BASE, updated_at="2026-11-01T00:00:00Z", claims_real_sku=True)
    row = _manifest_row("run-b", "s3://nowhere/catalog.parquet", "c" * 64, decision="human_review", rule_ids=["CLAIM-001"])
    _commit(s3_env, "run-b", [row], policy_inputs=[json.dumps(inputs)])
    result = RUNNER.invoke(app, ["explain", row["asset_id"], "--run", "run-b"])
    assert result.exit_code == 0, result.output
    assert "verdict: human_review  rules: CLAIM-001" in result.output
    assert "CLAIM-001 [enforce, human_review] MATCH" in result.output and "    claims_real_sku = True" in result.output
    assert "differs" not in result.output and "reconstructed" not in result.output


def test_explain_command_unknown_or_ambiguous_asset(s3_env, tmp_path):
    row = _manifest_row("run-c", "x", "c" * 64)
    _commit(s3_env, "run-c", [row])
    result = RUNNER.invoke(app, ["explain", "0" * 32])
    assert result.exit_code == 1 and "no manifest row with asset_id" in result.output
    table = rows_to_table([row, dict(row, run_id="run-d")])
    with pytest.raises(LookupError, match="pick one with --run"):
        find_manifest_row(table, row["asset_id"])


def test_policy_row_for_prefers_policy_inputs():
    assert policy_row_for({"policy_inputs": json.dumps({"a": 1})}) == ({"a": 1}, ())


@pytest.mark.parametrize("name", ["default", "production"])
def test_policy_test_command_passes_shipped_policies(name):
    result = RUNNER.invoke(app, ["test", str(POLICIES_DIR / f"{name}.yaml")])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output and "rules without a fixture: none" in result.output
    assert "expected \\ decided" in result.output


def test_policy_test_default_file_and_confusion():
    result = RUNNER.invoke(app, ["test"])
    lines = result.output.splitlines()
    assert result.exit_code == 0 and lines[0].startswith("policy default v2")
    header = lines.index("expected \\ decided   publish   review   reject")
    counts = [[int(x) for x in line.split()[1:]] for line in lines[header + 1 : header + 4]]
    assert all(counts[i][j] == 0 for i in range(3) for j in range(3) if i != j)  # every case decided as expected


def test_policy_test_fails_on_a_wrong_fixture_and_a_broken_policy(tmp_path):
    fixtures = yaml.safe_load((POLICIES_DIR / "fixtures" / "default.yaml").read_text())
    fixtures["cases"][0]["expect"]["action"] = "reject"
    bad_fixtures = tmp_path / "fx.yaml"
    bad_fixtures.write_text(yaml.safe_dump(fixtures))
    result = RUNNER.invoke(app, ["test", "--fixtures", str(bad_fixtures)])
    assert result.exit_code == 1
    assert "FAIL campaign_clean" in result.output and "action 'publish_labeled_preview' != expected 'reject'" in result.output

    policy = yaml.safe_load((POLICIES_DIR / "default.yaml").read_text())
    policy["rules"][0]["action"] = "delete"
    bad_policy = tmp_path / "default.yaml"
    bad_policy.write_text(yaml.safe_dump(policy))
    result = RUNNER.invoke(app, ["test", str(bad_policy)])
    assert result.exit_code == 1 and "INVALID POLICY" in result.output and "allowed: publish_labeled_preview" in result.output


def test_policy_test_reports_rules_without_fixtures(tmp_path):
    policy = yaml.safe_load((POLICIES_DIR / "default.yaml").read_text())
    policy["rules"].append({"id": "NEW-001", "title": "t", "severity": "low", "message": "m", "action": "human_review",
                            "mode": "enforce", "when": {"field": "locale", "op": "eq", "value": "sv-SE"}})
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "default.yaml").write_text((POLICIES_DIR / "fixtures" / "default.yaml").read_text())
    (tmp_path / "default.yaml").write_text(yaml.safe_dump(policy))
    result = RUNNER.invoke(app, ["test", str(tmp_path / "default.yaml")])
    assert result.exit_code == 1 and "rules without a fixture: NEW-001" in result.output
