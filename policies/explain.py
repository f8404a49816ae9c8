"""Explain a verdict: every rule of a policy evaluated on one row, with the inputs it read.

`explain(policy, row)` is pure. `policy_row_for(manifest_row, ...)` rebuilds the row the
policy judged from a manifest row: the exact `policy_inputs` JSON when the manifest
carries that column, otherwise the catalog row (read from `catalog_uri` and checked
against `catalog_row_hash`), the manifest's scores, and the technical failures
recomputed with the thresholds file - each reconstruction is listed in `notes`.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from catalog.vocabulary import BACKGROUND_BY_ASSET_TYPE
from policies.conditions import AllOf, AnyOf, Condition, Leaf, Not, evaluate
from policies.decide import Decision, decide, render_message
from policies.fields import ABSENT, is_missing, list_items, lookup
from policies.load import Policy


@dataclass(frozen=True)
class RuleTrace:
    """One rule on one row: matched (True), not (False) or unknown (None), the inputs it read and why."""

    rule_id: str
    title: str
    mode: str
    action: str
    matched: bool | None
    inputs: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]
    message: str | None


@dataclass(frozen=True)
class Explanation:
    """A whole verdict: the decision, required-field status and every rule's trace."""

    policy_name: str
    policy_version: int
    policy_sha256: str
    decision: Decision
    required: tuple[tuple[str, str], ...]
    rules: tuple[RuleTrace, ...]
    notes: tuple[str, ...] = ()


def condition_fields(condition: Condition) -> tuple[str, ...]:
    """The fields a condition reads, in first-use order."""
    match condition:
        case Leaf(field=field):
            return (field,)
        case Not(item=item):
            return condition_fields(item)
        case AllOf(items=items) | AnyOf(items=items):
            return tuple(dict.fromkeys(f for item in items for f in condition_fields(item)))
    raise TypeError(f"not a condition: {condition!r}")


def value_text(value: object) -> str:
    """How an input value is shown: <missing> for absent/None/NaN, lists joined, floats to 4 significant digits."""
    if value is ABSENT or is_missing(value):
        return "<missing>" if value is ABSENT or value is None else f"<missing: {value!r}>"
    if isinstance(value, float):
        return f"{value:.4g}"
    items = list_items(value)
    if items is not None:
        return "[" + "; ".join(str(v) for v in items) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def explain(policy: Policy, row: Mapping[str, object], notes: tuple[str, ...] = ()) -> Explanation:
    """Evaluate every rule of the policy on the row and record what each read; the decision is decide()'s."""
    traces = []
    for rule in policy.rules:
        outcome = evaluate(rule.when, row)
        inputs = tuple((f, value_text(lookup(row, f))) for f in condition_fields(rule.when))
        traces.append(
            RuleTrace(rule.id, rule.title, rule.mode, rule.action, outcome.value, inputs, outcome.problems,
                      render_message(rule, row) if outcome.value is True else None)
        )
    required = tuple((f, value_text(lookup(row, f))) for f in policy.required_fields)
    return Explanation(policy.name, policy.version, policy.sha256, decide(policy, row), required, tuple(traces), notes)


