"""decide(): precedence, fail-closed on missing inputs, audit mode, rendered reasons."""

import math

import pytest
import yaml

from policies.decide import decide
from policies.load import load_policy

# Three rules, one per action, each keyed on its own flag; plus one audit rule.
PRECEDENCE_POLICY = {
    "policy": "precedence",
    "version": 1,
    "required_fields": [],
    "rules": [
        {"id": "PUB-001", "title": "p", "severity": "low", "message": "publish rule for {sku}",
         "when": {"field": "variant", "op": "eq", "value": 1}, "action": "publish_labeled_preview", "mode": "enforce"},
        {"id": "REV-001", "title": "r", "severity": "medium", "message": "review rule",
         "when": {"field": "has_logo", "op": "true"}, "action": "human_review", "mode": "enforce"},
        {"id": "REJ-001", "title": "x", "severity": "high", "message": "reject rule",
         "when": {"field": "claims_real_sku", "op": "true"}, "action": "reject", "mode": "enforce"},
        {"id": "AUD-001", "title": "a", "severity": "low", "message": "audit rule",
         "when": {"field": "duplicate_of", "op": "ge", "value": 0}, "action": "reject", "mode": "audit"},
    ],
}


@pytest.fixture(scope="module")
def precedence(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "precedence.yaml"
    path.write_text(yaml.safe_dump(PRECEDENCE_POLICY))
    return load_policy(path)


def _row(**changes) -> dict:
    row = {"sku": "S-1", "variant": 0, "has_logo": False, "claims_real_sku": False, "duplicate_of": -1}
    row.update(changes)
    return row


@pytest.mark.parametrize(
    "changes, action, rule_ids",
    [
        ({}, "publish_labeled_preview", ()),
        ({"variant": 1}, "publish_labeled_preview", ("PUB-001",)),
        ({"has_logo": True}, "human_review", ("REV-001",)),
        ({"variant": 1, "has_logo": True}, "human_review", ("PUB-001", "REV-001")),
        ({"claims_real_sku": True}, "reject", ("REJ-001",)),
        ({"has_logo": True, "claims_real_sku": True}, "reject", ("REV-001", "REJ-001")),
        ({"variant": 1, "has_logo": True, "claims_real_sku": True}, "reject", ("PUB-001", "REV-001", "REJ-001")),
    ],
)
def test_precedence(precedence, changes, action, rule_ids):
    decision = decide(precedence, _row(**changes))
    assert (decision.action, decision.rule_ids) == (action, rule_ids)
    assert len(decision.reasons) == len(rule_ids)


def test_reasons_are_rendered_messages(precedence):
    decision = decide(precedence, _row(variant=1, has_logo=True))
    assert decision.reasons == ("publish rule for S-1", "review rule")


@pytest.mark.parametrize(
    "changes, action, rule_ids, reason",
    [
        # an unknown publish rule still blocks auto-publishing
        ({"variant": None}, "human_review", ("PUB-001",), "missing input: variant (rule PUB-001)"),
        ({"variant": math.nan}, "human_review", ("PUB-001",), "missing input: variant (rule PUB-001)"),
        # an unknown review rule counts as matched
        ({"has_logo": None}, "human_review", ("REV-001",), "missing input: has_logo (rule REV-001)"),
        # an unknown reject rule counts as matched: its stricter action applies
        ({"claims_real_sku": None}, "reject", ("REJ-001",), "missing input: claims_real_sku (rule REJ-001)"),
        ({"claims_real_sku": "true"}, "reject", ("REJ-001",), "invalid input: claims_real_sku='true' (expected bool) (rule REJ-001)"),
    ],
)
def test_unknown_rules_fail_closed(precedence, changes, action, rule_ids, reason):
    decision = decide(precedence, _row(**changes))
    assert (decision.action, decision.rule_ids) == (action, rule_ids)
    assert reason in decision.reasons


@pytest.mark.parametrize(
    "changes, audit_rule_ids",
    [({}, ()), ({"duplicate_of": 0}, ("AUD-001",)), ({"duplicate_of": None}, ("AUD-001",))],
)
def test_audit_rules_are_recorded_but_never_change_the_action(precedence, changes, audit_rule_ids):
    decision = decide(precedence, _row(**changes))
    assert decision.action == "publish_labeled_preview"
    assert (decision.rule_ids, decision.reasons) == ((), ())
    assert decision.audit_rule_ids == audit_rule_ids


GOOD = {
    "sku": "S-1", "asset_type": "campaign_background", "claims_real_sku": False, "has_logo": False,
    "technical_failures": [], "duplicate_of": -1, "variant": 0, "model_closed_domain": True,
    "scores": {"std_luma": 40.0, "clipped_dark_fraction": 0.0, "clipped_bright_fraction": 0.0,
               "mean_saturation": 0.2, "p95_saturation": 0.7, "sharpness": 300.0,
               "risk_logo_terms": 0.0, "risk_real_claim": 0.0, "alignment": 0.9, "memorisation_nn_rms": 0.05},
}


def test_default_policy_publishes_a_clean_campaign_image():
    decision = decide(load_policy(), GOOD)
    assert decision.action == "publish_labeled_preview"
    assert (decision.rule_ids, decision.reasons, decision.audit_rule_ids) == ((), (), ())


@pytest.mark.parametrize("score", ["std_luma", "clipped_dark_fraction", "clipped_bright_fraction", "mean_saturation", "p95_saturation", "sharpness"])
@pytest.mark.parametrize("bad", [math.nan, None])
def test_default_policy_never_publishes_with_a_missing_score(score, bad):
    row = dict(GOOD, scores=dict(GOOD["scores"], **{score: bad}))
    decision = decide(load_policy(), row)
    assert decision.action == "human_review"
    assert decision.reasons == (f"missing input: scores.{score} (required_fields)",)


def test_default_policy_none_claims_goes_to_review():
    decision = decide(load_policy(), dict(GOOD, claims_real_sku=None))
    assert decision.action == "human_review"
    assert decision.rule_ids == ("CLAIM-001",)
    assert decision.reasons == (
        "missing input: claims_real_sku (required_fields)",
        "missing input: claims_real_sku (rule CLAIM-001)",
    )


def test_default_policy_with_an_empty_row_rejects():
    decision = decide(load_policy(), {})
    assert decision.action == "reject"  # TECH-001 cannot be evaluated and its action is reject
    assert decision.rule_ids == (
        "TECH-001", "CLAIM-001", "LOGO-001", "DMG-001", "DETAIL-001", "RISK-001", "RISK-002", "SAFE-002", "ALIGN-001",
    )
    assert decision.audit_rule_ids == ("DUP-001", "MEM-001")


def test_technical_failures_are_listed_in_the_reason():
    row = dict(GOOD, technical_failures=["blank: std_luma 0.8 < 2", "blurry: sharpness 0 < 10"])
    decision = decide(load_policy(), row)
    assert decision.reasons == ("failed technical checks: blank: std_luma 0.8 < 2; blurry: sharpness 0 < 10",)


def test_missing_placeholder_renders_as_missing():
    decision = decide(load_policy(), dict(GOOD, has_logo=True))  # GOOD has no brand
    assert decision.reasons == ("the real product carries a logo (brand: <missing>); a generated logo needs a rights review",)


def test_row_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        decide(load_policy(), [("sku", "S-1")])


def test_scored_images_flow_into_decisions():
    import numpy as np

    from catalog_concepts.scoring.technical import SCORE_NAMES, score_technical, technical_failures
    from catalog_concepts.scoring.thresholds import load_thresholds

    policy, thresholds = load_policy(), load_thresholds()
    assert {f"scores.{name}" for name in SCORE_NAMES} <= set(policy.required_fields)
    rng = np.random.default_rng(0)
    gray = np.full((64, 64, 3), 128, np.uint8)
    grain = rng.normal(0.0, 30.0, (64, 64, 1))  # (64, 64, 1) luma texture, low saturation
    textured = np.clip(np.array([150.0, 140.0, 130.0]) + grain, 0, 255).astype(np.uint8)
    images = np.stack([gray, textured])  # (2, 64, 64, 3)
    actions = []
    for scores in score_technical(images, [{"sku": "S-1", "variant": 0}, {"sku": "S-1", "variant": 1}]):
        row = dict(GOOD, scores=dict(GOOD["scores"], **scores), technical_failures=technical_failures(scores, thresholds))
        actions.append(decide(policy, row).action)
    assert actions == ["reject", "publish_labeled_preview"]


@pytest.mark.parametrize(
    "changes, action, rule_ids, audit_rule_ids",
    [
        ({}, "publish_labeled_preview", (), ()),
        ({"duplicate_of": 0}, "publish_labeled_preview", (), ("DUP-001",)),
        ({"scores.sharpness": math.nan}, "human_review", (), ()),
        ({"asset_type": "product_detail_view", "has_logo": True}, "human_review", ("LOGO-001", "DETAIL-001"), ()),
    ],
)
def test_worker_row_shape_with_flat_score_keys(changes, action, rule_ids, audit_rule_ids):
    """The shard worker passes catalog attributes plus flat `scores.<name>` keys, no sku/variant."""
    row = {name: GOOD[name] for name in ("asset_type", "claims_real_sku", "has_logo", "technical_failures", "duplicate_of", "model_closed_domain")}
    row.update({"category": "lamp", "color": "teal", "material": "metal", "brand": "Nordhavn", "locale": "en-US"})
    row.update({f"scores.{name}": value for name, value in GOOD["scores"].items()})
    row.update(changes)
    decision = decide(load_policy(), row)
    assert (decision.action, decision.rule_ids, decision.audit_rule_ids) == (action, rule_ids, audit_rule_ids)
    assert not any("<missing>" in reason for reason in decision.reasons)


def test_the_actions_are_the_three_verdicts():
    from policies.load import ACTIONS

    assert ACTIONS == ("publish_labeled_preview", "human_review", "reject")
