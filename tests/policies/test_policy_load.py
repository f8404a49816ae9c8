"""Loading policies: the packaged default, load-time errors naming allowed values, and the sha256."""

import copy
import hashlib

import pytest
import yaml

from policies.conditions import AnyOf, Leaf
from policies.load import DEFAULT_POLICY_PATH, PolicyError, load_policy

BASE = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_default_policy_loads():
    policy = load_policy()
    assert (policy.name, policy.version) == ("default", 2)
    assert [r.id for r in policy.rules] == [
        "TECH-001", "CLAIM-001", "LOGO-001", "DMG-001", "DETAIL-001", "DUP-001",
        "RISK-001", "RISK-002", "SAFE-001", "SAFE-002", "ALIGN-001", "MEM-001",
    ]
    assert policy.rules[0].when == AnyOf((Leaf("technical_failures", "nonempty"),))
    assert policy.rules[1].when == Leaf("claims_real_sku", "true")
    assert {"claims_real_sku", "has_logo", "asset_type", "technical_failures"} <= set(policy.required_fields)
    assert policy.sha256 == hashlib.sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()
    assert load_policy(str(DEFAULT_POLICY_PATH)) == policy


def _rule(**changes) -> dict:
    """A valid rule with some keys changed (a value of None removes the key)."""
    rule = {"id": "T-001", "title": "t", "severity": "low", "message": "m", "action": "reject", "mode": "enforce",
            "when": {"field": "has_logo", "op": "true"}}
    rule.update(changes)
    return {k: v for k, v in rule.items() if v is not None}


def _leaf_rule(**leaf) -> dict:
    """A valid rule whose condition is the given leaf."""
    return _rule(when=leaf)


@pytest.mark.parametrize(
    "edit, message",
    [
        # rule-level choices
        (lambda d: d["rules"].append(_rule(action="publish")), "'publish' is not allowed; allowed: publish_labeled_preview, human_review, reject"),
        (lambda d: d["rules"].append(_rule(mode="warn")), "'warn' is not allowed; allowed: enforce, audit"),
        (lambda d: d["rules"].append(_rule(severity="critical")), "allowed: low, medium, high"),
        (lambda d: d["rules"].append(_rule(id="TECH-001")), "duplicate rule id TECH-001"),
        (lambda d: d["rules"].append(_rule(id="tech1")), "must look like ABC-001"),
        (lambda d: d["rules"].append(_rule(mode=None)), r"missing key\(s\) mode"),
        (lambda d: d["rules"].append(_rule(acton="reject")), r"unknown key\(s\) acton; allowed: id, title"),
        (lambda d: d["rules"].append(_rule(title="")), "title: must be a non-empty string"),
        (lambda d: d["rules"].append(_rule(message="see {nope}")), r"unknown placeholder \{nope\}; allowed fields: sku"),
        (lambda d: d["rules"].append(_rule(message="a } b")), "unbalanced braces"),
        # leaves
        (lambda d: d["rules"].append(_leaf_rule(field="has_logo", op="is")), "unknown op 'is'; allowed: eq, ne, in, not_in, true"),
        (lambda d: d["rules"].append(_leaf_rule(field="logo", op="true")), "unknown field 'logo'; allowed: sku, title"),
        (lambda d: d["rules"].append(_leaf_rule(field="scores.clip", op="gt", value=1)), "unknown field 'scores.clip'.*scores.std_luma"),
        (lambda d: d["rules"].append(_leaf_rule(field="asset_type", op="eq", value="damage")),
         "value 'damage' not allowed for asset_type; allowed: campaign_background"),
        (lambda d: d["rules"].append(_leaf_rule(field="asset_type", op="in", value=["lifestyle_scene", "x"])), "value 'x' not allowed"),
        (lambda d: d["rules"].append(_leaf_rule(field="asset_type", op="in", value="lifestyle_scene")), "needs a non-empty list"),
        (lambda d: d["rules"].append(_leaf_rule(field="asset_type", op="in", value=[])), "needs a non-empty list"),
        (lambda d: d["rules"].append(_leaf_rule(field="asset_type", op="true")),
         r"op 'true' does not apply to asset_type \(str\); it applies to: bool"),
        (lambda d: d["rules"].append(_leaf_rule(field="has_logo", op="gt", value=0)), "op 'gt' does not apply to has_logo"),
        (lambda d: d["rules"].append(_leaf_rule(field="has_logo", op="eq", value="yes")), "value 'yes' is not a bool"),
        (lambda d: d["rules"].append(_leaf_rule(field="scores.sharpness", op="lt", value="10")), "value '10' is not a number"),
        (lambda d: d["rules"].append(_leaf_rule(field="scores.sharpness", op="lt")), "op 'lt' needs a value"),
        (lambda d: d["rules"].append(_leaf_rule(field="has_logo", op="true", value=True)), "op 'true' takes no value"),
        (lambda d: d["rules"].append(_leaf_rule(field="has_logo", op="true", extra=1)), r"unknown key\(s\) extra; a leaf has: field, op, value"),
        # combinators
        (lambda d: d["rules"].append(_rule(when={"any": []})), r"any: needs a non-empty list"),
        (lambda d: d["rules"].append(_rule(when={"all": {"field": "has_logo", "op": "true"}})), r"all: needs a non-empty list"),
        (lambda d: d["rules"].append(_rule(when={"any": [{"field": "has_logo", "op": "true"}], "field": "x"})), "'any' must be the only key"),
        (lambda d: d["rules"].append(_rule(when={"not": {"field": "has_logo", "op": "maybe"}})), r"when.not: unknown op 'maybe'"),
        (lambda d: d["rules"].append(_rule(when={"all": [{"any": [{"field": "nope", "op": "missing"}]}]})),
         r"when.all\[0\].any\[0\]: unknown field 'nope'"),
        (lambda d: d["rules"].append(_rule(when={})), "a condition is a mapping"),
        # policy level
        (lambda d: d.pop("required_fields"), r"missing key\(s\) required_fields"),
        (lambda d: d.update(rulez=[]), r"unknown key\(s\) rulez; allowed: policy, version"),
        (lambda d: d.update(rules=[]), "rules: must be a non-empty list"),
        (lambda d: d.update(version=0), "version: 0 must be a positive integer"),
        (lambda d: d.update(policy="Default Policy"), "must be a lowercase name"),
        (lambda d: d["required_fields"].append("scores.blur"), "required_fields: unknown field 'scores.blur'; allowed:"),
    ],
)
def test_load_errors(tmp_path, edit, message):
    data = copy.deepcopy(BASE)
    edit(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


@pytest.mark.parametrize("text", ["- just\n- a list\n", "policy: [unclosed\n", b"\xff\xfe"])
def test_unreadable_files_raise(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PolicyError):
        load_policy(path)


def test_bare_yaml_true_op_is_read_as_the_true_op(tmp_path):
    text = DEFAULT_POLICY_PATH.read_text().replace('op: "true"', "op: true")
    assert "op: true}" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    assert [r.when for r in load_policy(path).rules] == [r.when for r in load_policy().rules]


def test_sha256_changes_with_the_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(DEFAULT_POLICY_PATH.read_bytes())
    first = load_policy(path)
    assert first.sha256 == load_policy().sha256
    path.write_bytes(DEFAULT_POLICY_PATH.read_bytes() + b"# a comment changes the bytes\n")
    second = load_policy(path)
    assert second.sha256 != first.sha256
    assert second.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert second.rules == first.rules
