"""Stream a catalog Parquet file batch by batch, from a local path or an s3:// URI.

The file is never read whole: `ParquetFile.iter_batches` decodes only the requested
columns, one batch at a time, so memory stays flat however large the catalog is.

Parquet does not check that string columns hold UTF-8 (pyarrow reads the bytes as they
are, and only a later conversion fails, for the whole table). Each batch's string columns
are therefore checked here: a value that is not UTF-8 is decoded with backslash escapes
(b"\\xff" -> "\\xff") so the row can still be shown, and its row gets a reason in the
READ_PROBLEMS_COLUMN, which `catalog.validate` turns into a quarantine reason.
"""

import codecs
import os
from collections.abc import Collection, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from catalog.schema import CATALOG_SCHEMA, READ_PROBLEMS_COLUMN, REQUIRED_COLUMNS, check_catalog_schema
from catalog.vocabulary import CATEGORIES, canonical_category
from catalog_concepts.storage.settings import split_s3_uri

_PROBLEMS_TYPE = pa.list_(pa.string())
# How much of a file is looked at to say what it is when it is not Parquet.
_SNIFF_BYTES = 512


class CatalogFormatError(ValueError):
    """The catalog file is not a readable Parquet file (empty, CSV, a directory, truncated, ...)."""


def _locate(uri: str, filesystem: "pa.fs.FileSystem | None") -> tuple[pafs.FileSystem, str]:
    """The filesystem and path to read `uri` from; s3:// URIs need the caller's pyarrow filesystem."""
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"catalog uri must be a local path or 's3://bucket/key'; got {uri!r}")
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        if filesystem is None:
            raise ValueError(
                f"reading {uri} needs a pyarrow filesystem: pass filesystem=catalog_concepts.storage.settings.arrow_filesystem(settings)"
            )
        return filesystem, f"{bucket}/{key}"
    if "://" in uri:
        raise ValueError(f"unsupported catalog uri {uri!r}; allowed: a local path or 's3://bucket/key'")
    if filesystem is not None:
        return filesystem, uri
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _looks_like(head: bytes) -> str:
    """What the first bytes of a non-Parquet file look like, as a phrase ('CSV text', ...)."""
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive, e.g. an Excel workbook"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    if b"\x00" in head:
        return "binary data"
    try:  # an incremental decode tolerates a character cut off at the end of the sniffed bytes
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return "binary data"
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return "JSON text"
    first_line = stripped.splitlines()[0] if stripped else ""
    if any(separator in first_line for separator in (",", ";", "\t")):
        return "CSV text"
    return "plain text"


# Converting what a non-Parquet file looks like into Parquet, for the error message.
_CONVERSIONS: dict[str, str] = {
    "CSV text": "pandas.read_csv(path).to_parquet(...)",
    "JSON text": "pandas.read_json(path).to_parquet(...)",
    "a ZIP archive, e.g. an Excel workbook": "pandas.read_excel(path).to_parquet(...)",
}


def _not_parquet_error(uri: str, filesystem: pafs.FileSystem, path: str, size: int | None) -> CatalogFormatError:
    """The one-sentence error for a file Parquet cannot open: empty, truncated, or another format."""
    if size == 0:
        return CatalogFormatError(
            f"catalog {uri} is empty (0 bytes); write the catalog as Parquet (columns: catalog.schema.COLUMN_DOCS)"
        )
    with filesystem.open_input_file(path) as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return CatalogFormatError(
            f"catalog {uri} starts like Parquet but its footer is missing or corrupt (was the upload cut short?); "
            f"write or upload the file again"
        )
    looks = _looks_like(head)
    how = _CONVERSIONS.get(looks)
    fix = f"e.g. `{how}`" if how else "with the columns in catalog.schema.COLUMN_DOCS"
    return CatalogFormatError(f"catalog {uri} is not a Parquet file (it starts like {looks}); write it as Parquet, {fix}")


def _open(uri: str, filesystem: "pa.fs.FileSystem | None") -> pq.ParquetFile:
    """Open `uri` as a ParquetFile, with one clear sentence when it is missing or not Parquet."""
    filesystem, path = _locate(uri, filesystem)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        # FileNotFoundError, not CatalogFormatError: the file may simply not be uploaded yet.
        raise FileNotFoundError(f"catalog {uri} does not exist; pass the path or s3:// URI of a Parquet catalog file")
    if info.type == pafs.FileType.Directory:
        raise CatalogFormatError(f"catalog {uri} is a directory; pass one Parquet file, not a folder or prefix")
    try:
        return pq.ParquetFile(filesystem.open_input_file(path))
    except pa.ArrowInvalid as error:  # what pyarrow raises for "size is 0 bytes" and "magic bytes not found"
        raise _not_parquet_error(uri, filesystem, path, info.size) from error


