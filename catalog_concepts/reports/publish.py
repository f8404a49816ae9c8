"""Publishing a run's contact sheet beside its manifest and handing out a presigned link to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from catalog_concepts.reports.contact_sheet import DEFAULT_MAX_THUMBNAILS, contact_sheet_html, thumbnail_order
from catalog_concepts.storage.keys import check_run_date, check_run_id
from catalog_concepts.storage.publish import ObjectConflictError, put_if_absent
from catalog_concepts.storage.settings import S3Settings, boto3_client

# A nightly's link is read the next working day, often hours after the 02:00 run and by reviewers in
# other time zones; 24 hours keeps the link in the newest run's artifact valid until the next nightly
# prints a fresh one. A leaked link shows one run's thumbnails, never the bucket.
DEFAULT_LINK_SECONDS = 24 * 3600
MAX_LINK_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
HTML_CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class PublishedReport:
    """Where the contact sheet is stored and a presigned GET link to it."""

    key: str
    uri: str
    link: str
    expires_in_s: int
    images_shown: int


def report_key(run_date: str, run_id: str) -> str:
    """reports/run_date=<YYYY-MM-DD>/<run_id>.html (the manifest's partition layout)."""
    return f"reports/run_date={check_run_date(run_date)}/{check_run_id(run_id)}.html"


def presigned_link(s3: S3Settings, key: str, expires_in_s: int = DEFAULT_LINK_SECONDS) -> str:
    """A presigned GET URL for key that expires after expires_in_s (at most 7 days)."""
    if isinstance(expires_in_s, bool) or not isinstance(expires_in_s, int) or not 1 <= expires_in_s <= MAX_LINK_SECONDS:
        raise ValueError(f"expires_in_s must be an int in 1..{MAX_LINK_SECONDS}, got {expires_in_s!r}")
    client = boto3_client(s3)
    return client.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=expires_in_s)


def lifetime_text(seconds: int) -> str:
    """A link lifetime as people read it: '24 h', '15 min'."""
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{max(1, seconds // 60)} min"


def fetch_images(s3: S3Settings, rows: Sequence[Mapping], asset_ids: set[str], threads: int = 8) -> dict[str, bytes]:
    """The stored bytes of the chosen assets, by asset id (GETs on a small thread pool)."""
    client = boto3_client(s3)
    prefix = f"s3://{s3.bucket}/"
    wanted = [r for r in rows if r["asset_id"] in asset_ids and (r.get("s3_uri") or "").startswith(prefix)]

    def get(row: Mapping) -> tuple[str, bytes]:
        key = row["s3_uri"].removeprefix(prefix)
        return row["asset_id"], client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()

    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(threads, len(wanted)), thread_name_prefix="s3get") as pool:
        return dict(pool.map(get, wanted))


def publish_contact_sheet(
    s3: S3Settings,
    run_date: str,
    run_id: str,
    rows: Sequence[Mapping],
    category_by_sku: Mapping[str, str],
    manifest_uri: str | None = None,
    max_thumbnails: int = DEFAULT_MAX_THUMBNAILS,
    expires_in_s: int = DEFAULT_LINK_SECONDS,
    images: Mapping[str, bytes] | None = None,
    verdicts: Mapping[str, Mapping] | None = None,
) -> PublishedReport:
    """Render the run's contact sheet, store it under reports/, and presign a link to it.

    images: bytes already at hand by asset id (the run's verification keeps those it checked);
    only the shown images missing from it are downloaded. verdicts: the review log's latest row
    per asset id, for a sheet re-rendered after a review.
    """
    key = report_key(run_date, run_id)
    shown = thumbnail_order(rows, max_thumbnails, verdicts)
    at_hand = {asset: body for asset, body in (images or {}).items() if asset in shown}
    images = {**at_hand, **fetch_images(s3, rows, shown - set(at_hand))}
    links = {"manifest": manifest_uri} if manifest_uri else {}
    page = contact_sheet_html(f"Run {run_id} ({run_date})", rows, images, category_by_sku, links,
                              verdicts=verdicts, run_id=run_id)
    # The page is a pure function of the committed rows and the review log, so a retry stores identical
    # bytes. A page that differs was made before a review (or for an earlier commit of this run id
    # whose manifest was deleted to regenerate it): the report is a view of the manifest and the log,
    # not evidence, so it follows them.
    client = boto3_client(s3)
    try:
        put_if_absent(client, s3.bucket, key, page.encode("utf-8"), HTML_CONTENT_TYPE)
    except ObjectConflictError:
        client.put_object(Bucket=s3.bucket, Key=key, Body=page.encode("utf-8"), ContentType=HTML_CONTENT_TYPE)
    return PublishedReport(
        key=key, uri=f"s3://{s3.bucket}/{key}", link=presigned_link(s3, key, expires_in_s),
        expires_in_s=expires_in_s, images_shown=len(images),
    )
