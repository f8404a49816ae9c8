"""The fields a policy may judge, their kinds, and how a row's value is looked up and checked.

A judged row is one generated image: its catalog columns, `variant`, the technical scores
under `scores` (a mapping, or the list of (name, value) pairs a Parquet map column reads
back as), `technical_failures` (list of str) and `duplicate_of` (index of an earlier
near-duplicate, -1 for none), `model_closed_domain` (bool, from the model's card) and
the scores of every scorer. A score is named `scores.<name>`.
"""

import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from catalog.schema import CATALOG_SCHEMA
from catalog.vocabulary import ASSET_TYPES, CATEGORIES, LOCALES
from catalog_concepts.scoring.technical import SCORE_NAMES as TECHNICAL_SCORE_NAMES

# Scores of the other scorers (catalog_concepts/scoring/risk.py, alignment.py, safety.py, diversity.py,
# memorisation.py). Listed here rather than imported so this module stays free of torch.
MODEL_SCORE_NAMES: tuple[str, ...] = (
    "risk_logo_terms",
    "risk_real_claim",
    "align_category",
    "align_color",
    "align_background",
    "alignment",
    "clip_score",
    "safety_nsfw",
    "safety_margin",
    "phash_sku_min_distance",
    "phash_batch_min_distance",
    "memorisation_nn_rms",
)

KINDS: tuple[str, ...] = ("str", "bool", "number", "list", "timestamp")


def _kind_of(arrow_type: pa.DataType) -> str:
    """Policy kind of a catalog column's Arrow type."""
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    return "str"


# Field name -> kind. Add a scorer's SCORE_NAMES here when its scores should be judgeable.
FIELD_KINDS: dict[str, str] = {
    **{field.name: _kind_of(field.type) for field in CATALOG_SCHEMA},
    "variant": "number",
    "technical_failures": "list",
    "duplicate_of": "number",
    # True only when the generating model's card declares a closed, procedurally drawn
    # training domain (the embedded toy model); the policy decides what that excuses.
    "model_closed_domain": "bool",
    **{f"scores.{name}": "number" for name in (*TECHNICAL_SCORE_NAMES, *MODEL_SCORE_NAMES)},
}
KNOWN_FIELDS: tuple[str, ...] = tuple(FIELD_KINDS)

# Closed vocabularies: a policy value outside them is a typo (load error), and a row value
# outside them cannot be judged (fail closed). Colour and material are free text in the catalog.
FIELD_DOMAINS: dict[str, tuple[str, ...]] = {
    "asset_type": ASSET_TYPES,
    "category": CATEGORIES,
    "locale": LOCALES,
}


class _Absent:
    """Marker for a field the row does not have at all."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def lookup(row: Mapping[str, object], field: str) -> object:
    """The row's raw value for a field (a flat key wins over `scores.<name>` nesting), or ABSENT."""
    if field in row:
        return row[field]
    head, dot, rest = field.partition(".")
    if not dot or head not in row:
        return ABSENT
    nested = row[head]
    if isinstance(nested, (list, tuple)):  # a Parquet map column reads back as [(key, value), ...]
        nested = dict(nested)
    if not isinstance(nested, Mapping):
        return ABSENT
    return nested.get(rest, ABSENT)


def list_items(value: object) -> list | None:
    """The items of a list-valued field (a Python list or tuple, or the numpy array pandas gives), else None."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    return None


def is_missing(value: object) -> bool:
    """True for an absent field, None, NaN and pandas' NA/NaT."""
    if value is ABSENT or value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def checked_value(field: str, value: object) -> tuple[object, str | None]:
    """Normalise a present row value to its field's kind: (value, None) or (None, why it cannot be judged)."""
    kind = FIELD_KINDS[field]
    if is_missing(value):
        return None, f"missing input: {field}"
    bad = f"invalid input: {field}={value!r} (expected {kind})"
    if kind == "bool":
        return (bool(value), None) if isinstance(value, (bool, np.bool_)) else (None, bad)
    if kind == "number":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            return None, bad
        return float(value), None
    if kind == "list":
        if isinstance(value, (list, tuple, np.ndarray)):
            return list(value), None
        return None, bad
    if kind == "str":
        if not isinstance(value, str):
            return None, bad
        domain = FIELD_DOMAINS.get(field)
        if domain is not None and value not in domain:
            return None, f"invalid input: {field}={value!r} (allowed: {', '.join(domain)})"
        return value, None
    return value, None  # timestamp: only its presence is judged
