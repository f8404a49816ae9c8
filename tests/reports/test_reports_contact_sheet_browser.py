"""The published contact sheet, opened from the real local S3 by its presigned link in headless chromium."""

import io
import shutil
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from catalog_concepts.provenance.xmp import labelled_png, xmp_packet
from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, publish_contact_sheet
from catalog_concepts.storage import keys
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import boto3_client

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing: run `make browser`")
RUN_ID = "2026-11-20-sheet"
DECISIONS = ["human_review", "publish_labeled_preview", "reject", "human_review", "publish_labeled_preview"]


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def _stored_rows(s3) -> list[dict]:
    """Five labelled colourful 32x32 PNGs under their decision's prefix, as manifest-like rows."""
    rng = np.random.default_rng(3)
    key_for = {"publish_labeled_preview": keys.image_key, "human_review": keys.review_key, "reject": keys.rejected_key}
    rows, items = [], []
    for i, decision in enumerate(DECISIONS):
        sku, variant = f"SKU-{i // 2}", i % 2
        asset = keys.asset_id(RUN_ID, sku, variant)
        pixels = np.zeros((32, 32, 3), dtype=np.uint8)  # (H, W, 3)
        pixels[:, :16] = rng.integers(0, 256, size=3)
        pixels[:, 16:] = rng.integers(0, 256, size=3)
        key = key_for[decision](RUN_ID, sku, variant)
        items.append((key, labelled_png(pixels, xmp_packet(system="t", system_version="t", prompt=sku, asset_id=asset)), "image/png", None))
        rows.append({
            "asset_id": asset, "sku": sku, "variant": variant, "decision": decision, "s3_uri": f"s3://{s3.bucket}/{key}",
            "scores": {"sharpness": 0.1 * i}, "rule_ids": [] if decision == "publish_labeled_preview" else ["R-TEST"],
            "decision_reasons": [] if decision == "publish_labeled_preview" else ["test reason"],
        })
    put_many(boto3_client(s3), s3.bucket, items)
    return rows


def test_contact_sheet_opens_from_its_presigned_link_and_is_not_blank(s3, tmp_path):
    rows = _stored_rows(s3)
    started = time.time()
    report = publish_contact_sheet(s3, "2026-11-20", RUN_ID, rows, {"SKU-0": "mug", "SKU-1": "lamp", "SKU-2": "bag"},
                                   manifest_uri=f"s3://{s3.bucket}/manifests/x.parquet")
    assert report.key == f"reports/run_date=2026-11-20/{RUN_ID}.html" and report.images_shown == len(DECISIONS)
    finished = time.time()
    query = parse_qs(urlsplit(report.link).query)
    # The link was signed somewhere between started and finished (publishing takes seconds under load)
    # and expires DEFAULT_LINK_SECONDS after that, never later.
    expires = int(query["Expires"][0])
    assert started - 1 <= expires - DEFAULT_LINK_SECONDS <= finished + 1

    # The page as the browser built it: every image present, decoded from its data URI.
    dom = _chromium(tmp_path, "--dump-dom", report.link).stdout.decode()
    assert dom.count('class="thumb"') == len(DECISIONS) and dom.count('class="thumb2x"') == len(DECISIONS)
    assert dom.count('class="decision"') == 3 and "R-TEST" in dom and "test reason" in dom

    # The screenshot is not blank: the thumbnails' colours are in it.
    shot = tmp_path / "sheet.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,1600", "--hide-scrollbars", report.link)
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"), dtype=np.float64)  # (H, W, 3)
    assert pixels.shape[:2] == (1600, 1000)
    assert pixels.std() > 20.0, f"screenshot looks blank (std {pixels.std():.1f})"
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7].astype(int)}
    print(f"screenshot {pixels.shape[1]}x{pixels.shape[0]}: pixel std {pixels.std():.1f}, {len(colours)} distinct colours (sampled)")
    assert len(colours) > 20

    # A wrong signature is refused by the store: the link, not the bucket, grants access.
    forged = report.link.replace("Signature=", "Signature=x")
    dom_forged = _chromium(tmp_path, "--dump-dom", forged).stdout.decode()
    assert 'class="thumb"' not in dom_forged
