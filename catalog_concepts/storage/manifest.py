"""The run manifest: one Parquet file per run, pinned schema; its PUT commits the run.

Each row holds everything needed to regenerate and audit one image. Later schema
versions may only add nullable columns; readers always use the pinned schema
(unified with whatever newer columns the files carry), because pyarrow's default
discovery takes the first file's schema and silently drops the rest.

Since v2 the file holds every column except `run_date`, which lives only in the key's
hive partition (`manifests/run_date=YYYY-MM-DD/`): a v1 file stored it in both places
as a date while hive discovery types the path as a string, so every standard reader
(pyarrow, pandas, DuckDB over pyarrow) refused a bucket of v1 files. This module reads
v1 and v2 files alike; `migrate_v1_manifest` rewrites a v1 file as v2.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from catalog_concepts.storage.keys import check_run_date, check_run_id, manifest_key
from catalog_concepts.storage.publish import ObjectConflictError, PutResult, object_exists, put_if_absent
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem

MANIFEST_SCHEMA_VERSION = "2"
PARTITION_COLUMN = "run_date"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
_PARQUET_COMPRESSION = "zstd"
_FOOTER_THREADS = 4
_FRAGMENT_READAHEAD = 16  # manifests a scan opens ahead (pyarrow's default is 4)
_SCHEMA_FILES = 8  # newest manifests whose footers extend the pinned schema (a week of nightlies and one)

# The manifest's columns, in order: name -> (Arrow type, what the column holds).
_COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "run_id": (pa.string(), "Id of the pipeline run (storage.keys.RUN_ID_PATTERN); one manifest per run_id."),
    "flow_run_id": (pa.string(), "Prefect flow-run UUID that produced the row; null outside Prefect."),
    "run_date": (pa.date32(), "Logical date of the run: the hive partition run_date=YYYY-MM-DD of the key, not stored in the file since v2."),
    "asset_id": (pa.string(), "storage.keys.asset_id(run_id, sku, variant): 32 hex chars, stable."),
    "sku": (pa.string(), "Catalog SKU as given (NFC-normalised for keys and ids, stored verbatim here)."),
    "catalog_row_hash": (pa.string(), "SHA-256 hex of the canonical catalog row the prompt was built from."),
    "catalog_uri": (pa.string(), "URI of the catalog Parquet file the row came from."),
    "variant": (pa.int16(), "Index of the image among the variants generated for one SKU (0-based)."),
    "prompt": (pa.string(), "Exact positive prompt fed to the text encoder."),
    "negative_prompt": (pa.string(), "Exact negative prompt (the unconditional branch of CFG)."),
    "template_id": (pa.string(), "Id of the prompt template (prompts.templates)."),
    "template_version": (pa.string(), "Version of the prompt template set (prompts.templates.TEMPLATE_VERSION)."),
    "model_id": (pa.string(), "Name of the model preset that generated the image."),
    "weights_sha256": (pa.string(), "SHA-256 hex over the model weights actually loaded."),
    "pipeline_class": (pa.string(), "diffusers pipeline class name, e.g. StableDiffusionPipeline."),
    "scheduler_class": (pa.string(), "diffusers scheduler class name, e.g. DDIMScheduler."),
    "scheduler_config": (pa.string(), "Scheduler config as a JSON object string (regenerates the scheduler)."),
    "steps": (pa.int16(), "Number of denoising steps."),
    "guidance_scale": (pa.float32(), "Classifier-free guidance weight w (Ho & Salimans 2022, eq. 6)."),
    "seed": (pa.int64(), "Seed of this image's own torch.Generator."),
    "generator_device": (pa.string(), "Device of the torch.Generator ('cpu' or 'cuda'); noise differs by device."),
    "dtype": (pa.string(), "Compute dtype of the denoiser, e.g. float32, bfloat16."),
    "width": (pa.int16(), "Image width in pixels."),
    "height": (pa.int16(), "Image height in pixels."),
    "torch_version": (pa.string(), "torch.__version__ at generation time."),
    "diffusers_version": (pa.string(), "diffusers.__version__ at generation time."),
    "transformers_version": (pa.string(), "transformers.__version__ at generation time."),
    "device_name": (pa.string(), "Accelerator name (e.g. 'NVIDIA H100 80GB HBM3') or 'cpu'."),
    "denoiser_evals": (pa.int32(), "Denoiser forward passes spent on this image (CFG doubles them)."),
    "compute_seconds": (pa.float32(), "Wall-clock seconds of generation attributed to this image."),
    "scores": (pa.map_(pa.string(), pa.float64()), "Scorer name -> score; NaN or a missing score means not auto-published."),
    "scorer_versions": (pa.map_(pa.string(), pa.string()), "Scorer name -> version of the scorer that produced the score."),
    "decision": (pa.string(), "Review-policy verdict for the image (policies package)."),
    "rule_ids": (pa.list_(pa.string()), "Ids of the policy rules that fired."),
    "decision_reasons": (pa.list_(pa.string()), "Readable messages of the rules that fired, same order as rule_ids."),
    "policy_sha256": (pa.string(), "SHA-256 hex of the policy file that decided."),
    "review_status": (pa.string(), "Human-review state of the image (policies package)."),
    "s3_uri": (pa.string(), "s3://bucket/key of the stored image; null if the image was not stored."),
    "sha256": (pa.string(), "SHA-256 hex of the stored image bytes; null if not stored."),
    "bytes": (pa.int64(), "Size of the stored image in bytes; null if not stored."),
    "phash": (pa.string(), "Perceptual hash of the image (hex); null if not computed."),
    "digital_source_type": (pa.string(), "IPTC digital source type URI, e.g. .../trainedAlgorithmicMedia."),
    "created_at": (pa.timestamp("us", tz="UTC"), "UTC time the row was written."),
    # Added after v1 shipped: nullable, and rows may omit them (older writers did).
    "c2pa_manifest_label": (pa.string(), "Label (urn:c2pa:...) of the C2PA manifest signed into the image; null if unsigned."),
    "category": (pa.string(), "Catalog category of the SKU (catalog.vocabulary.CATEGORIES); null in rows written before it existed."),
    "kept": (pa.bool_(), "Whether per-SKU selection kept the candidate (scoring/select.py); null before selection existed."),
    "selection_rank": (pa.int16(), "1-based rank among its SKU's candidates: eligible ones first, by composite."),
    "selection_composite": (pa.float64(), "Selection composite in [0, 1] (scoring/selection.yaml); NaN when not computable."),
    "drop_reason": (pa.string(), "Why selection dropped the candidate; null when kept."),
    "policy_inputs": (pa.string(), "JSON object of the exact row the review policy judged (read by `policy explain`)."),
    "request_sha256": (pa.string(), "SHA-256 hex of what was asked of the model (engine.request_identity): prompts, seed, sampler, weights."),
    "worker_host": (pa.string(), "Host name of the machine whose process made the image (flow_run_id names the flow run)."),
    "worker_pid": (pa.int64(), "Process id of the worker process that made the image on worker_host."),
    "guidance_interval": (pa.string(), "Noise levels 'lo,hi' (EDM sigma) where CFG was applied (engine/guidance.py); null: every step."),
}
FIELD_DOCS: dict[str, str] = {name: doc for name, (_, doc) in _COLUMNS.items()}

# Columns added after v1: nullable, and rows_to_table fills them with null when a row omits them.
ADDED_COLUMNS: tuple[str, ...] = (
    "c2pa_manifest_label", "category", "kept", "selection_rank", "selection_composite", "drop_reason", "policy_inputs",
    "request_sha256", "worker_host", "worker_pid", "guidance_interval",
)
_NULLABLE = {"flow_run_id", "s3_uri", "sha256", "bytes", "phash", *ADDED_COLUMNS}
MANIFEST_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(name, type_, nullable=name in _NULLABLE, metadata={"doc": doc})
        for name, (type_, doc) in _COLUMNS.items()
    ],
    metadata={"manifest_schema": MANIFEST_SCHEMA_VERSION},
)
# What the Parquet file holds: every column but the partition's, which its key carries.
MANIFEST_FILE_SCHEMA: pa.Schema = MANIFEST_SCHEMA.remove(MANIFEST_SCHEMA.get_field_index(PARTITION_COLUMN))
# The partition typed explicitly: hive discovery alone would read the date as a string.
MANIFEST_PARTITIONING_SCHEMA: pa.Schema = pa.schema([MANIFEST_SCHEMA.field(PARTITION_COLUMN).remove_metadata()])
_MANIFEST_PATH_RE = re.compile(r"(?:^|/)run_date=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")


class AlreadyCommittedError(RuntimeError):
    """The run's manifest key already holds a different manifest."""


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Build a manifest table from row dicts, naming the column of any bad value."""
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise TypeError("rows must be a list of dicts keyed by manifest column name")
    expected = set(MANIFEST_SCHEMA.names)
    rows = [{**dict.fromkeys(ADDED_COLUMNS), **row} for row in rows]
    for index, row in enumerate(rows):
        missing = [name for name in MANIFEST_SCHEMA.names if name not in row]
        unknown = sorted(set(row) - expected)
        if missing or unknown:
            raise ValueError(
                f"manifest row {index}: missing columns {missing}, unknown columns {unknown} "
                "(columns are catalog_concepts.storage.manifest.MANIFEST_SCHEMA.names)"
            )
    arrays = []
    for field in MANIFEST_SCHEMA:
        values = [row[field.name] for row in rows]
        _check_values(field, values)
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise ValueError(f"manifest column {field.name!r} ({field.type}): {error}") from error
    table = pa.Table.from_arrays(arrays, schema=MANIFEST_SCHEMA)
    table.validate(full=True)
    return table


def commit_manifest(client, bucket: str, key: str, table: pa.Table) -> bool:
    """PUT the run's manifest once: True if this call committed it, False if it was already there."""
    run_id = _check_manifest(key, table)
    try:
        result = put_if_absent(client, bucket, key, _parquet_bytes(table), PARQUET_CONTENT_TYPE)
    except ObjectConflictError as error:
        raise AlreadyCommittedError(
            f"run_id {run_id!r} is already committed with a different manifest at s3://{bucket}/{key} "
            f"(stored sha256={error.stored_sha256}, ours={error.expected_sha256})"
        ) from error
    return result.created


