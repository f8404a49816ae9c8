"""Load and check the scoring thresholds file (`catalog_concepts/scoring/thresholds.yaml`)."""

import math
from pathlib import Path

import yaml

from catalog.vocabulary import BACKGROUNDS
from catalog_concepts.assets import packaged
from catalog_concepts.scoring.technical import LIMIT_KEYS

DEFAULT_THRESHOLDS_PATH = packaged("catalog_concepts.scoring", "thresholds.yaml")
DUPLICATE_KEYS: tuple[str, ...] = ("within_sku_max_distance", "across_run_max_distance")
TOP_LEVEL_KEYS: tuple[str, ...] = ("version", "technical", "duplicates")


def _check_limit(where: str, value: object, *, nullable: bool) -> None:
    """Raise unless value is a finite number (or None where a limit may be recorded-only)."""
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        allowed = "a finite number or null" if nullable else "a finite number"
        raise ValueError(f"{where}: {value!r} is not {allowed}")


def _check_keys(where: str, found: dict, allowed: tuple[str, ...], *, required: bool) -> None:
    """Raise on unknown keys (and on missing ones when required), listing the allowed keys."""
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    missing = [key for key in allowed if key not in found]
    if required and missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}; required: {', '.join(allowed)}")


def load_thresholds(path: str | Path | None = None) -> dict:
    """Read and validate a thresholds YAML file (None = the packaged catalog_concepts/scoring/thresholds.yaml)."""
    path = Path(path) if path is not None else DEFAULT_THRESHOLDS_PATH
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    _check_keys(str(path), data, TOP_LEVEL_KEYS, required=True)

    technical = data["technical"]
    if not isinstance(technical, dict):
        raise ValueError(f"{path}: technical must be a mapping")
    overrides = technical.get("by_background") or {}
    _check_keys(f"{path}: technical", {k: v for k, v in technical.items() if k != "by_background"}, LIMIT_KEYS, required=True)
    for key in LIMIT_KEYS:
        _check_limit(f"{path}: technical.{key}", technical[key], nullable=True)
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: technical.by_background must be a mapping of background -> limits")
    _check_keys(f"{path}: technical.by_background", overrides, BACKGROUNDS, required=False)
    for background, limits in overrides.items():
        if not isinstance(limits, dict):
            raise ValueError(f"{path}: technical.by_background.{background} must be a mapping of limits")
        _check_keys(f"{path}: technical.by_background.{background}", limits, LIMIT_KEYS, required=False)
        for key, value in limits.items():
            _check_limit(f"{path}: technical.by_background.{background}.{key}", value, nullable=True)

    duplicates = data["duplicates"]
    if not isinstance(duplicates, dict):
        raise ValueError(f"{path}: duplicates must be a mapping")
    _check_keys(f"{path}: duplicates", duplicates, DUPLICATE_KEYS, required=True)
    for key in DUPLICATE_KEYS:
        value = duplicates[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
            raise ValueError(f"{path}: duplicates.{key} must be an integer in 0..64 (bits of a 64-bit pHash), got {value!r}")
    return data
