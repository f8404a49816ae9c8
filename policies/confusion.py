"""Confusion of policy decisions on a fixture table: expected action (rows) vs decided action (columns)."""

from collections.abc import Sequence

from policies.load import ACTIONS
from policies.run_fixtures import FixtureResult


def confusion_matrix(results: Sequence[FixtureResult]) -> dict[str, dict[str, int]]:
    """{expected action: {decided action: count}} over every action, zeros included."""
    matrix = {expected: {decided: 0 for decided in ACTIONS} for expected in ACTIONS}
    for r in results:
        matrix[r.expected_action][r.decision.action] += 1
    return matrix


def format_confusion(matrix: dict[str, dict[str, int]]) -> str:
    """The matrix as a fixed-width table (rows expected, columns decided)."""
    short = {"publish_labeled_preview": "publish", "human_review": "review", "reject": "reject"}
    lines = ["expected \\ decided " + "".join(f"{short[a]:>9}" for a in ACTIONS)]
    for expected in ACTIONS:
        lines.append(f"{short[expected]:<19}" + "".join(f"{matrix[expected][d]:>9}" for d in ACTIONS))
    return "\n".join(lines)
