"""Prefect task for the run's single commit point: the manifest PUT."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from catalog_concepts.provenance.confirm import unconfirmed_objects
from catalog_concepts.storage.manifest import commit_manifest, rows_to_table
from catalog_concepts.storage.settings import S3Settings, boto3_client


@task(retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NO_CACHE, timeout_seconds=600)
def commit_manifest_task(s3: S3Settings, key: str, rows: list[dict]) -> bool:
    """PUT the run's manifest if absent; True when this call committed the run."""
    return commit_manifest(boto3_client(s3), s3.bucket, key, rows_to_table(rows))


@task(retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE, timeout_seconds=1800)
def verify_run_task(s3: S3Settings, key: str, trust_anchor_pem: bytes | None, keep: frozenset[str] = frozenset()) -> dict:
    """Re-download and check every image the committed manifest names (retries cover S3 errors only); "kept": the verified bytes of keep."""
    from catalog_concepts.provenance.verify import verify_run

    report = verify_run(s3, key, trust_anchor_pem=trust_anchor_pem, keep=keep)
    failures = [{"asset_id": c.asset_id, "s3_uri": c.s3_uri, "problems": list(c.problems)} for c in report.failures]
    return {"ok": report.ok, "summary": report.summary(), "failures": failures[:20], "kept": report.kept}


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=600)
def confirm_objects_task(s3: S3Settings, rows: list[dict], etags: dict[str, str]) -> list[dict]:
    """After the commit: the rows whose object a LIST does not show as the bytes verified before it (ETag, size)."""
    return unconfirmed_objects(boto3_client(s3), s3.bucket, rows, etags)