def _conform_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast schema columns to their exact CATALOG_SCHEMA types (e.g. large_string -> string)."""
    target = pa.schema(
        [CATALOG_SCHEMA.field(f.name) if f.name in CATALOG_SCHEMA.names else f for f in batch.schema]
    )
    return batch if batch.schema.equals(target) else batch.cast(target)


def _decode_strings(column: pa.Array, name: str, problems: list[list[str]]) -> pa.Array:
    """`column` if it is valid UTF-8; else a copy with bad values escaped, and a problem noted per bad row."""
    try:
        column.validate(full=True)  # checks UTF-8 in C++: the common, clean case costs no Python loop
        return column
    except pa.ArrowInvalid:
        pass
    # Reinterpreting string bytes as binary is free and never checks them.
    raw_values = column.view(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
    values: list[str | None] = []
    for index, raw in enumerate(raw_values.to_pylist()):
        if raw is None:
            values.append(None)
            continue
        try:
            values.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(raw.decode("utf-8", "backslashreplace"))
            problems[index].append(f"{name} is not valid UTF-8")
    return pa.array(values, type=pa.string())


def _check_utf8(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decode the batch's string columns; add READ_PROBLEMS_COLUMN only when some value was not UTF-8."""
    problems: list[list[str]] = [[] for _ in range(batch.num_rows)]
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_string_view(column.type):
            column = column.cast(pa.string())  # validate() does not check views' UTF-8; a plain string does
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = _decode_strings(column, name, problems)
        columns.append(column)
    batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    if any(problems):
        batch = batch.append_column(READ_PROBLEMS_COLUMN, pa.array([p or None for p in problems], type=_PROBLEMS_TYPE))
    return batch


def iter_catalog_batches(
    uri: str,
    columns: Sequence[str] = REQUIRED_COLUMNS,
    *,
    filesystem: "pa.fs.FileSystem | None" = None,
    batch_rows: int = 4096,
) -> Iterator[pa.RecordBatch]:
    """Yield batches of only `columns`, checked against the schema first; see READ_PROBLEMS_COLUMN for bad text."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1; got {batch_rows}")
    columns = list(columns)
    if not columns or len(set(columns)) != len(columns) or READ_PROBLEMS_COLUMN in columns:
        raise ValueError(f"columns must be non-empty and distinct, without {READ_PROBLEMS_COLUMN!r}; got {columns}")
    parquet = _open(uri, filesystem)
    # Fail before streaming: a missing column or a wrong type would poison every batch.
    check_catalog_schema(parquet.schema_arrow, columns)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        yield _conform_batch(_check_utf8(batch))


def _nfc_strings(values: Collection[str]) -> pa.Array:
    """`values` NFC-normalised, as an Arrow set for `is_in`."""
    return pc.utf8_normalize(pa.array(sorted(set(values)), type=pa.string()), form="NFC")


def read_catalog(
    uri: str,
    *,
    filesystem: "pa.fs.FileSystem | None" = None,
    limit: int | None = None,
    skus: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> pa.Table:
    """Stream the catalog and keep only rows matching `skus` and `categories`, at most `limit` of them.

    The table is in CATALOG_SCHEMA, plus READ_PROBLEMS_COLUMN when a kept row held text that
    is not UTF-8. `skus` match after Unicode NFC normalisation of both sides, and `categories`
    match a row's category after vocabulary folding ('Lamps' is a 'lamp'), as validation sees them.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0; got {limit!r}")
    for name, values in (("skus", skus), ("categories", categories)):
        if isinstance(values, str):  # a bare string would be read as a set of characters
            raise ValueError(f"{name} must be a collection of strings, not the string {values!r}")
    if categories is not None:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; allowed: {', '.join(CATEGORIES)}")
    sku_set = _nfc_strings(skus) if skus is not None else None
    wanted_categories = set(categories) if categories is not None else None

    kept: list[pa.RecordBatch] = []
    remaining = limit
    for batch in iter_catalog_batches(uri, filesystem=filesystem):
        if remaining == 0:
            break
        mask = None
        if sku_set is not None:
            mask = pc.is_in(pc.utf8_normalize(batch.column("sku"), form="NFC"), value_set=sku_set)
        if wanted_categories is not None:
            in_category = pa.array(
                [canonical_category(value) in wanted_categories for value in batch.column("category").to_pylist()]
            )
            mask = in_category if mask is None else pc.and_(mask, in_category)
        if mask is not None:
            batch = batch.filter(mask)
        if remaining is not None:
            batch = batch.slice(0, remaining)
            remaining -= batch.num_rows
        if batch.num_rows:
            kept.append(batch)
    return _concat(kept)


def _concat(batches: list[pa.RecordBatch]) -> pa.Table:
    """One table of `batches`; READ_PROBLEMS_COLUMN is kept only if some kept row has a problem."""
    if not any(READ_PROBLEMS_COLUMN in b.schema.names and b.column(READ_PROBLEMS_COLUMN).null_count < b.num_rows
               for b in batches):
        return pa.Table.from_batches([b.select(CATALOG_SCHEMA.names) for b in batches], schema=CATALOG_SCHEMA)
    schema = CATALOG_SCHEMA.append(pa.field(READ_PROBLEMS_COLUMN, _PROBLEMS_TYPE))
    padded = [
        b if READ_PROBLEMS_COLUMN in b.schema.names
        else b.append_column(READ_PROBLEMS_COLUMN, pa.nulls(b.num_rows, _PROBLEMS_TYPE))
        for b in batches
    ]
    return pa.Table.from_batches(padded, schema=schema)
