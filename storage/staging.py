"""Per-shard staging of manifest rows: a shard whose rows are staged is done and never regenerated.

Staged rows are invisible to readers (they list only committed manifests); the manifest
PUT that gathers them is the run's commit.
"""

import hashlib
import io
from collections.abc import Sequence

from storage.keys import check_run_id
from storage.manifest import rows_to_table
from storage.publish import put_if_absent


def shard_key(run_id: str, index: int, asset_ids: Sequence[str]) -> str:
    """Key of a shard's staged rows; it names the shard's content so a changed plan cannot reuse it."""
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    digest = hashlib.sha256("\n".join(asset_ids).encode()).hexdigest()[:16]
    return f"staging/run={check_run_id(run_id)}/shard-{index:05d}-{digest}.parquet"


def write_rows(client, bucket: str, key: str, rows: list[dict]) -> None:
    """Stage a shard's manifest rows (validated against the pinned manifest schema)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(rows_to_table(rows), buffer)
    put_if_absent(client, bucket, key, buffer.getvalue(), "application/vnd.apache.parquet")


def read_rows(client, bucket: str, key: str) -> list[dict] | None:
    """The staged rows under key, or None when the shard has not been staged."""
    import pyarrow.parquet as pq
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    table = pq.read_table(io.BytesIO(body))
    rows = table.to_pylist()
    for row in rows:  # map columns come back as lists of pairs
        for name in ("scores", "scorer_versions"):
            if isinstance(row.get(name), list):
                row[name] = dict(row[name])
    return rows