def manifest_exists(client, bucket: str, key: str) -> bool:
    """True if an object exists under the manifest key."""
    return object_exists(client, bucket, key)


def read_manifests(settings: S3Settings, prefix: str = "manifests/") -> pa.Table:
    """Read every manifest under prefix with the pinned schema (plus newer nullable columns)."""
    return manifest_dataset(arrow_filesystem(settings), f"{settings.bucket}/{prefix.strip('/')}").to_table()


def manifest_dataset(filesystem, base: str):
    """A lazy pyarrow dataset of the manifests under base (`bucket/manifests` or a local folder).

    Nothing is loaded: scans read only the columns asked for, and a filter on run_date skips
    the other nights' files without opening them. v1 files (run_date also inside) and v2 files
    mix freely. The schema is the pinned one unified with the columns the newest files add
    (their footers only); a file whose column clashes with it fails the scan that reaches it.
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from pyarrow import fs

    base = base.rstrip("/")
    infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    files = sorted(
        (info for info in infos
         if info.type == fs.FileType.File and info.path.endswith(".parquet")
         and not info.base_name.startswith(("_", "."))),
        key=lambda info: info.path,
    )
    parquet = ds.ParquetFileFormat()

    def fragment(info):
        # The listing's size spares S3 one HEAD per file when the scan opens it.
        run_date = pa.scalar(_run_date_of(info.path), pa.date32())
        return parquet.make_fragment(info.path, filesystem, partition_expression=ds.field(PARTITION_COLUMN) == run_date,
                                     file_size=info.size)

    def footer_schema(info) -> tuple[str, pa.Schema]:
        # The schema alone: fragments that kept every file's parsed footer cost ~0.3 MB per file.
        with filesystem.open_input_file(info.path) as file:
            return info.path, pq.read_schema(file)

    # Columns beyond the pinned schema come from writers newer than this reader, so they are in the
    # newest files: reading their footers keeps those columns, and a query never pays a footer read
    # for every night of the bucket (0.6 s of a one-night query over 365 nights on the 2-core box).
    newest = files[-_SCHEMA_FILES:]
    with ThreadPoolExecutor(max_workers=_FOOTER_THREADS) as pool:  # footers are small, round trips are not
        schema = _unified_schema(pool.map(footer_schema, newest))
    return _readahead_dataset_class()([fragment(info) for info in files], schema, parquet, filesystem)


@functools.cache
def _readahead_dataset_class():
    """FileSystemDataset whose scans open more files ahead than pyarrow's default of 4.

    Over S3 a manifest costs round trips (footer, then column chunks) far more than decoding, so a
    full-year scan waits on the network with 4 files in flight: 12.4 s with 4, 8.8 s with 16 over the
    embedded S3 at load 10 on the 2-core box. DuckDB calls `scanner(columns=, filter=)` on the dataset's
    own class, so the default is set there. Built on first use: pyarrow.dataset imports pandas (~0.7 s).
    """
    import pyarrow.dataset as ds

    class ManifestDataset(ds.FileSystemDataset):
        def scanner(self, *args, **kwargs):
            kwargs.setdefault("fragment_readahead", _FRAGMENT_READAHEAD)
            return super().scanner(*args, **kwargs)

    return ManifestDataset


def read_manifest_file(body: bytes, key: str, columns: Sequence[str] | None = None) -> pa.Table:
    """One manifest object's rows (v1 or v2), run_date taken from its key, pinned columns first."""
    import pyarrow.parquet as pq

    run_date = _run_date_of(key)
    wanted = None if columns is None else [c for c in columns if c != PARTITION_COLUMN]
    table = pq.read_table(io.BytesIO(body), columns=wanted)
    if PARTITION_COLUMN in table.column_names:  # a v1 file
        table = table.drop_columns([PARTITION_COLUMN])
    if columns is not None and PARTITION_COLUMN not in columns:
        return table
    position = MANIFEST_SCHEMA.get_field_index(PARTITION_COLUMN) if columns is None else list(columns).index(PARTITION_COLUMN)
    return table.add_column(position, MANIFEST_SCHEMA.field(PARTITION_COLUMN),
                            pa.array([run_date] * table.num_rows, pa.date32()))


