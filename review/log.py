"""The review log: one Parquet file per ingest under review_log/decided_date=<date>/<batch_id>.parquet.

Run manifests are committed once and never rewritten; a person's later verdict on an image
lives here instead, and readers join the two on asset_id.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pyarrow as pa

from storage.keys import check_run_date
from storage.publish import PutResult, put_if_absent
from storage.settings import S3Settings, arrow_filesystem

REVIEW_LOG_PREFIX = "review_log/"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
REVIEW_DECISIONS: tuple[str, ...] = ("approve", "reject")
_BATCH_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

REVIEW_LOG_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("asset_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_date", pa.date32(), nullable=False),
        pa.field("sku", pa.string(), nullable=False),
        pa.field("decision", pa.string(), nullable=False),
        pa.field("reviewer", pa.string(), nullable=False),
        pa.field("note", pa.string(), nullable=True),
        pa.field("source", pa.string(), nullable=False),  # decisions file URI, or "prefect-ui"
        pa.field("source_row", pa.int32(), nullable=True),  # 1-based data row in that file
        pa.field("review_s3_uri", pa.string(), nullable=False),
        pa.field("published_s3_uri", pa.string(), nullable=True),  # set for approvals
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("decided_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    metadata={"review_log_schema": "1"},
)


def review_log_key(decided_date: str | dt.date, batch_id: str) -> str:
    """Key of one ingest's log file: review_log/decided_date=<YYYY-MM-DD>/<batch_id>.parquet."""
    if not isinstance(batch_id, str) or not _BATCH_ID_RE.match(batch_id):
        raise ValueError(f"invalid batch_id {batch_id!r}: 1-64 chars of a-z, 0-9, '-'")
    return f"{REVIEW_LOG_PREFIX}decided_date={check_run_date(decided_date)}/{batch_id}.parquet"


def write_review_log(client, bucket: str, key: str, rows: list[dict]) -> PutResult:
    """PUT one ingest's decisions once (put_if_absent): the ingest's commit point."""
    import pyarrow.parquet as pq

    if not key.startswith(REVIEW_LOG_PREFIX) or not rows:
        raise ValueError(f"need a {REVIEW_LOG_PREFIX} key and at least one row, got {key!r} with {len(rows)} rows")
    table = pa.Table.from_pylist(rows, schema=REVIEW_LOG_SCHEMA)
    table.validate(full=True)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return put_if_absent(client, bucket, key, sink.getvalue(), PARQUET_CONTENT_TYPE)


def read_review_log(settings: S3Settings) -> pa.Table:
    """Every logged decision, with the pinned schema plus decided_date from the partition."""
    import pyarrow.dataset as ds
    from pyarrow import fs

    filesystem = arrow_filesystem(settings)
    base = f"{settings.bucket}/{REVIEW_LOG_PREFIX.rstrip('/')}"
    infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    paths = sorted(i.path for i in infos if i.type == fs.FileType.File and i.path.endswith(".parquet"))
    full_schema = REVIEW_LOG_SCHEMA.append(pa.field("decided_date", pa.date32()))
    if not paths:
        return full_schema.empty_table()
    partitioning = ds.partitioning(pa.schema([pa.field("decided_date", pa.date32())]), flavor="hive")
    # Explicit schema: discovery from the first file would drop columns later files add (FIELD-NOTES).
    dataset = ds.dataset(paths, schema=full_schema, filesystem=filesystem, format="parquet",
                         partitioning=partitioning, partition_base_dir=base)
    return dataset.to_table()
