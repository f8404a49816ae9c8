"""The seed chapter's governance scenarios, routed end to end by the nightly flow against the real local S3.

A campaign background with no claims is published as a labelled preview; a detail view claiming
the real SKU, a package-damage image and anything with a logo go to a person; an image failing
technical checks is rejected even when it also claims the real SKU.
"""

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from prefect.testing.utilities import prefect_test_harness

from catalog.schema import CATALOG_SCHEMA
from catalog_concepts.engine.tiny import build_tiny_pipeline
from catalog_concepts.provenance.xmp import read_xmp
from catalog_concepts.scoring.thresholds import DEFAULT_THRESHOLDS_PATH
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import boto3_client
from flows.nightly import nightly_campaign
from flows.resources import SHIPPED_MODEL_DIR

pytestmark = pytest.mark.slow

BASE = {
    "title": "Oslo Chair", "category": "chair", "color": "red", "material": "wood", "brand": "Nordvik",
    "description": "A sturdy chair.", "locale": "en-US", "claims_real_sku": False, "has_logo": False,
    "updated_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
}
SCENARIOS = {
    # A combination the shipped model draws recognisably (routing, not model quality, is under test).
    "BG": {"asset_type": "campaign_background", "category": "chair", "color": "teal", "material": "wood"},
    "DETAIL-REAL": {"asset_type": "product_detail_view", "claims_real_sku": True},
    "DAMAGE": {"asset_type": "package_damage_mockup", "category": "mug", "color": "yellow", "material": "ceramic"},
    "LOGO": {"asset_type": "lifestyle_scene", "has_logo": True, "category": "sofa", "color": "blue", "material": "fabric"},
}


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _catalog(path, scenarios) -> str:
    rows = [{**BASE, "sku": sku, **fields} for sku, fields in scenarios.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), path)
    return str(path)


def _rows_by_sku(s3) -> dict[str, list[dict]]:
    by_sku: dict[str, list[dict]] = {}
    for row in read_manifests(s3).to_pylist():
        by_sku.setdefault(row["sku"], []).append(row)
    return by_sku


def test_governance_scenarios_route_exactly(harness, s3_env, tmp_path):
    s3 = s3_env
    catalog = _catalog(tmp_path / "scenarios.parquet", SCENARIOS)
    summary = nightly_campaign(catalog_uri=catalog, model=str(SHIPPED_MODEL_DIR), variants_per_sku=2, seed=3)
    assert summary["status"] == "committed"
    rows = _rows_by_sku(s3)

    # Claims of the real product, real damage and logos always reach a person, never auto-publish.
    for sku, rule in (("DETAIL-REAL", "CLAIM-001"), ("DAMAGE", "DMG-001"), ("LOGO", "LOGO-001")):
        for row in rows[sku]:
            assert row["decision"] == "human_review" or "TECH-001" in row["rule_ids"], (sku, row["rule_ids"])
            assert rule in row["rule_ids"], (sku, row["rule_ids"])
    # The damage image is labelled as a mockup inside the file, not only in the manifest.
    damage = rows["DAMAGE"][0]
    body = boto3_client(s3).get_object(Bucket=s3.bucket, Key=damage["s3_uri"].split("/", 3)[3])["Body"].read()
    xmp = read_xmp(body)
    assert "package damage mockup" in xmp and "trainedAlgorithmicMedia" in xmp

    # The campaign background claims nothing: the shipped model's kept variants publish as labelled previews.
    background = rows["BG"]
    published = [row for row in background if row["decision"] == "publish_labeled_preview" and row["kept"]]
    assert published, [(row["decision"], row["rule_ids"], row["decision_reasons"]) for row in background]
    for row in published:
        assert row["s3_uri"].split("/", 3)[3].startswith("images/")
        assert row["review_status"] == "not_required"


def test_failing_technical_checks_reject_even_a_claimed_sku(harness, s3_env, tmp_path):
    s3 = s3_env
    # Thresholds no image can meet: every candidate fails the blank check.
    thresholds = yaml.safe_load(DEFAULT_THRESHOLDS_PATH.read_text())
    thresholds["technical"]["std_luma_min"] = 1000.0
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(thresholds))
    catalog = _catalog(tmp_path / "claim.parquet", {"DETAIL-REAL": SCENARIOS["DETAIL-REAL"], "BG": SCENARIOS["BG"]})
    model = build_tiny_pipeline(tmp_path / "tiny")
    summary = nightly_campaign(
        catalog_uri=catalog, model=str(model), thresholds_file=str(strict), variants_per_sku=1
    )
    for row in read_manifests(s3).to_pylist():
        assert row["decision"] == "reject" and "TECH-001" in row["rule_ids"]
        assert row["s3_uri"].split("/", 3)[3].startswith("rejected/")
        inputs = json.loads(row["policy_inputs"])
        assert any("blank" in failure for failure in inputs["technical_failures"])
    assert summary["decisions"] == {"reject": 2}
