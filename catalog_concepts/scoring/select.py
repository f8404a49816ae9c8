"""Keep the best m of a SKU's k candidates by a documented composite; give every other one a reason.

The composite and the eligibility bounds are defined in `catalog_concepts/scoring/selection.yaml` (read its
header). Ranking is deterministic: composite descending, then variant ascending.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from catalog_concepts.assets import packaged
from catalog_concepts.scoring.duplicates import hamming

DEFAULT_SELECTION_PATH = packaged("catalog_concepts.scoring", "selection.yaml")
CONFIG_KEYS: tuple[str, ...] = ("version", "keep", "require", "terms", "min_phash_distance", "variety_slack")
TERM_KEYS: tuple[str, ...] = ("weight", "worst", "best", "scale")
BOUND_KEYS: tuple[str, ...] = ("min", "max")
SCALES: tuple[str, ...] = ("linear", "log")
CANDIDATE_KEYS: tuple[str, ...] = ("sku", "variant", "decision", "scores", "technical_failures")


@dataclass(frozen=True)
class Term:
    """One composite term: score name, weight and the score values that map to 0 and 1."""

    score: str
    weight: float
    worst: float
    best: float
    scale: str


@dataclass(frozen=True)
class SelectionConfig:
    """A validated selection.yaml."""

    version: int
    keep: int
    require: dict[str, dict[str, float]]
    terms: tuple[Term, ...]
    min_phash_distance: int
    variety_slack: float  # composite points a later pick may give up for a more different look (0: best composite only)


@dataclass(frozen=True)
class Selection:
    """The verdict on one candidate: kept or not, its rank in its SKU (1 = best), composite and why dropped."""

    kept: bool
    rank: int
    composite: float
    drop_reason: str | None


def _number(where: str, value: object) -> float:
    """A finite number from the config, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _keys(where: str, found: object, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """Raise on a non-mapping, unknown or missing keys, listing the allowed ones."""
    if not isinstance(found, dict):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(allowed)}")
    unknown = sorted(map(str, set(found) - set(allowed)))
    missing = [k for k in required if k not in found]
    if unknown or missing:
        raise ValueError(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}; allowed: {', '.join(allowed)}")
    return found


def load_selection_config(path: str | Path | None = None) -> SelectionConfig:
    """Read and validate a selection YAML file (None = the packaged catalog_concepts/scoring/selection.yaml)."""
    path = Path(path) if path is not None else DEFAULT_SELECTION_PATH
    data = _keys(str(path), yaml.safe_load(path.read_text(encoding="utf-8")), CONFIG_KEYS, CONFIG_KEYS)
    keep = data["keep"]
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"{path}: keep must be an integer >= 1, got {keep!r}")
    distance = data["min_phash_distance"]
    if isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= 64:
        raise ValueError(f"{path}: min_phash_distance must be an integer in 0..64, got {distance!r}")
    require_raw, terms_raw = data["require"] or {}, data["terms"]
    if not isinstance(require_raw, dict) or not isinstance(terms_raw, dict):
        raise ValueError(f"{path}: require and terms must be mappings of score name -> settings")
    require = {}
    for name, bound in require_raw.items():
        bound = _keys(f"{path}: require.{name}", bound, BOUND_KEYS, ())
        if not bound:
            raise ValueError(f"{path}: require.{name} needs min and/or max")
        require[str(name)] = {k: _number(f"{path}: require.{name}.{k}", v) for k, v in bound.items()}
    terms = []
    for name, raw in terms_raw.items():
        raw = _keys(f"{path}: terms.{name}", raw, TERM_KEYS, TERM_KEYS)
        term = Term(str(name), _number(f"{path}: terms.{name}.weight", raw["weight"]),
                    _number(f"{path}: terms.{name}.worst", raw["worst"]), _number(f"{path}: terms.{name}.best", raw["best"]),
                    raw["scale"])
        if term.scale not in SCALES:
            raise ValueError(f"{path}: terms.{name}.scale {term.scale!r} not allowed; allowed: {', '.join(SCALES)}")
        if term.weight <= 0 or term.worst == term.best or (term.scale == "log" and min(term.worst, term.best) <= 0):
            raise ValueError(f"{path}: terms.{name}: weight must be > 0, worst != best, and both > 0 on a log scale")
        terms.append(term)
    if not terms:
        raise ValueError(f"{path}: terms must name at least one score")
    slack = _number(f"{path}: variety_slack", data["variety_slack"])
    if not 0.0 <= slack <= 1.0:
        raise ValueError(f"{path}: variety_slack must be in 0..1 (composite points), got {slack!r}")
    return SelectionConfig(data["version"], keep, require, tuple(terms), distance, slack)


def _score(scores: object, name: str) -> float | None:
    """A finite score from a mapping or Parquet map pairs, else None."""
    if isinstance(scores, (list, tuple)):
        scores = dict(scores)
    value = scores.get(name) if isinstance(scores, Mapping) else None
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def term_value(term: Term, x: float) -> float:
    """The term's [0, 1] contribution of score x (see selection.yaml)."""
    f = math.log if term.scale == "log" else float
    x = max(x, 1e-12) if term.scale == "log" else x
    return min(1.0, max(0.0, (f(x) - f(term.worst)) / (f(term.best) - f(term.worst))))


