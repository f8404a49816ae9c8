"""A committed run's rows for its report: the manifest's rows and each SKU's category from its catalog."""

import io
from collections import Counter

from catalog_concepts.storage.manifest import read_manifest_file
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem, boto3_client


def manifest_decision_counts(s3: S3Settings, manifest_uri: str) -> dict[str, int]:
    """Images per decision in a committed manifest (reads its decision column only)."""
    import pyarrow.parquet as pq

    body = boto3_client(s3).get_object(Bucket=s3.bucket, Key=_manifest_key(s3, manifest_uri))["Body"].read()
    decisions = pq.read_table(io.BytesIO(body), columns=["decision"]).column("decision").to_pylist()
    return dict(Counter(decisions))


def manifest_rows_and_categories(s3: S3Settings, manifest_uri: str) -> tuple[list[dict], dict[str, str]]:
    """A committed manifest's rows, and sku -> category from the catalog it was made from."""
    from catalog.reader import read_catalog

    key = _manifest_key(s3, manifest_uri)
    rows = read_manifest_file(boto3_client(s3).get_object(Bucket=s3.bucket, Key=key)["Body"].read(), key).to_pylist()
    for row in rows:
        # Arrow map columns come back as lists of (key, value) pairs; reports take dicts.
        row["scores"] = dict(row["scores"] or ())
        row["scorer_versions"] = dict(row["scorer_versions"] or ())
    if not rows:
        return [], {}
    if all(row.get("category") for row in rows):
        return rows, {}  # the manifest carries each SKU's category: no catalog read
    catalog_uri = rows[0]["catalog_uri"]
    filesystem = arrow_filesystem(s3) if catalog_uri.startswith("s3://") else None
    skus = sorted({row["sku"] for row in rows})
    catalog = read_catalog(catalog_uri, filesystem=filesystem, skus=skus)
    return rows, dict(zip(catalog.column("sku").to_pylist(), catalog.column("category").to_pylist(), strict=True))


def _manifest_key(s3: S3Settings, manifest_uri: str) -> str:
    """The object key of a manifest URI in this bucket; anything outside manifests/ is refused."""
    prefix = f"s3://{s3.bucket}/"
    if not manifest_uri.startswith(prefix + "manifests/"):
        raise ValueError(f"manifest URI {manifest_uri!r} is not under {prefix}manifests/")
    return manifest_uri.removeprefix(prefix)
