"""Run a policy's fixture table: rows with the verdict each must get (conftest/kyverno style).

A fixture file holds `policy` (the policy name it tests), a `base` row and `cases`; each
case names itself, overrides base fields with `row` (a dotted key such as
`scores.sharpness` sets one nested score), removes fields listed in `unset`, and states
`expect`: `action`, `rule_ids`, optionally `audit_rule_ids` and `reasons_include`
(substrings that must appear in some reason).
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from policies.decide import Decision, decide
from policies.load import Policy, check_keys

FILE_KEYS: tuple[str, ...] = ("policy", "base", "cases")
CASE_KEYS: tuple[str, ...] = ("name", "row", "unset", "expect")
EXPECT_KEYS: tuple[str, ...] = ("action", "rule_ids", "audit_rule_ids", "reasons_include")


@dataclass(frozen=True)
class FixtureResult:
    """One fixture case: what was expected, what the policy decided, and every mismatch."""

    name: str
    expected_action: str
    expected_rule_ids: tuple[str, ...]
    decision: Decision
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when the decision matched every expectation."""
        return not self.problems


def _check_keys(where: str, found: object, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    """Raise on a non-mapping, then on unknown or missing keys (the policy loader's check)."""
    if not isinstance(found, dict):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(allowed)}")
    check_keys(where, found, allowed, required)


def build_row(base: dict, overrides: dict, unset: Sequence[str]) -> dict:
    """A deep copy of base with dotted or plain overrides applied and unset fields removed."""
    row = copy.deepcopy(base)
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if dot:
            row[head] = dict(row.get(head) or {}, **{rest: value})
        else:
            row[key] = copy.deepcopy(value)
    for key in unset:
        head, dot, rest = key.partition(".")
        if dot and isinstance(row.get(head), dict):
            row[head].pop(rest, None)
        else:
            row.pop(key, None)
    return row


def _compare(case: dict, decision: Decision) -> tuple[str, ...]:
    """Every way the decision differs from the case's expectations."""
    expect = case["expect"]
    problems = []
    if decision.action != expect["action"]:
        problems.append(f"action {decision.action!r} != expected {expect['action']!r}")
    if decision.rule_ids != tuple(expect["rule_ids"]):
        problems.append(f"rule_ids {list(decision.rule_ids)} != expected {expect['rule_ids']}")
    if "audit_rule_ids" in expect and decision.audit_rule_ids != tuple(expect["audit_rule_ids"]):
        problems.append(f"audit_rule_ids {list(decision.audit_rule_ids)} != expected {expect['audit_rule_ids']}")
    for text in expect.get("reasons_include", []):
        if not any(text in reason for reason in decision.reasons):
            problems.append(f"no reason contains {text!r}; reasons: {list(decision.reasons)}")
    return tuple(problems)


def run_fixtures(policy: Policy, fixtures_path: str | Path) -> list[FixtureResult]:
    """Decide every fixture case with the policy and report each case's mismatches."""
    path = Path(fixtures_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    _check_keys(str(path), data, FILE_KEYS, FILE_KEYS)
    if data["policy"] != policy.name:
        raise ValueError(f"{path}: fixtures are for policy {data['policy']!r}, not {policy.name!r}")
    if not isinstance(data["cases"], list) or not data["cases"]:
        raise ValueError(f"{path}: cases must be a non-empty list")
    results, names = [], set()
    for i, case in enumerate(data["cases"]):
        where = f"{path}: cases[{i}]"
        _check_keys(where, case, CASE_KEYS, ("name", "expect"))
        _check_keys(f"{where}.expect", case["expect"], EXPECT_KEYS, ("action", "rule_ids"))
        if case["name"] in names:
            raise ValueError(f"{where}: duplicate case name {case['name']!r}")
        names.add(case["name"])
        row = build_row(data["base"], case.get("row") or {}, case.get("unset") or [])
        decision = decide(policy, row)
        results.append(
            FixtureResult(
                name=case["name"],
                expected_action=case["expect"]["action"],
                expected_rule_ids=tuple(case["expect"]["rule_ids"]),
                decision=decision,
                problems=_compare(case, decision),
            )
        )
    return results


def uncovered_rule_ids(policy: Policy, results: Sequence[FixtureResult]) -> tuple[str, ...]:
    """Ids of the policy's rules that no fixture case saw match (enforce or audit)."""
    seen = {rule_id for r in results for rule_id in (*r.decision.rule_ids, *r.decision.audit_rule_ids)}
    return tuple(rule.id for rule in policy.rules if rule.id not in seen)