def composite_score(scores: object, config: SelectionConfig) -> tuple[float, str | None]:
    """(composite, None), or (NaN, reason) when a term's score is missing or NaN."""
    total, weights = 0.0, 0.0
    for term in config.terms:
        x = _score(scores, term.score)
        if x is None:
            return math.nan, f"missing score: {term.score}"
        total += term.weight * term_value(term, x)
        weights += term.weight
    return total / weights, None


def _ineligible(candidate: Mapping, config: SelectionConfig) -> str | None:
    """Why a candidate may not be kept, or None."""
    if candidate["decision"] == "reject":
        return "rejected by policy"
    failures = candidate["technical_failures"]
    if failures is None or isinstance(failures, str) or not hasattr(failures, "__len__"):
        return "technical_failures missing"
    if len(failures):
        return "technical failure: " + "; ".join(map(str, failures))
    for name, bound in config.require.items():
        x = _score(candidate["scores"], name)
        if x is None:
            return f"missing score: {name}"
        if "min" in bound and x < bound["min"]:
            return f"{name} {x:.3g} < {bound['min']:.3g}"
        if "max" in bound and x > bound["max"]:
            return f"{name} {x:.3g} > {bound['max']:.3g}"
    return None


def select_variants(candidates: Sequence[Mapping], keep: int | None, config: SelectionConfig | None = None) -> list[Selection]:
    """One Selection per candidate (same order): the best `keep` eligible, non-near-copy variants of each SKU."""
    config = config if config is not None else load_selection_config()
    keep = config.keep if keep is None else keep
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be an integer >= 0, got {keep!r}")
    for i, c in enumerate(candidates):
        if not isinstance(c, Mapping) or any(k not in c for k in CANDIDATE_KEYS):
            raise ValueError(f"candidate {i} must be a mapping with keys {', '.join(CANDIDATE_KEYS)} (phash optional)")

    result: list[Selection | None] = [None] * len(candidates)
    by_sku: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        by_sku.setdefault(c["sku"], []).append(i)
    for indices in by_sku.values():
        eligible, dropped = [], []
        for i in indices:
            reason = _ineligible(candidates[i], config)
            composite, missing = composite_score(candidates[i]["scores"], config)
            reason = reason or missing
            (dropped if reason else eligible).append((i, composite, reason))
        eligible.sort(key=lambda e: (-e[1], candidates[e[0]]["variant"]))
        dropped.sort(key=lambda e: candidates[e[0]]["variant"])
        kept = _pick(candidates, eligible, keep, config)
        for rank, (i, composite, _) in enumerate(eligible, start=1):
            reason = None
            if i not in kept:
                near = _near_copy_of(candidates, i, kept, config.min_phash_distance)
                reason = (f"near-copy of kept variant {candidates[near]['variant']}" if near is not None
                          else f"not in the best {keep} (rank {rank})")
            result[i] = Selection(kept=reason is None, rank=rank, composite=composite, drop_reason=reason)
        for rank, (i, composite, reason) in enumerate(dropped, start=len(eligible) + 1):
            result[i] = Selection(kept=False, rank=rank, composite=composite, drop_reason=reason)
    return result


def _pick(candidates: Sequence[Mapping], eligible: Sequence[tuple[int, float, None]], keep: int, config: SelectionConfig) -> list[int]:
    """Greedy max-min variety: the best composite first; then, among the candidates within variety_slack
    of the best one left, the one farthest (pHash bits) from every kept variant. Near-copies never."""
    kept: list[int] = []
    while len(kept) < keep:
        left = [(i, c) for i, c, _ in eligible if i not in kept and _near_copy_of(candidates, i, kept, config.min_phash_distance) is None]
        if not left:
            break
        if not kept or config.variety_slack == 0:
            kept.append(left[0][0])
            continue
        window = [(i, c) for i, c in left if c >= left[0][1] - config.variety_slack]
        # Farthest from the kept set first; then the better composite; then the lower variant (window is in that order).
        kept.append(max(window, key=lambda e: (_distance_to(candidates, e[0], kept), e[1]))[0])
    return kept


def _distance_to(candidates: Sequence[Mapping], i: int, kept: Sequence[int]) -> int:
    """pHash bits from candidate i to its nearest kept candidate; -1 when a hash is missing (least preferred)."""
    mine = candidates[i].get("phash")
    others = [candidates[j].get("phash") for j in kept]
    if not mine or not all(others):
        return -1
    return min(hamming(mine, other) for other in others)


def _near_copy_of(candidates: Sequence[Mapping], i: int, kept: Sequence[int], max_bits: int) -> int | None:
    """The first kept candidate within max_bits pHash bits of candidate i (when both carry a phash), else None."""
    mine = candidates[i].get("phash")
    if not mine:
        return None
    for j in kept:
        other = candidates[j].get("phash")
        if other and hamming(mine, other) <= max_bits:
            return j
    return None
