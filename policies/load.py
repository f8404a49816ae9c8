"""Load a review policy YAML file into frozen rules, rejecting anything unknown at load time.

Every rule carries an id, title, severity, message, condition (`when`), action and
mode (enforce or audit), after conftest/kyverno. The Policy keeps the sha256 of the file
bytes so a manifest row names exactly which policy judged it.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from catalog_concepts.assets import packaged
from policies.conditions import Condition, ConditionError, parse_condition
from policies.fields import KNOWN_FIELDS

DEFAULT_POLICY_PATH = packaged("policies", "default.yaml")
# Strictest last: decide() takes the highest-ranked action of the matched enforce rules.
ACTIONS: tuple[str, ...] = ("publish_labeled_preview", "human_review", "reject")
MODES: tuple[str, ...] = ("enforce", "audit")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
POLICY_KEYS: tuple[str, ...] = ("policy", "version", "description", "required_fields", "rules")
REQUIRED_POLICY_KEYS: tuple[str, ...] = ("policy", "version", "required_fields", "rules")
RULE_KEYS: tuple[str, ...] = ("id", "title", "severity", "message", "when", "action", "mode")
RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*-\d{3}$")
POLICY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class PolicyError(ValueError):
    """A policy file is malformed; the message names the file, the rule and the allowed values."""


@dataclass(frozen=True)
class Rule:
    """One review rule: when its condition holds, its action applies (enforce) or is recorded (audit)."""

    id: str
    title: str
    severity: str
    message: str
    when: Condition
    action: str
    mode: str


@dataclass(frozen=True)
class Policy:
    """A loaded policy: its rules in file order, required fields, and the sha256 of its file."""

    name: str
    version: int
    rules: tuple[Rule, ...]
    required_fields: tuple[str, ...]
    sha256: str
    path: str


def check_keys(where: str, found: dict, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    """Raise on unknown or missing keys, listing the allowed ones."""
    unknown = sorted(map(str, set(found) - set(allowed)))
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    missing = [key for key in required if key not in found]
    if missing:
        raise PolicyError(f"{where}: missing key(s) {', '.join(missing)}; required: {', '.join(required)}")


def _check_choice(where: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return value if it is one of allowed, else raise naming them."""
    if value not in allowed:
        raise PolicyError(f"{where}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _check_text(where: str, value: object) -> str:
    """Return a non-empty string, else raise."""
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _parse_rule(raw: object, where: str) -> Rule:
    """Check and freeze one rule mapping."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: a rule is a mapping with keys {', '.join(RULE_KEYS)}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise PolicyError(f"{where}: rule id {rule_id!r} must look like ABC-001")
    where = f"{where} ({rule_id})"
    check_keys(where, raw, RULE_KEYS, RULE_KEYS)
    message = _check_text(f"{where}.message", raw["message"])
    for name in PLACEHOLDER.findall(message):
        if name not in KNOWN_FIELDS:
            raise PolicyError(f"{where}.message: unknown placeholder {{{name}}}; allowed fields: {', '.join(KNOWN_FIELDS)}")
    if PLACEHOLDER.sub("", message).count("{") or PLACEHOLDER.sub("", message).count("}"):
        raise PolicyError(f"{where}.message: unbalanced braces in {message!r}; placeholders look like {{field}}")
    try:
        when = parse_condition(raw["when"], f"{where}.when")
    except ConditionError as error:
        raise PolicyError(str(error)) from None
    return Rule(
        id=rule_id,
        title=_check_text(f"{where}.title", raw["title"]),
        severity=_check_choice(f"{where}.severity", raw["severity"], SEVERITIES),
        message=message,
        when=when,
        action=_check_choice(f"{where}.action", raw["action"], ACTIONS),
        mode=_check_choice(f"{where}.mode", raw["mode"], MODES),
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy YAML file (None = the packaged policies/default.yaml)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    data = path.read_bytes()
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise PolicyError(f"{path}: not a readable YAML file: {error}") from None
    where = str(path)
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping with keys {', '.join(REQUIRED_POLICY_KEYS)}")
    check_keys(where, raw, POLICY_KEYS, REQUIRED_POLICY_KEYS)
    name = raw["policy"]
    if not isinstance(name, str) or not POLICY_NAME.match(name):
        raise PolicyError(f"{where}.policy: {name!r} must be a lowercase name like 'default'")
    version = raw["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PolicyError(f"{where}.version: {version!r} must be a positive integer")
    required = raw["required_fields"]
    if not isinstance(required, list):
        raise PolicyError(f"{where}.required_fields: must be a list of field names (may be empty)")
    for field in required:
        if field not in KNOWN_FIELDS:
            raise PolicyError(f"{where}.required_fields: unknown field {field!r}; allowed: {', '.join(KNOWN_FIELDS)}")
    rules_raw = raw["rules"]
    if not isinstance(rules_raw, list) or not rules_raw:
        raise PolicyError(f"{where}.rules: must be a non-empty list of rules")
    rules = tuple(_parse_rule(item, f"{where}.rules[{i}]") for i, item in enumerate(rules_raw))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise PolicyError(f"{where}: duplicate rule id {rule.id}; every rule id must be unique")
        seen.add(rule.id)
    return Policy(
        name=name,
        version=version,
        rules=rules,
        required_fields=tuple(dict.fromkeys(required)),
        sha256=hashlib.sha256(data).hexdigest(),
        path=str(path),
    )
