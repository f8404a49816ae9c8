"""Object keys and asset ids: fixed prefixes, digests instead of raw catalog strings.

SeaweedFS folds `a//b` into `a/b` and refuses `../` (SeaweedFS 3.x), and AWS does
neither, so a key built from a raw sku could collide on one store and not the
other. Keys therefore carry a digest of the sku, never the sku itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
_RUN_ID_RE = re.compile(RUN_ID_PATTERN)
_RUN_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

IMAGE_EXTENSIONS: tuple[str, ...] = ("png", "jpg", "webp")
MAX_VARIANT = 9999
SKU_DIGEST_CHARS = 24
ASSET_ID_CHARS = 32


def sku_digest(sku: str) -> str:
    """First 24 hex chars of sha256 over the NFC-normalised sku."""
    # NFC: the same product typed on two keyboards (é vs e + U+0301) is one product.
    normalised = unicodedata.normalize("NFC", _check_sku(sku))
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:SKU_DIGEST_CHARS]


ASSET_AREAS: tuple[str, ...] = ("images", "review", "rejected")


def asset_key(area: str, run_id: str, sku: str, variant: int, ext: str = "png") -> str:
    """Key of an image in one of the ASSET_AREAS: <area>/run=<run_id>/<d[:2]>/<d>/v<variant>.<ext>."""
    if area not in ASSET_AREAS:
        raise ValueError(f"invalid asset area {area!r}: allowed {', '.join(ASSET_AREAS)}")
    return _asset_key(area, run_id, sku, variant, ext)


def image_key(run_id: str, sku: str, variant: int, ext: str = "png") -> str:
    """Key of a published image: images/run=<run_id>/<d[:2]>/<d>/v<variant>.<ext>."""
    return _asset_key("images", run_id, sku, variant, ext)


def review_key(run_id: str, sku: str, variant: int, ext: str = "png") -> str:
    """Key of an image held for human review: review/run=<run_id>/<d[:2]>/<d>/v<variant>.<ext>."""
    return _asset_key("review", run_id, sku, variant, ext)


def rejected_key(run_id: str, sku: str, variant: int, ext: str = "png") -> str:
    """Key of an image the review policy rejected, kept for audit (never published)."""
    return _asset_key("rejected", run_id, sku, variant, ext)


def manifest_key(run_date: str | dt.date, run_id: str) -> str:
    """Key of a run's manifest: manifests/run_date=<YYYY-MM-DD>/<run_id>.parquet."""
    return f"manifests/run_date={check_run_date(run_date)}/{check_run_id(run_id)}.parquet"


def quarantine_key(run_date: str | dt.date, run_id: str) -> str:
    """Key of a run's quarantined catalog rows: quarantine/run_date=<date>/<run_id>.parquet."""
    return f"quarantine/run_date={check_run_date(run_date)}/{check_run_id(run_id)}.parquet"


def asset_id(run_id: str, sku: str, variant: int) -> str:
    """Stable id of one generated image: sha256 hex[:32] of (run_id, NFC sku, variant)."""
    parts = [
        "asset-v1",
        check_run_id(run_id),
        unicodedata.normalize("NFC", _check_sku(sku)),
        check_variant(variant),
    ]
    # JSON framing makes the encoding unambiguous: ("a", "b|c") never meets ("a|b", "c").
    encoded = json.dumps(parts, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()[:ASSET_ID_CHARS]


def check_run_id(run_id: str) -> str:
    """Return run_id unchanged if it matches RUN_ID_PATTERN, else raise ValueError."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise ValueError(
            f"invalid run_id {run_id!r}: 1-80 chars of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return run_id


def check_run_date(run_date: str | dt.date) -> str:
    """Return run_date as 'YYYY-MM-DD' if it is a real ISO calendar date, else raise ValueError."""
    if isinstance(run_date, dt.date) and not isinstance(run_date, dt.datetime):
        return run_date.isoformat()
    if isinstance(run_date, str) and _RUN_DATE_RE.match(run_date):
        try:
            return dt.date.fromisoformat(run_date).isoformat()
        except ValueError:
            pass  # e.g. 2026-02-30: shaped right, not a date
    raise ValueError(f"invalid run_date {run_date!r}: expected an ISO date 'YYYY-MM-DD'")


def check_variant(variant: int) -> int:
    """Return variant if it is an int in 0..9999, else raise ValueError."""
    if isinstance(variant, bool) or not isinstance(variant, int) or not 0 <= variant <= MAX_VARIANT:
        raise ValueError(f"invalid variant {variant!r}: expected an int in 0..{MAX_VARIANT}")
    return variant


def _check_sku(sku: str) -> str:
    if not isinstance(sku, str) or not sku:
        raise ValueError(f"sku must be a non-empty string, got {sku!r}")
    return sku


def _asset_key(prefix: str, run_id: str, sku: str, variant: int, ext: str) -> str:
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"invalid image extension {ext!r}: allowed {', '.join(IMAGE_EXTENSIONS)}")
    digest = sku_digest(sku)
    # The 2-char fan-out keeps listings of one run's folder short.
    return f"{prefix}/run={check_run_id(run_id)}/{digest[:2]}/{digest}/v{check_variant(variant)}.{ext}"