def migrate_v1_manifest(body: bytes, key: str) -> bytes | None:
    """The v2 bytes of a v1 manifest object (rows unchanged, run_date only in the key); None if already v2.

    Fails when the file's run_date disagrees with its key: such a file was never a valid v1 manifest.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(body))
    if PARTITION_COLUMN not in table.column_names:
        return None
    run_date = _run_date_of(key)
    stored = set(table.column(PARTITION_COLUMN).to_pylist())
    if stored - {run_date}:
        raise ValueError(f"manifest {key} stores run_date {sorted(stored)} but its key says {run_date}; fix the file by hand")
    # Explicitly, not through _parquet_bytes: a file from before the added columns is not a full manifest table.
    table = table.drop_columns([PARTITION_COLUMN])
    metadata = {**(table.schema.metadata or {}), b"manifest_schema": MANIFEST_SCHEMA_VERSION.encode()}
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), sink, compression=_PARQUET_COMPRESSION)
    return sink.getvalue()


def _run_date_of(path: str) -> dt.date:
    """The run_date of a manifests/run_date=YYYY-MM-DD/<run_id>.parquet path, or a plain error."""
    match = _MANIFEST_PATH_RE.search(path)
    if not match:
        raise ValueError(f"{path} is not a manifest path: expected .../run_date=YYYY-MM-DD/<run_id>.parquet")
    return dt.date.fromisoformat(check_run_date(match.group(1)))


def write_quarantine(client, bucket: str, key: str, table: pa.Table) -> PutResult:
    """PUT quarantined catalog rows (any schema) as Parquet under a quarantine/ key, once."""
    if not key.startswith("quarantine/") or not key.endswith(".parquet"):
        raise ValueError(f"quarantine key must be quarantine/....parquet, got {key!r}")
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow.Table, got {type(table).__name__}")
    return put_if_absent(client, bucket, key, _parquet_bytes(table), PARQUET_CONTENT_TYPE)


def _check_values(field: pa.Field, values: Sequence[Any]) -> None:
    """Reject nulls in required columns and what pyarrow would silently coerce.

    pyarrow alone stores 1.5 as 1 in an int column, reads a naive datetime as UTC,
    and splits the string "ab" into the list ["a", "b"].
    """
    checks: dict[str, Callable[[Any], bool]] = {}
    if pa.types.is_integer(field.type):
        checks["an int"] = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)
    elif pa.types.is_floating(field.type):
        checks["a real number"] = lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)
    elif pa.types.is_timestamp(field.type):
        checks["a timezone-aware datetime"] = (
            lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None and v.utcoffset() is not None
        )
    elif pa.types.is_date(field.type):
        checks["a datetime.date"] = lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime)
    elif pa.types.is_map(field.type):
        checks["a dict"] = lambda v: isinstance(v, dict)
    elif pa.types.is_list(field.type):  # pyarrow alone would split a str into characters
        checks["a list"] = lambda v: isinstance(v, (list, tuple))
    elif field.name == "scheduler_config":
        checks["a JSON object string"] = _is_json_object
    for index, value in enumerate(values):
        if value is None:
            if not field.nullable:
                raise ValueError(f"manifest column {field.name!r} is required, row {index} is null")
            continue
        for expected, check in checks.items():
            if not check(value):
                raise ValueError(
                    f"manifest column {field.name!r} ({field.type}): row {index} "
                    f"needs {expected}, got {value!r}"
                )


def _is_json_object(value: Any) -> bool:
    try:
        return isinstance(value, str) and isinstance(json.loads(value), dict)
    except ValueError:
        return False


def _check_manifest(key: str, table: pa.Table) -> str:
    """Check table carries the pinned schema and one run matching key; return its run_id."""
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow.Table, got {type(table).__name__}")
    for pinned in MANIFEST_SCHEMA:
        index = table.schema.get_field_index(pinned.name)
        if index < 0:
            raise ValueError(f"manifest table lacks column {pinned.name!r} (use rows_to_table)")
        actual = table.schema.field(index)
        if actual.type != pinned.type or (actual.nullable and not pinned.nullable):
            raise ValueError(
                f"manifest column {pinned.name!r} is {actual.type} (nullable={actual.nullable}), "
                f"pinned {pinned.type} (nullable={pinned.nullable})"
            )
    extra_required = [f.name for f in table.schema if f.name not in FIELD_DOCS and not f.nullable]
    if extra_required:
        raise ValueError(f"columns beyond the pinned schema must be nullable: {extra_required}")
    run_ids = table.column("run_id").unique().to_pylist()
    run_dates = table.column("run_date").unique().to_pylist()
    if len(run_ids) > 1 or len(run_dates) > 1:
        raise ValueError(f"a manifest holds one run: got run_ids {run_ids[:5]}, run_dates {run_dates[:5]}")
    if run_ids:
        expected_key = manifest_key(run_dates[0], run_ids[0])
        if key != expected_key:
            raise ValueError(f"manifest key {key!r} does not match its rows: expected {expected_key!r}")
        return run_ids[0]
    # An empty run (every row quarantined) still commits; check the key's shape instead.
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "manifests" or not parts[2].endswith(".parquet"):
        raise ValueError(f"invalid manifest key {key!r}: expected manifests/run_date=<date>/<run_id>.parquet")
    check_run_date(parts[1].removeprefix("run_date="))
    return check_run_id(parts[2].removesuffix(".parquet"))


def _parquet_bytes(table: pa.Table) -> bytes:
    """Parquet bytes of table; the same table always gives the same bytes (retries compare digests)."""
    import pyarrow.parquet as pq

    metadata = dict(table.schema.metadata or {})
    if set(FIELD_DOCS) <= set(table.schema.names):
        metadata[b"manifest_schema"] = MANIFEST_SCHEMA_VERSION.encode()
        table = table.drop_columns([PARTITION_COLUMN])  # the key's hive partition carries it
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), sink, compression=_PARQUET_COMPRESSION)
    return sink.getvalue()


def _unified_schema(footers: Iterable[tuple[str, pa.Schema]]) -> pa.Schema:
    """Pinned schema first, then any extra columns newer files add; type clashes fail loudly."""
    schema = MANIFEST_SCHEMA
    required = [f.name for f in MANIFEST_SCHEMA if not f.nullable and f.name != PARTITION_COLUMN]
    for path, physical in footers:
        missing = [name for name in required if name not in physical.names]
        if missing:
            raise ValueError(f"manifest {path} lacks required columns {missing}")
        try:
            schema = pa.unify_schemas([schema, physical])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(f"manifest {path} does not fit the pinned schema: {error}") from error
    return schema
