"""Every policy's fixture table gets exactly its expected verdicts, and covers every rule."""

from pathlib import Path

import pytest
import yaml

from policies.load import load_policy
from policies.run_fixtures import build_row, run_fixtures, uncovered_rule_ids

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
FIXTURE_FILES = sorted((POLICIES_DIR / "fixtures").glob("*.yaml"))


def _policy_for(fixtures: Path):
    """The policy file a fixture file is named after (fixtures/default.yaml -> default.yaml)."""
    return load_policy(POLICIES_DIR / fixtures.name)


def test_every_policy_has_fixtures():
    policies = {p.name for p in POLICIES_DIR.glob("*.yaml")}
    assert policies and policies == {f.name for f in FIXTURE_FILES}


@pytest.mark.parametrize("fixtures", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_table(fixtures):
    policy = _policy_for(fixtures)
    results = run_fixtures(policy, fixtures)
    failed = {r.name: r.problems for r in results if not r.passed}
    assert not failed
    assert len(results) >= 2 * len(policy.rules)


@pytest.mark.parametrize("fixtures", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixtures_cover_every_rule_and_every_action(fixtures):
    policy = _policy_for(fixtures)
    results = run_fixtures(policy, fixtures)
    assert uncovered_rule_ids(policy, results) == ()
    assert {r.decision.action for r in results} == {"publish_labeled_preview", "human_review", "reject"}


def test_default_routes_exactly_as_specified():
    results = {r.name: r for r in run_fixtures(load_policy(), POLICIES_DIR / "fixtures" / "default.yaml")}
    expected = {
        "campaign_clean": ("publish_labeled_preview", ()),
        "claims_real_sku": ("human_review", ("CLAIM-001",)),
        "has_logo": ("human_review", ("LOGO-001",)),
        "package_damage_mockup": ("human_review", ("DMG-001",)),
        "technical_failure_rejects": ("reject", ("TECH-001",)),
        "technical_failure_beats_claim": ("reject", ("TECH-001", "CLAIM-001")),
    }
    for name, (action, rule_ids) in expected.items():
        assert (results[name].decision.action, results[name].decision.rule_ids) == (action, rule_ids), name
    missing_score_cases = [n for n in results if "score" in n and ("nan" in n or "absent" in n or "no_scores" in n)]
    assert len(missing_score_cases) >= 3
    assert all(results[n].decision.action != "publish_labeled_preview" for n in missing_score_cases)


def test_a_wrong_expectation_is_reported(tmp_path):
    fixtures = yaml.safe_load((POLICIES_DIR / "fixtures" / "default.yaml").read_text())
    fixtures["cases"] = [
        {"name": "wrong", "row": {"has_logo": True}, "expect": {
            "action": "publish_labeled_preview", "rule_ids": [], "audit_rule_ids": ["DUP-001"],
            "reasons_include": ["no such text"]}},
    ]
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(fixtures))
    [result] = run_fixtures(load_policy(), path)
    assert not result.passed
    assert len(result.problems) == 4
    assert result.problems[0] == "action 'human_review' != expected 'publish_labeled_preview'"


@pytest.mark.parametrize(
    "content, message",
    [
        ({"policy": "other", "base": {}, "cases": [{"name": "a", "expect": {"action": "reject", "rule_ids": []}}]}, "not 'default'"),
        ({"policy": "default", "base": {}, "cases": []}, "non-empty"),
        ({"policy": "default", "base": {}}, "missing key.*cases"),
        ({"policy": "default", "base": {}, "cases": [{"name": "a", "expect": {"action": "reject"}}]}, "missing key.*rule_ids"),
        ({"policy": "default", "base": {}, "cases": [{"name": "a", "expct": {}}]}, "unknown key.*expct"),
        ({"policy": "default", "base": {}, "cases": [{"name": "a", "expect": {"action": "reject", "rule_ids": []}}] * 2}, "duplicate case"),
    ],
)
def test_malformed_fixture_files_raise(tmp_path, content, message):
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ValueError, match=message):
        run_fixtures(load_policy(), path)


@pytest.mark.parametrize(
    "overrides, unset, expected",
    [
        ({}, [], {"a": 1, "scores": {"x": 1.0, "y": 2.0}}),
        ({"scores.x": 5.0}, [], {"a": 1, "scores": {"x": 5.0, "y": 2.0}}),
        ({"scores": {"z": 0.0}}, [], {"a": 1, "scores": {"z": 0.0}}),
        ({}, ["scores.y", "a"], {"scores": {"x": 1.0}}),
        ({"b": None}, ["nope"], {"a": 1, "b": None, "scores": {"x": 1.0, "y": 2.0}}),
    ],
)
def test_build_row_table(overrides, unset, expected):
    base = {"a": 1, "scores": {"x": 1.0, "y": 2.0}}
    assert build_row(base, overrides, unset) == expected
    assert base == {"a": 1, "scores": {"x": 1.0, "y": 2.0}}  # base is never mutated
