"""publish_contact_sheet: images already at hand are shown as given; only the missing ones are downloaded."""

import base64

from catalog_concepts.reports.publish import publish_contact_sheet
from catalog_concepts.storage import keys
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import boto3_client

RUN_ID = "2026-11-20-athand"


def test_images_at_hand_are_not_downloaded_again_and_the_rest_are(s3):
    rows, items = [], []
    for variant in range(3):
        asset = keys.asset_id(RUN_ID, "SKU-0", variant)
        key = keys.review_key(RUN_ID, "SKU-0", variant)
        items.append((key, f"stored-{variant}".encode(), "image/png", None))
        rows.append({"asset_id": asset, "sku": "SKU-0", "variant": variant, "decision": "human_review",
                     "s3_uri": f"s3://{s3.bucket}/{key}", "scores": {}, "rule_ids": [], "decision_reasons": []})
    put_many(boto3_client(s3), s3.bucket, items)
    # Variant 0 is at hand (as verification kept it); an asset of no row is ignored.
    at_hand = {rows[0]["asset_id"]: b"verified-0", "not-a-row": b"stray"}

    report = publish_contact_sheet(s3, "2026-11-20", RUN_ID, rows, {}, images=at_hand)

    page = boto3_client(s3).get_object(Bucket=s3.bucket, Key=report.key)["Body"].read().decode()
    shown = {body for body in (b"verified-0", b"stored-0", b"stored-1", b"stored-2", b"stray") if base64.b64encode(body).decode() in page}
    assert shown == {b"verified-0", b"stored-1", b"stored-2"} and report.images_shown == 3
