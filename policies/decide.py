"""Judge one generated image's row against a loaded policy; fail closed on missing inputs.

- The action is the strictest of the matched enforce rules (reject > human_review >
  publish_labeled_preview), `publish_labeled_preview` when none matches.
- A rule whose condition cannot be evaluated (a needed input is missing, None, NaN or
  invalid) counts as matched with at least `human_review`: its own action if stricter.
  A missing `required_fields` entry also means at least `human_review`. Either way the
  reason says "missing input: <field> (rule <id>)" - never a silent publish
  (Styra Rego style guide: a missing field must lead to deny).
- Audit rules that match (or cannot be evaluated) are recorded in `audit_rule_ids` only.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from policies.conditions import evaluate
from policies.fields import is_missing, list_items, lookup
from policies.load import ACTIONS, PLACEHOLDER, Policy, Rule

DEFAULT_ACTION = "publish_labeled_preview"
REVIEW_ACTION = "human_review"
ACTION_RANK: dict[str, int] = {action: rank for rank, action in enumerate(ACTIONS)}


@dataclass(frozen=True)
class Decision:
    """The verdict on one image: action, the enforce rules behind it, why, and audit-only matches."""

    action: str
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    audit_rule_ids: tuple[str, ...]


def _text(value: object) -> str:
    """How a field value reads inside a rule message."""
    if is_missing(value):
        return "<missing>"
    items = list_items(value)
    return str(value) if items is None else "; ".join(str(item) for item in items)


def render_message(rule: Rule, row: Mapping[str, object]) -> str:
    """The rule's message with each {field} replaced by the row's value."""
    return PLACEHOLDER.sub(lambda m: _text(lookup(row, m.group(1))), rule.message)


def _stricter(a: str, b: str) -> str:
    """The stricter of two actions."""
    return a if ACTION_RANK[a] >= ACTION_RANK[b] else b


def decide(policy: Policy, row: Mapping[str, object]) -> Decision:
    """Apply every rule of the policy to one row and return the fail-closed Decision."""
    if not isinstance(row, Mapping):
        raise TypeError(f"row must be a mapping of field -> value, got {type(row).__name__}")
    action = DEFAULT_ACTION
    rule_ids: list[str] = []
    reasons: list[str] = []
    audit_ids: list[str] = []

    # 1. Required inputs: without them nothing may be published automatically.
    for field in policy.required_fields:
        if is_missing(lookup(row, field)):
            action = _stricter(action, REVIEW_ACTION)
            reasons.append(f"missing input: {field} (required_fields)")

    # 2. Rules in file order; unknown outcomes count as matches, at least human_review.
    for rule in policy.rules:
        outcome = evaluate(rule.when, row)
        if outcome.value is False:
            continue
        if rule.mode == "audit":
            audit_ids.append(rule.id)
            continue
        rule_ids.append(rule.id)
        if outcome.value is True:
            action = _stricter(action, rule.action)
            reasons.append(render_message(rule, row))
        else:
            action = _stricter(action, _stricter(rule.action, REVIEW_ACTION))
            reasons.extend(f"{problem} (rule {rule.id})" for problem in outcome.problems)

    return Decision(action=action, rule_ids=tuple(rule_ids), reasons=tuple(reasons), audit_rule_ids=tuple(audit_ids))
