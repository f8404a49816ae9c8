"""SQL over the committed manifests and the review log: DuckDB scanning lazy pyarrow datasets.

DuckDB's own S3 reader (httpfs) would need an extension download; pyarrow already reads
S3, so each table is a pyarrow dataset registered in DuckDB. DuckDB hands the scan the
columns and filters the SQL names: a filter on run_date skips other nights' files unopened,
and only the columns asked for are read. Nothing is loaded before the query runs.

Tables: `manifests` (one row per candidate image), `review_log` (one row per human verdict),
`asset_status` (a view: each image's current state), and `quarantine` (quarantined catalog
rows, read only when the SQL names it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from catalog_concepts.review.log import REVIEW_LOG_PREFIX, review_log_dataset
from catalog_concepts.storage.manifest import manifest_dataset
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem

TABLES: tuple[str, ...] = ("manifests", "review_log", "asset_status", "quarantine")

# Each image's current state: `decision` is the policy's verdict and `kept` per-SKU selection's;
# status folds them with the latest human verdict. docs/review_log.md is generated from these.
ASSET_STATUSES: dict[str, str] = {
    "pending": "Waiting for a person: the policy said human_review, selection kept it, no verdict is logged yet.",
    "approved": "A reviewer approved it; it was promoted to images/ (s3_uri is the published copy).",
    "rejected": "The policy rejected it, or a reviewer did (decided_by says which); it is never published.",
    "published": "The policy published it (publish_labeled_preview) without a person.",
    "dropped": "Per-SKU selection dropped the candidate (kept = false): stored under rejected/ for audit, nobody reviews it.",
}
ASSET_STATUS_COLUMNS: dict[str, str] = {
    "run_date": "Logical date of the run that made the image (manifests).",
    "run_id": "Run that made the image.",
    "asset_id": "The image (one row per manifest row).",
    "sku": "Catalog SKU.",
    "variant": "Index of the candidate among its SKU's variants.",
    "category": "Catalog category of the SKU.",
    "decision": "The review policy's verdict (manifests.decision), unchanged by review.",
    "kept": "Whether per-SKU selection kept the candidate (null in rows from before selection: counted as kept).",
    "rule_ids": "Policy rules that fired.",
    "status": "Current state: " + ", ".join(f"`{s}`" for s in ASSET_STATUSES) + " (below).",
    "decided_by": "Who set the status: a reviewer's name, `policy`, or `selection`; null while pending.",
    "decided_at": "When: the verdict's decided_at, or the manifest row's created_at for policy and selection; null while pending.",
    "batch_id": "The review ingest that logged the verdict; null without one.",
    "note": "The reviewer's note; null without one.",
    "created_at": "When the manifest row was written (how long a pending image has waited).",
    "s3_uri": "Where the image is now: the published copy for approved images, else the manifest's s3_uri.",
}
# kept is null in rows written before selection existed: those count as kept.
ASSET_STATUS_SQL = """
CREATE VIEW asset_status AS
WITH latest AS (
    SELECT asset_id, decision AS verdict, reviewer, decided_at, batch_id, note, published_s3_uri
    FROM review_log
    QUALIFY row_number() OVER (PARTITION BY asset_id ORDER BY decided_at DESC, batch_id DESC) = 1
)
SELECT m.run_date, m.run_id, m.asset_id, m.sku, m.variant, m.category, m.decision, m.kept, m.rule_ids,
       CASE
           WHEN m.kept = false THEN 'dropped'
           WHEN l.verdict = 'approve' THEN 'approved'
           WHEN l.verdict = 'reject' THEN 'rejected'
           WHEN m.decision = 'publish_labeled_preview' THEN 'published'
           WHEN m.decision = 'reject' THEN 'rejected'
           ELSE 'pending'  -- human_review, or a verdict this view does not know: a person decides
       END AS status,
       CASE
           WHEN m.kept = false THEN 'selection'
           WHEN l.verdict IS NOT NULL THEN l.reviewer
           WHEN m.decision IN ('publish_labeled_preview', 'reject') THEN 'policy'
       END AS decided_by,
       CASE
           WHEN m.kept = false THEN m.created_at
           WHEN l.verdict IS NOT NULL THEN l.decided_at
           WHEN m.decision IN ('publish_labeled_preview', 'reject') THEN m.created_at
       END AS decided_at,
       l.batch_id, l.note, m.created_at,
       coalesce(l.published_s3_uri, m.s3_uri) AS s3_uri
