"""SQL over the committed manifests: DuckDB on the dataset read through pyarrow's S3 filesystem.

DuckDB's own httpfs extension would need a download; pyarrow already reads the
hive-partitioned manifests with the pinned schema (storage.manifest.read_manifests),
and DuckDB queries the Arrow table in place. Views: `manifests` (always) and
`quarantine` (quarantined catalog rows, read only when the SQL names it).
"""

from __future__ import annotations

import re

import pyarrow as pa

from storage.settings import S3Settings

# Questions analysts ask; each runs as-is (`query --example NAME`) and is documented in docs/manifest.md.
EXAMPLES: dict[str, str] = {
    "decisions_by_category_per_night": (
        "SELECT run_date, category, decision, count(*) AS images\n"
        "FROM manifests\n"
        "GROUP BY run_date, category, decision\n"
        "ORDER BY run_date, category, decision"
    ),
    "review_backlog": (
        "SELECT run_date, run_id, category, count(*) AS pending, min(created_at) AS oldest\n"
        "FROM manifests\n"
        "WHERE review_status = 'pending'\n"
        "GROUP BY run_date, run_id, category\n"
        "ORDER BY oldest"
    ),
    "compute_per_run": (
        "SELECT run_id, any_value(device_name) AS device, count(*) AS images,\n"
        "       round(sum(compute_seconds), 3) AS compute_seconds,\n"
        "       round(sum(compute_seconds) / count(*), 4) AS seconds_per_image,\n"
        "       sum(denoiser_evals) AS denoiser_evals\n"
        "FROM manifests\n"
        "GROUP BY run_id\n"
        "ORDER BY run_id"
    ),
    "images_per_model_version": (
        "SELECT model_id, left(weights_sha256, 12) AS weights, count(*) AS images,\n"
        "       count(DISTINCT run_id) AS runs, min(run_date) AS first_night, max(run_date) AS last_night\n"
        "FROM manifests\n"
        "GROUP BY model_id, weights\n"
        "ORDER BY last_night DESC, model_id"
    ),
    "unsigned_or_unstored": (
        "SELECT run_id, asset_id, s3_uri, c2pa_manifest_label\n"
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


def query(settings: S3Settings, sql: str) -> pa.Table:
    """Run one SQL statement over the views `manifests` (and `quarantine`); return an Arrow table."""
    import duckdb

    from storage.manifest import read_manifests

    if not isinstance(sql, str) or not sql.strip():
        raise ValueError(f"sql must be a non-empty SQL statement; or use an example: {', '.join(EXAMPLES)}")
    connection = duckdb.connect()
    try:
        connection.register("manifests", read_manifests(settings))
        if _QUARANTINE_RE.search(sql):
            connection.register("quarantine", read_quarantine(settings))
        # Analysts' SQL reads the registered views only: no local files, no network.
        connection.execute("SET enable_external_access = false")
        relation = connection.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    finally:
        connection.close()


def read_quarantine(settings: S3Settings) -> pa.Table:
    """Every quarantine/ Parquet file as one table, with run_date and run_id from its key."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    from storage.settings import arrow_filesystem

    filesystem = arrow_filesystem(settings)
    base = f"{settings.bucket}/quarantine"
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
