"""Prefect tasks of the human-review queue: read a decisions file, list the queue, ingest a batch, re-render sheets.

The nightly's modules never import this one: a worker runs flows/nightly.py as a script with flows/
first on sys.path, where flows/review.py would shadow the review package.
"""

from prefect import task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, lifetime_text
from catalog_concepts.reports.rerender import rerender_contact_sheets
from catalog_concepts.review.decisions import decisions_format, parse_decisions
from catalog_concepts.review.ingest import IngestResult, ingest_decisions
from catalog_concepts.review.log import read_review_log
from catalog_concepts.review.queue import awaiting_review, decided_index, manifest_index
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import S3Settings, boto3_client

KEY_REVIEWED_REPORT = "reviewed-contact-sheet"  # fixed: the UI's Artifacts page lists every re-rendered sheet


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=300)
def read_decisions_task(s3: S3Settings, uri: str) -> list[dict]:
    """Rows of a decisions file (CSV or Parquet) from a local path or an s3:// URI in our bucket."""
    file_format = decisions_format(uri)
    prefix = f"s3://{s3.bucket}/"
    if uri.startswith("s3://"):
        if not uri.startswith(prefix):
            raise ValueError(f"decisions file {uri!r} is not in the configured bucket {s3.bucket!r}")
        data = boto3_client(s3).get_object(Bucket=s3.bucket, Key=uri.removeprefix(prefix))["Body"].read()
    else:
        with open(uri, "rb") as handle:
            data = handle.read()
    return parse_decisions(data, file_format)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=300)
def pending_reviews_task(s3: S3Settings) -> list[dict]:
    """Images the policy sent to a person that nobody has decided yet."""
    return awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))


# No retries: a half-done ingest is finished by ingesting the same rows again (see catalog_concepts.review.ingest).
@task(cache_policy=NO_CACHE, timeout_seconds=1800)
def ingest_decisions_task(s3: S3Settings, rows: list[dict], source: str) -> IngestResult:
    """Check, promote and log one batch of decisions."""
    return ingest_decisions(s3, rows, source)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=900)
def rerender_reports_task(s3: S3Settings, runs: list[tuple[str, str]], link_seconds: int = DEFAULT_LINK_SECONDS) -> list[dict]:
    """Re-render the contact sheets of the (run_date, run_id) runs a review touched, with their review status."""
    reports = rerender_contact_sheets(s3, runs, expires_in_s=link_seconds)
    for report in reports:
        create_link_artifact(report.link, link_text=f"{report.uri} after review (link expires in {lifetime_text(report.expires_in_s)})",
                             key=KEY_REVIEWED_REPORT, description="Contact sheet re-rendered with review status")
    return [{"report_uri": r.uri, "report_link": r.link} for r in reports]