FROM manifests AS m
LEFT JOIN latest AS l USING (asset_id)
"""

# Questions analysts ask; each runs as-is (`query --example NAME`) and is documented in docs/manifest.md.
# `decision` (the policy's verdict) and `kept` (per-SKU selection) are separate questions: a candidate
# selection dropped is counted as dropped, never as waiting for review.
EXAMPLES: dict[str, str] = {
    "decisions_by_category_per_night": (
        "SELECT run_date, category, decision,\n"
        "       count(*) FILTER (WHERE kept IS NOT FALSE) AS kept,\n"
        "       count(*) FILTER (WHERE kept = false) AS dropped_by_selection\n"
        "FROM manifests\n"
        "GROUP BY run_date, category, decision\n"
        "ORDER BY run_date, category, decision"
    ),
    "review_backlog": (
        "SELECT run_date, run_id, category, count(*) AS pending, min(created_at) AS oldest\n"
        "FROM asset_status\n"
        "WHERE status = 'pending'\n"
        "GROUP BY run_date, run_id, category\n"
        "ORDER BY oldest"
    ),
    "status_per_night": (
        "SELECT run_date, status, count(*) AS images\n"
        "FROM asset_status\n"
        "GROUP BY run_date, status\n"
        "ORDER BY run_date, status"
    ),
    "verdicts_by_reviewer": (
        "SELECT decided_date, reviewer, decision, count(*) AS images\n"
        "FROM review_log\n"
        "GROUP BY decided_date, reviewer, decision\n"
        "ORDER BY decided_date, reviewer, decision"
    ),
    "compute_per_run": (
        "SELECT run_id, any_value(device_name) AS device, count(*) AS images,\n"
        "       count(*) FILTER (WHERE kept IS NOT FALSE) AS kept,\n"
        "       round(sum(compute_seconds), 3) AS compute_seconds,\n"
        "       round(sum(compute_seconds) / count(*), 4) AS seconds_per_image,\n"
        "       sum(denoiser_evals) AS denoiser_evals\n"
        "FROM manifests\n"
        "GROUP BY run_id\n"
        "ORDER BY run_id"
    ),
    "images_per_model_version": (
        "SELECT model_id, left(weights_sha256, 12) AS weights, count(*) AS images,\n"
        "       count(*) FILTER (WHERE kept IS NOT FALSE) AS kept,\n"
        "       count(DISTINCT run_id) AS runs, min(run_date) AS first_night, max(run_date) AS last_night\n"
        "FROM manifests\n"
        "GROUP BY model_id, weights\n"
        "ORDER BY last_night DESC, model_id"
    ),
    "unsigned_or_unstored": (
        "SELECT run_id, asset_id, kept, s3_uri, c2pa_manifest_label\n"
        "FROM manifests\n"
        "WHERE c2pa_manifest_label IS NULL OR s3_uri IS NULL\n"
        "ORDER BY run_id, asset_id"
    ),
    "quarantine_reasons": (
        "SELECT run_date, reason, count(*) AS rows\n"
        "FROM (SELECT run_date, unnest(reasons) AS reason FROM quarantine)\n"
        "GROUP BY run_date, reason\n"
        "ORDER BY run_date, rows DESC"
    ),
}

_QUARANTINE_RE = re.compile(r"\bquarantine\b", re.IGNORECASE)
_QUARANTINE_KEY_RE = re.compile(r"quarantine/run_date=(\d{4}-\d{2}-\d{2})/([^/]+)\.parquet$")


class QueryError(ValueError):
    """DuckDB refused the SQL; the message carries DuckDB's words and the tables one can query."""


def query(settings: S3Settings, sql: str) -> pa.Table:
    """Run one SQL statement over manifests, review_log, asset_status (and quarantine); an Arrow table."""
    return query_at(arrow_filesystem(settings), settings.bucket, sql)


def query_at(filesystem, root: str, sql: str) -> pa.Table:
    """query() over any pyarrow filesystem: root holds manifests/, review_log/ and quarantine/."""
    import duckdb

    if not isinstance(sql, str) or not sql.strip():
        raise ValueError(f"sql must be a non-empty SQL statement; or use an example: {', '.join(EXAMPLES)}")
    with _connection(filesystem, root, with_quarantine=bool(_QUARANTINE_RE.search(sql))) as connection:
        try:
            relation = connection.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as error:
            raise QueryError(f"{error}\n\n{_tables_block(connection)}") from None


@contextmanager
def _connection(filesystem, root: str, with_quarantine: bool) -> Iterator:
    """A DuckDB connection with the tables registered and external access off."""
    import duckdb

    root = root.rstrip("/")
    connection = duckdb.connect()
    try:
        connection.register("manifests", manifest_dataset(filesystem, f"{root}/manifests"))
        connection.register("review_log", review_log_dataset(filesystem, f"{root}/{REVIEW_LOG_PREFIX.rstrip('/')}"))
        connection.execute(ASSET_STATUS_SQL)
        if with_quarantine:
            connection.register("quarantine", read_quarantine_at(filesystem, f"{root}/quarantine"))
        # Analysts' SQL reads the registered tables only: no local files, no network.
        connection.execute("SET enable_external_access = false")
        yield connection
    finally:
        connection.close()


def _tables_block(connection) -> str:
    """'Tables you can query:' and each table's columns, one line per table."""
    import duckdb

    lines = ["Tables you can query:"]
    for name in TABLES:
        try:
            columns = [row[0] for row in connection.sql(f"DESCRIBE {name}").fetchall()]
        except duckdb.Error:  # quarantine is registered only when the SQL names it
            columns = ["run_date", "run_id", "reasons", "...the quarantined catalog row's columns"]
        lines.append(f"  {name}: {', '.join(columns)}")
    return "\n".join(lines)


def read_quarantine(settings: S3Settings) -> pa.Table:
    """Every quarantine/ Parquet file as one table, with run_date and run_id from its key."""
    return read_quarantine_at(arrow_filesystem(settings), f"{settings.bucket}/quarantine")


def read_quarantine_at(filesystem, base: str) -> pa.Table:
    """read_quarantine over any pyarrow filesystem; quarantined rows are few, so they are read whole."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    tables = []
    for info in sorted((i for i in infos if i.type == fs.FileType.File), key=lambda i: i.path):
        match = _QUARANTINE_KEY_RE.search(info.path)
        if not match:
            continue
        table = pq.read_table(info.path, filesystem=filesystem)
        n = table.num_rows
        table = table.append_column("run_date", pa.array([match.group(1)] * n, pa.string()).cast(pa.date32()))
        tables.append(table.append_column("run_id", pa.array([match.group(2)] * n, pa.string())))
    if not tables:
        return pa.table({"run_date": pa.array([], pa.date32()), "run_id": pa.array([], pa.string()),
                         "reasons": pa.array([], pa.list_(pa.string()))})
    # Catalogs gain columns over time: unify, filling what older files lack with nulls.
    return pa.concat_tables(tables, promote_options="permissive")
