"""The policy condition language: `all` / `any` / `not` over leaves `{field, op, value}`.

Evaluation is three-valued (Kleene logic): True, False, or None when a needed input is
missing, None, NaN or of the wrong type. `any` is True if one branch is True whatever
the others; `all` is False if one branch is False; otherwise an unknown branch makes the
result unknown, and the reasons say which inputs were missing. Only `missing` never is.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies.fields import FIELD_DOMAINS, FIELD_KINDS, KNOWN_FIELDS, checked_value, is_missing, lookup

# op -> field kinds it applies to; `value` is required exactly for VALUE_OPS.
OPS: dict[str, tuple[str, ...]] = {
    "eq": ("str", "bool", "number"),
    "ne": ("str", "bool", "number"),
    "in": ("str", "number"),
    "not_in": ("str", "number"),
    "true": ("bool",),
    "false": ("bool",),
    "lt": ("number",),
    "le": ("number",),
    "gt": ("number",),
    "ge": ("number",),
    "nonempty": ("str", "list"),
    "empty": ("str", "list"),
    "missing": ("str", "bool", "number", "list", "timestamp"),
}
VALUE_OPS = frozenset({"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge"})
COMBINATORS: tuple[str, ...] = ("all", "any", "not")
LEAF_KEYS: tuple[str, ...] = ("field", "op", "value")


class ConditionError(ValueError):
    """A condition in a policy file is malformed; the message names the allowed values."""


@dataclass(frozen=True)
class Leaf:
    """One test of one field, e.g. asset_type eq package_damage_mockup."""

    field: str
    op: str
    # Checked against the field's kind when the policy is loaded (a number for lt/le/gt/ge, a list
    # for in/not_in, ...), so the comparisons below are between values of the field's kind.
    value: Any = None


@dataclass(frozen=True)
class AllOf:
    """True when every item is true."""

    items: "tuple[Condition, ...]"


@dataclass(frozen=True)
class AnyOf:
    """True when at least one item is true."""

    items: "tuple[Condition, ...]"


@dataclass(frozen=True)
class Not:
    """True when the item is false."""

    item: "Condition"


Condition = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Outcome:
    """A condition's value (None = could not be evaluated) and the inputs that were missing or invalid."""

    value: bool | None
    problems: tuple[str, ...] = ()


def _value_matches_kind(value: object, kind: str) -> bool:
    """True when a literal from the policy file has the field's kind."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _parse_leaf(raw: dict, where: str) -> Leaf:
    """Check one leaf mapping against the known fields, ops and value kinds."""
    unknown = sorted(set(raw) - set(LEAF_KEYS))
    if unknown:
        raise ConditionError(f"{where}: unknown key(s) {', '.join(unknown)}; a leaf has: {', '.join(LEAF_KEYS)}")
    field, op = raw.get("field"), raw.get("op")
    if isinstance(op, bool):  # YAML reads a bare `op: true` as a boolean
        op = "true" if op else "false"
    if field not in FIELD_KINDS:
        raise ConditionError(f"{where}: unknown field {field!r}; allowed: {', '.join(KNOWN_FIELDS)}")
    if op not in OPS:
        raise ConditionError(f"{where}: unknown op {op!r}; allowed: {', '.join(OPS)}")
    kind = FIELD_KINDS[field]
    if kind not in OPS[op]:
        raise ConditionError(f"{where}: op {op!r} does not apply to {field} ({kind}); it applies to: {', '.join(OPS[op])}")
    if op not in VALUE_OPS:
        if "value" in raw:
            raise ConditionError(f"{where}: op {op!r} takes no value; ops with a value: {', '.join(sorted(VALUE_OPS))}")
        return Leaf(field, op)
    if "value" not in raw:
        raise ConditionError(f"{where}: op {op!r} needs a value")
    value = raw["value"]
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        raise ConditionError(f"{where}: op {op!r} needs a non-empty list value, got {value!r}")
    for item in values:
        if not _value_matches_kind(item, kind):
            raise ConditionError(f"{where}: value {item!r} is not a {kind} (field {field})")
        domain = FIELD_DOMAINS.get(field)
        if domain is not None and item not in domain:
            raise ConditionError(f"{where}: value {item!r} not allowed for {field}; allowed: {', '.join(domain)}")
    return Leaf(field, op, tuple(value) if op in ("in", "not_in") else value)


def parse_condition(raw: object, where: str = "when") -> Condition:
    """Parse a condition mapping from a policy file, raising ConditionError on anything unknown."""
    if not isinstance(raw, dict) or not raw:
        raise ConditionError(f"{where}: a condition is a mapping with one of {', '.join(COMBINATORS)} or field/op, got {raw!r}")
    combinators = [key for key in raw if key in COMBINATORS]
    if not combinators:
        return _parse_leaf(raw, where)
    if len(raw) != 1:
        raise ConditionError(f"{where}: {combinators[0]!r} must be the only key, found {', '.join(map(str, raw))}")
    key, body = next(iter(raw.items()))
    if key == "not":
        return Not(parse_condition(body, f"{where}.not"))
    if not isinstance(body, list) or not body:
        raise ConditionError(f"{where}.{key}: needs a non-empty list of conditions")
    items = tuple(parse_condition(item, f"{where}.{key}[{i}]") for i, item in enumerate(body))
    return AllOf(items) if key == "all" else AnyOf(items)


def _evaluate_leaf(leaf: Leaf, row: Mapping[str, object]) -> Outcome:
    """Apply one leaf's op to the row's value of its field."""
    raw = lookup(row, leaf.field)
    if leaf.op == "missing":
        return Outcome(is_missing(raw))
    value: Any
    value, problem = checked_value(leaf.field, raw)
    if problem:
        return Outcome(None, (problem,))
    match leaf.op:
        case "eq":
            return Outcome(value == leaf.value)
        case "ne":
            return Outcome(value != leaf.value)
        case "in":
            return Outcome(value in leaf.value)
        case "not_in":
            return Outcome(value not in leaf.value)
        case "true":
            return Outcome(value is True)
        case "false":
            return Outcome(value is False)
        case "lt":
            return Outcome(value < leaf.value)
        case "le":
            return Outcome(value <= leaf.value)
        case "gt":
            return Outcome(value > leaf.value)
        case "ge":
            return Outcome(value >= leaf.value)
        case "nonempty":
            return Outcome(len(value.strip() if isinstance(value, str) else value) > 0)
        case "empty":
            return Outcome(len(value.strip() if isinstance(value, str) else value) == 0)
    raise ConditionError(f"unknown op {leaf.op!r}; allowed: {', '.join(OPS)}")


def evaluate(condition: Condition, row: Mapping[str, object]) -> Outcome:
    """Evaluate a condition on a row with Kleene three-valued logic (None = unknown)."""
    match condition:
        case Leaf():
            return _evaluate_leaf(condition, row)
        case Not(item=item):
            inner = evaluate(item, row)
            return Outcome(None if inner.value is None else not inner.value, inner.problems)
        case AllOf(items=items) | AnyOf(items=items):
            decisive = isinstance(condition, AnyOf)  # the value that settles the result on its own
            outcomes = [evaluate(item, row) for item in items]
            if any(o.value is decisive for o in outcomes):
                return Outcome(decisive)
            unknown = [p for o in outcomes if o.value is None for p in o.problems]
            if unknown:
                return Outcome(None, tuple(dict.fromkeys(unknown)))
            return Outcome(not decisive)
    raise TypeError(f"not a condition: {condition!r}")
