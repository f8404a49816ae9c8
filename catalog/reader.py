"""Stream a catalog Parquet file batch by batch, from a local path or an s3:// URI.

The file is never read whole: `ParquetFile.iter_batches` decodes only the requested
columns, one batch at a time, so memory stays flat however large the catalog is.
"""

from collections.abc import Collection, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog.schema import CATALOG_SCHEMA, REQUIRED_COLUMNS, check_catalog_schema
from catalog.vocabulary import CATEGORIES
from storage.settings import split_s3_uri


def _open(uri: str, filesystem: "pa.fs.FileSystem | None") -> pq.ParquetFile:
    """Open `uri` as a ParquetFile; s3:// URIs need the caller's pyarrow filesystem."""
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"catalog uri must be a local path or 's3://bucket/key'; got {uri!r}")
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        if filesystem is None:
            raise ValueError(
                f"reading {uri} needs a pyarrow filesystem: pass filesystem=storage.settings.arrow_filesystem(settings)"
            )
        return pq.ParquetFile(filesystem.open_input_file(f"{bucket}/{key}"))
    if "://" in uri:
        raise ValueError(f"unsupported catalog uri {uri!r}; allowed: a local path or 's3://bucket/key'")
    if filesystem is not None:
        return pq.ParquetFile(filesystem.open_input_file(uri))
    return pq.ParquetFile(uri)


def _conform_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast schema columns to their exact CATALOG_SCHEMA types (e.g. large_string -> string)."""
    target = pa.schema(
        [CATALOG_SCHEMA.field(f.name) if f.name in CATALOG_SCHEMA.names else f for f in batch.schema]
    )
    return batch if batch.schema.equals(target) else batch.cast(target)


def iter_catalog_batches(
    uri: str,
    columns: Sequence[str] = REQUIRED_COLUMNS,
    *,
    filesystem: "pa.fs.FileSystem | None" = None,
    batch_rows: int = 4096,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of only `columns`, checked against the schema before the first batch."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1; got {batch_rows}")
    columns = list(columns)
    if not columns or len(set(columns)) != len(columns):
        raise ValueError(f"columns must be non-empty and distinct; got {columns}")
    parquet = _open(uri, filesystem)
    # Fail before streaming: a missing column or a wrong type would poison every batch.
    check_catalog_schema(parquet.schema_arrow, columns)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        yield _conform_batch(batch)


def read_catalog(
    uri: str,
    *,
    filesystem: "pa.fs.FileSystem | None" = None,
    limit: int | None = None,
    skus: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> pa.Table:
    """Stream the catalog and keep only rows matching `skus` and `categories`, at most `limit` of them."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0; got {limit!r}")
    for name, values in (("skus", skus), ("categories", categories)):
        if isinstance(values, str):  # a bare string would be read as a set of characters
            raise ValueError(f"{name} must be a collection of strings, not the string {values!r}")
    if categories is not None:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; allowed: {', '.join(CATEGORIES)}")
    sku_set = pa.array(sorted(set(skus)), type=pa.string()) if skus is not None else None
    category_set = pa.array(sorted(set(categories)), type=pa.string()) if categories is not None else None

    kept: list[pa.RecordBatch] = []
    remaining = limit
    for batch in iter_catalog_batches(uri, filesystem=filesystem):
        if remaining == 0:
            break
        mask = None
        if sku_set is not None:
            mask = pc.is_in(batch.column("sku"), value_set=sku_set)
        if category_set is not None:
            in_category = pc.is_in(batch.column("category"), value_set=category_set)
            mask = in_category if mask is None else pc.and_(mask, in_category)
        if mask is not None:
            batch = batch.filter(mask)
        if remaining is not None:
            batch = batch.slice(0, remaining)
            remaining -= batch.num_rows
        if batch.num_rows:
            kept.append(batch)
    return pa.Table.from_batches(kept, schema=CATALOG_SCHEMA)
