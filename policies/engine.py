"""The review-policy engine's public API in one import (callers: `from policies.engine import ...`)."""

from policies.decide import Decision, decide
from policies.load import ACTIONS, MODES, Policy, PolicyError, Rule, load_policy
from policies.run_fixtures import FixtureResult, run_fixtures

__all__ = [
    "ACTIONS",
    "MODES",
    "Decision",
    "FixtureResult",
    "Policy",
    "PolicyError",
    "Rule",
    "decide",
    "load_policy",
    "run_fixtures",
]