def format_explanation(explanation: Explanation, recorded: Mapping[str, object] | None = None) -> str:
    """A readable report: verdict, recorded verdict (if given), required fields and each rule."""
    d = explanation.decision
    lines = [
        f"policy {explanation.policy_name} v{explanation.policy_version} (sha256 {explanation.policy_sha256[:12]})",
        f"verdict: {d.action}  rules: {', '.join(d.rule_ids) or '-'}  audit: {', '.join(d.audit_rule_ids) or '-'}",
    ]
    if recorded:
        lines.append(
            f"recorded: {recorded.get('decision')}  rules: {', '.join(map(str, list_items(recorded.get('rule_ids')) or [])) or '-'}"
            f"  policy sha256 {str(recorded.get('policy_sha256'))[:12]}"
        )
        if recorded.get("policy_sha256") != explanation.policy_sha256:
            lines.append("  note: the row was judged by a different policy file than this one")
        elif recorded.get("decision") != d.action:
            lines.append("  note: this evaluation differs from the recorded verdict (inputs reconstructed?)")
    lines += [f"note: {n}" for n in explanation.notes]
    missing = [f for f, v in explanation.required if v.startswith("<missing")]
    lines.append(f"required fields: {len(explanation.required) - len(missing)}/{len(explanation.required)} present"
                 + (f"; missing: {', '.join(missing)}" if missing else ""))
    for t in explanation.rules:
        state = {True: "MATCH", False: "no", None: "UNKNOWN"}[t.matched]
        lines.append(f"{t.rule_id} [{t.mode}, {t.action}] {state}: {t.title}")
        lines += [f"    {field} = {value}" for field, value in t.inputs]
        lines += [f"    ! {p}" for p in t.problems]
        if t.message:
            lines.append(f"    -> {t.message}")
    for reason in d.reasons:
        lines.append(f"reason: {reason}")
    return "\n".join(lines)


def find_manifest_row(table, asset_id: str, run_id: str | None = None) -> dict:
    """The one manifest row (as a dict) with this asset_id (and run_id); raise if none or several."""
    import pyarrow.compute as pc

    mask = pc.equal(table.column("asset_id"), asset_id)
    if run_id is not None:
        mask = pc.and_(mask, pc.equal(table.column("run_id"), run_id))
    rows = table.filter(mask).to_pylist()
    where = f"asset_id {asset_id!r}" + (f" in run {run_id!r}" if run_id else "")
    if not rows:
        raise LookupError(f"no manifest row with {where}")
    if len(rows) > 1:
        runs = sorted({r["run_id"] for r in rows})
        raise LookupError(f"{len(rows)} manifest rows with {where}; pick one with --run (runs: {', '.join(runs)})")
    return rows[0]


def _scores(value: object) -> dict:
    """A manifest scores map (dict or Parquet [(key, value), ...]) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    return dict(list_items(value) or [])


def policy_row_for(manifest_row: Mapping[str, object], *, catalog_filesystem=None, thresholds=None) -> tuple[dict, tuple[str, ...]]:
    """The row the policy judged for one manifest row, and notes on anything reconstructed or unavailable."""
    recorded = manifest_row.get("policy_inputs")
    if isinstance(recorded, str) and recorded:
        return json.loads(recorded), ()
    from catalog.reader import read_catalog
    from catalog.schema import catalog_row_hash
    from catalog_concepts.scoring.technical import technical_failures
    from catalog_concepts.scoring.thresholds import load_thresholds

    notes = ["the manifest has no policy_inputs column: inputs reconstructed from the catalog, scores and thresholds"]
    row: dict = {"sku": manifest_row["sku"], "variant": manifest_row["variant"]}
    try:
        catalog = read_catalog(str(manifest_row["catalog_uri"]), filesystem=catalog_filesystem, skus=[str(manifest_row["sku"])])
        matches = [r for r in catalog.to_pylist() if catalog_row_hash(r) == manifest_row["catalog_row_hash"]]
        if matches:
            row.update({k: v for k, v in matches[0].items() if k not in ("sku",)})
        else:
            notes.append(f"catalog {manifest_row['catalog_uri']} no longer holds this row (hash differs): catalog fields missing")
    except (OSError, ValueError) as error:
        notes.append(f"catalog {manifest_row['catalog_uri']} unreadable ({error}): catalog fields missing")
    scores = {k: v for k, v in _scores(manifest_row.get("scores")).items() if v is not None and math.isfinite(v)}
    row["scores"] = scores
    asset_type = str(manifest_row.get("template_id") or "").split("/")[0]
    background = BACKGROUND_BY_ASSET_TYPE.get(asset_type)
    row["technical_failures"] = technical_failures(scores, thresholds or load_thresholds(), background)
    notes.append("technical_failures recomputed with the current thresholds; duplicate_of and model_closed_domain not recorded")
    return row, tuple(notes)
