"""A digest of the catalog rows a run reads: the run's identity follows the catalog's content, not its path.

Overwriting a catalog file with other rows, or editing one SKU's colour, changes the digest,
so the rerun is a new run with its own manifest instead of "already committed" (or, after a
crash, a manifest that mixes shards made from the old rows with shards made from the new).
"""

import datetime as dt
import hashlib
import json

import pyarrow as pa

DIGEST_VERSION = "catalog-content-v1"


def catalog_content_sha256(table: pa.Table) -> str:
    """SHA-256 hex over every row and column of table (column names included, in file order)."""
    digest = hashlib.sha256(DIGEST_VERSION.encode())
    digest.update(json.dumps(table.column_names).encode())
    for batch in table.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            # One canonical line per row; values of any type (bytes of an unreadable cell
            # included) encode unambiguously, so two different rows never share a line.
            digest.update(json.dumps([_canonical(row[name]) for name in table.column_names], ensure_ascii=True).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _canonical(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return {"time": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in sorted(value.items())}
    return {type(value).__name__: repr(value)}
