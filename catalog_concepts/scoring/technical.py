"""Technical scores of decoded images (blank, exposure clipping, over-saturation, blur) and their checks.

Scores are measurements only; the pass/fail limits live in `catalog_concepts/scoring/thresholds.yaml`
(see `catalog_concepts.scoring.thresholds.load_thresholds`) and are applied by `technical_failures`.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from catalog.vocabulary import BACKGROUNDS

SCORER_VERSION = "technical/1"
SCORE_NAMES: tuple[str, ...] = (
    "std_luma",
    "clipped_dark_fraction",
    "clipped_bright_fraction",
    "mean_saturation",
    "p95_saturation",
    "sharpness",
)

# Part of the score definitions (changing them changes SCORER_VERSION), not thresholds:
# luma at or beyond these levels carries no recoverable detail.
CLIP_DARK_LUMA = 3.0
CLIP_BRIGHT_LUMA = 252.0
# Hue and saturation of near-black pixels are sensor/sampler noise ((10, 3, 5) has S = 0.7),
# so pixels darker than this value (V in [0, 1]) count as unsaturated.
SATURATION_MIN_VALUE = 0.1

# (check name, score, "min" | "max", thresholds key): one row per technical check.
CHECKS: tuple[tuple[str, str, str, str], ...] = (
    ("blank", "std_luma", "min", "std_luma_min"),
    ("clipped dark", "clipped_dark_fraction", "max", "clipped_dark_fraction_max"),
    ("clipped bright", "clipped_bright_fraction", "max", "clipped_bright_fraction_max"),
    ("over-saturated", "mean_saturation", "max", "mean_saturation_max"),
    ("over-saturated", "p95_saturation", "max", "p95_saturation_max"),
    ("blurry", "sharpness", "min", "sharpness_min"),
)
LIMIT_KEYS: tuple[str, ...] = tuple(check[3] for check in CHECKS)


def _check_images(images: np.ndarray, context: Sequence[Mapping]) -> None:
    """Raise unless images is uint8 (N, H, W, 3) with H, W >= 3 and one context entry per image."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 numpy array, got {type(images).__name__} {getattr(images, 'dtype', '')}")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] < 3 or images.shape[2] < 3:
        raise ValueError(f"images must have shape (N, H, W, 3) with H, W >= 3, got {images.shape}")
    if len(context) != images.shape[0]:
        raise ValueError(f"context has {len(context)} entries for {images.shape[0]} images; need one per image")


def luma(images: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in [0, 255] of uint8 RGB images (N, H, W, 3) -> (N, H, W) float32."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 Y' coefficients
    return images.astype(np.float32) @ weights  # (N, H, W)


def hsv_saturation(images: np.ndarray) -> np.ndarray:
    """HSV saturation (max - min) / max in [0, 1], zero for near-black pixels -> (N, H, W) float32."""
    rgb = images.astype(np.float32) / 255.0  # (N, H, W, 3)
    high = rgb.max(axis=-1)  # (N, H, W)  HSV value V
    low = rgb.min(axis=-1)  # (N, H, W)
    saturation = np.where(high >= SATURATION_MIN_VALUE, (high - low) / np.maximum(high, 1e-6), 0.0)
    return saturation.astype(np.float32)  # (N, H, W)


def laplacian_variance(y: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of luma (N, H, W) -> (N,); Pech-Pacheco et al. 2000 focus measure."""
    lap = (
        y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4.0 * y[:, 1:-1, 1:-1]
    )  # (N, H-2, W-2)  kernel [[0,1,0],[1,-4,1],[0,1,0]], valid region only
    return lap.reshape(lap.shape[0], -1).var(axis=1)  # (N,)


def score_technical(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
    """Score each uint8 (N, H, W, 3) image: luma spread, clipping, saturation and sharpness."""
    _check_images(images, context)
    n = images.shape[0]
    y = luma(images)  # (N, H, W)
    flat_y = y.reshape(n, -1)  # (N, H*W)
    sat = hsv_saturation(images).reshape(n, -1)  # (N, H*W)
    columns = {
        "std_luma": flat_y.std(axis=1),
        "clipped_dark_fraction": (flat_y <= CLIP_DARK_LUMA).mean(axis=1),
        "clipped_bright_fraction": (flat_y >= CLIP_BRIGHT_LUMA).mean(axis=1),
        "mean_saturation": sat.mean(axis=1),
        "p95_saturation": np.percentile(sat, 95.0, axis=1) if n else np.zeros(0),
        "sharpness": laplacian_variance(y),
    }  # each (N,)
    return [{name: float(columns[name][i]) for name in SCORE_NAMES} for i in range(n)]


def _limits_for(thresholds: Mapping[str, object], background: str | None) -> dict[str, float | None]:
    """The technical limits for one image: the defaults, overridden by its background's entry."""
    technical = thresholds.get("technical") if isinstance(thresholds, Mapping) else None
    if not isinstance(technical, Mapping):
        raise ValueError("thresholds must be the mapping returned by load_thresholds() (with a 'technical' section)")
    limits = {key: technical[key] for key in LIMIT_KEYS if key in technical}
    missing = [key for key in LIMIT_KEYS if key not in limits]
    if missing:
        raise ValueError(f"thresholds['technical'] lacks {', '.join(missing)}; required: {', '.join(LIMIT_KEYS)}")
    if background is not None:
        if background not in BACKGROUNDS:
            raise ValueError(f"unknown background {background!r}; allowed: {', '.join(BACKGROUNDS)} or None")
        overrides = technical.get("by_background") or {}
        limits.update(overrides.get(background) or {})
    return limits


def technical_failures(
    scores: Mapping[str, float], thresholds: Mapping[str, object], background: str | None = None
) -> list[str]:
    """Name each failed technical check, e.g. "blank: std_luma 0.8 < 2"; a missing or NaN score fails."""
    limits = _limits_for(thresholds, background)
    failures = []
    for check, name, kind, key in CHECKS:
        limit = limits[key]
        if limit is None:  # recorded only: the thresholds file says so explicitly
            continue
        value = scores.get(name) if isinstance(scores, Mapping) else None
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            failures.append(f"{check}: {name} missing")
            continue
        value = float(value)
        if math.isnan(value):
            failures.append(f"{check}: {name} is NaN")
        elif kind == "min" and not value >= limit:
            failures.append(f"{check}: {name} {value:.4g} < {limit:.4g}")
        elif kind == "max" and not value <= limit:
            failures.append(f"{check}: {name} {value:.4g} > {limit:.4g}")
    return failures
