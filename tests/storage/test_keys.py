"""Object keys and asset ids: pure logic, parametrized tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from catalog_concepts.storage.keys import (
    asset_id,
    check_run_date,
    image_key,
    manifest_key,
    quarantine_key,
    rejected_key,
    review_key,
    sku_digest,
)

RUN = "run-2026-11-26.a_1"


def test_sku_digest_is_sha256_of_nfc_sku_first_24_hex() -> None:
    assert sku_digest("SKU-1") == hashlib.sha256(b"SKU-1").hexdigest()[:24]
    assert re.fullmatch(r"[0-9a-f]{24}", sku_digest("anything at all"))


def test_image_key_layout() -> None:
    digest = sku_digest("SKU-1")
    assert image_key(RUN, "SKU-1", 3) == f"images/run={RUN}/{digest[:2]}/{digest}/v3.png"
    assert review_key(RUN, "SKU-1", 0, ext="webp") == f"review/run={RUN}/{digest[:2]}/{digest}/v0.webp"
    assert rejected_key(RUN, "SKU-1", 2) == f"rejected/run={RUN}/{digest[:2]}/{digest}/v2.png"


@pytest.mark.parametrize(
    ("sku_a", "sku_b"),
    [
        ("caf\u00e9", "cafe\u0301"),  # NFC vs NFD
        ("\u00c5ngstr\u00f6m", "A\u030angstro\u0308m"),
        ("\ufb01le", "\ufb01le"),  # identical strings, trivially
    ],
)
def test_canonically_equal_skus_share_keys_and_ids(sku_a: str, sku_b: str) -> None:
    assert image_key(RUN, sku_a, 0) == image_key(RUN, sku_b, 0)
    assert review_key(RUN, sku_a, 0) == review_key(RUN, sku_b, 0)
    assert asset_id(RUN, sku_a, 0) == asset_id(RUN, sku_b, 0)


@pytest.mark.parametrize(
    ("sku_a", "sku_b"),
    [
        ("a//b", "a/b"),  # SeaweedFS folds these in raw keys; digests keep them apart
        ("a/./b", "a/b"),
        ("../etc", "etc"),
        ("SKU-1", "sku-1"),  # case matters: NFC is not case folding
        ("\ufb01le", "file"),  # NFKC would merge these; NFC must not
        ("x ", "x"),
    ],
)
def test_distinct_skus_get_distinct_keys(sku_a: str, sku_b: str) -> None:
    assert image_key(RUN, sku_a, 0) != image_key(RUN, sku_b, 0)
    assert asset_id(RUN, sku_a, 0) != asset_id(RUN, sku_b, 0)


@pytest.mark.parametrize("sku", ["a//b", "../../x", "./x", "with space", "emoji-\U0001f600", "a\x00b"])
def test_keys_never_contain_raw_sku_text(sku: str) -> None:
    key = image_key(RUN, sku, 1)
    assert re.fullmatch(rf"images/run={re.escape(RUN)}/[0-9a-f]{{2}}/[0-9a-f]{{24}}/v1\.png", key)


def test_manifest_and_quarantine_keys() -> None:
    assert manifest_key("2026-11-26", RUN) == f"manifests/run_date=2026-11-26/{RUN}.parquet"
    assert quarantine_key(dt.date(2026, 1, 2), RUN) == f"quarantine/run_date=2026-01-02/{RUN}.parquet"


@pytest.mark.parametrize(
    "run_id",
    ["", "-lead", ".hidden", "_x", "a/b", "a b", "a" * 81, "caf\u00e9", "..", "a\nb", None, 7],
)
def test_bad_run_id_is_rejected_naming_the_rule(run_id) -> None:
    with pytest.raises(ValueError, match="invalid run_id.*A-Z a-z 0-9"):
        image_key(run_id, "SKU", 0)
    with pytest.raises(ValueError, match="invalid run_id"):
        manifest_key("2026-01-01", run_id)
    with pytest.raises(ValueError, match="invalid run_id"):
        asset_id(run_id, "SKU", 0)


@pytest.mark.parametrize("run_id", ["a", "0", "A" * 80, "run_2026-11-26T10.00", "r.-_"])
def test_good_run_ids_pass(run_id: str) -> None:
    assert manifest_key("2026-11-26", run_id).endswith(f"/{run_id}.parquet")


@pytest.mark.parametrize(
    "run_date",
    ["2026-02-30", "20260101", "2026-1-1", "26-01-01", "2026-01-01T00:00", "", None,
     dt.datetime(2026, 1, 1), "2026-13-01"],
)
def test_bad_run_date_is_rejected(run_date) -> None:
    with pytest.raises(ValueError, match="invalid run_date.*YYYY-MM-DD"):
        manifest_key(run_date, RUN)
    with pytest.raises(ValueError, match="invalid run_date"):
        quarantine_key(run_date, RUN)


@pytest.mark.parametrize(("run_date", "expected"), [("2024-02-29", "2024-02-29"), (dt.date(2026, 3, 4), "2026-03-04")])
def test_good_run_dates(run_date, expected: str) -> None:
    assert check_run_date(run_date) == expected


@pytest.mark.parametrize("variant", [-1, 10000, True, 1.0, "1", None])
def test_bad_variant_is_rejected(variant) -> None:
    with pytest.raises(ValueError, match=r"invalid variant.*0\.\.9999"):
        image_key(RUN, "SKU", variant)


@pytest.mark.parametrize("ext", ["gif", "PNG", ".png", "png/../x", ""])
def test_bad_extension_is_rejected_listing_allowed(ext: str) -> None:
    with pytest.raises(ValueError, match="allowed png, jpg, webp"):
        image_key(RUN, "SKU", 0, ext=ext)


@pytest.mark.parametrize("sku", ["", None, 12])
def test_bad_sku_is_rejected(sku) -> None:
    with pytest.raises(ValueError, match="sku must be a non-empty string"):
        sku_digest(sku)


def test_asset_id_is_stable_and_depends_on_every_part() -> None:
    base = asset_id(RUN, "SKU-1", 0)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    assert base == asset_id(RUN, "SKU-1", 0)
    # Pinned value: changing the encoding would silently re-key every published asset.
    assert base == "c559f010f47393ccc7782ea5a55c0bef"
    others = {asset_id("other", "SKU-1", 0), asset_id(RUN, "SKU-2", 0), asset_id(RUN, "SKU-1", 1)}
    assert base not in others and len(others) == 3


def test_asset_id_framing_is_unambiguous() -> None:
    # Naive concatenation would hash "ax10" for both of each pair.
    assert asset_id("a", "x1", 0) != asset_id("a", "x", 10)
    assert asset_id("ax", "1", 0) != asset_id("a", "x1", 0)
