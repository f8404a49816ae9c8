"""The review log: one Parquet file per ingest under review_log/decided_date=<date>/<batch_id>.parquet.

Run manifests are committed once and never rewritten; a person's later verdict on an image
lives here instead, and readers join the two on asset_id.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pyarrow as pa

from catalog_concepts.storage.keys import check_run_date
from catalog_concepts.storage.publish import PutResult, put_if_absent
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem

REVIEW_LOG_PREFIX = "review_log/"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
REVIEW_DECISIONS: tuple[str, ...] = ("approve", "reject")
_BATCH_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

# What each column means; docs/review_log.md is generated from these (review.log_doc).
REVIEW_LOG_DOCS: dict[str, str] = {
    "batch_id": "Id of the ingest that logged the row: `b-` + a digest of its accepted decisions (a retried ingest writes the same key).",
    "asset_id": "The image decided on: the manifest row's asset_id (join key to `manifests`).",
    "run_id": "Run that made the image (copied from its manifest row).",
    "run_date": "Logical date of that run (copied from its manifest row; the file's own partition is decided_date).",
    "sku": "Catalog SKU of the image (copied from its manifest row).",
    "decision": "The reviewer's verdict: one of " + ", ".join(f"`{d}`" for d in REVIEW_DECISIONS) + ".",
    "reviewer": "Who decided, as written in the decisions file or the Prefect form.",
    "note": "The reviewer's free-text note; null when none was given.",
    "source": "Where the decision came from: the decisions file's URI, `prefect-ui` for the review form, or the command for a group "
              "decided from the shell (`cli:ops review approve --run <run_id> --rule <rule_id>`).",
    "source_row": "1-based data row of the decision in that file; null for the form.",
    "review_s3_uri": "s3:// URI of the reviewed bytes under review/ (the manifest's s3_uri).",
    "published_s3_uri": "s3:// URI under images/ the approval promoted the image to; null for rejections.",
    "sha256": "SHA-256 hex of the bytes the reviewer saw; promotion copies only these exact bytes.",
    "decided_at": "UTC time the ingest logged the decision.",
}
_REVIEW_LOG_TYPES: dict[str, pa.DataType] = {
    "batch_id": pa.string(), "asset_id": pa.string(), "run_id": pa.string(), "run_date": pa.date32(),
    "sku": pa.string(), "decision": pa.string(), "reviewer": pa.string(), "note": pa.string(),
    "source": pa.string(), "source_row": pa.int32(), "review_s3_uri": pa.string(),
    "published_s3_uri": pa.string(), "sha256": pa.string(), "decided_at": pa.timestamp("us", tz="UTC"),
}
_REVIEW_LOG_NULLABLE = {"note", "source_row", "published_s3_uri"}

# What the Parquet file holds; decided_date is the key's hive partition only, never in the file.
REVIEW_LOG_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, _REVIEW_LOG_TYPES[name], nullable=name in _REVIEW_LOG_NULLABLE) for name in REVIEW_LOG_DOCS],
    metadata={"review_log_schema": "1"},
)
PARTITION_DOC = "UTC date of the ingest: the hive partition decided_date=YYYY-MM-DD of the key, not stored in the file."
REVIEW_LOG_PARTITIONING_SCHEMA: pa.Schema = pa.schema([pa.field("decided_date", pa.date32())])


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
    return review_log_dataset(arrow_filesystem(settings), f"{settings.bucket}/{REVIEW_LOG_PREFIX.rstrip('/')}").to_table()


def review_log_dataset(filesystem, base: str):
    """A lazy pyarrow dataset of the log files under base (`bucket/review_log` or a local folder)."""
    import pyarrow.dataset as ds
    from pyarrow import fs

    base = base.rstrip("/")
    infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    paths = sorted(i.path for i in infos if i.type == fs.FileType.File and i.path.endswith(".parquet"))
    full_schema = REVIEW_LOG_SCHEMA.append(REVIEW_LOG_PARTITIONING_SCHEMA.field("decided_date"))
    partitioning = ds.partitioning(REVIEW_LOG_PARTITIONING_SCHEMA, flavor="hive")
    # Explicit schema: discovery from the first file would drop columns later files add.
    return ds.dataset(paths, schema=full_schema, filesystem=filesystem, format="parquet",
                      partitioning=partitioning, partition_base_dir=base)
