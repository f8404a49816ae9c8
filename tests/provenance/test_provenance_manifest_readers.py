"""Standard readers on a bucket of several committed runs (real local S3): pyarrow, pandas, DuckDB.

The manifests are hive-partitioned by run_date and (since schema v2) the files do not repeat the
column, so tools that know nothing of this project read them, and a run_date filter opens only
that night's file. Polars is not installed in this environment, so its reader is skipped.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from catalog_concepts.storage.manifest import MANIFEST_PARTITIONING_SCHEMA, manifest_dataset
from catalog_concepts.storage.settings import arrow_filesystem

NIGHTS = ["2026-11-24", "2026-11-25", "2026-11-26"]  # the nights of the nights_bucket fixture


def _nights(opened) -> set[str]:
    """The run_date folders of the files opened."""
    return {path.split("run_date=")[1].split("/")[0] for path in opened}


def test_pyarrow_dataset_with_hive_partitioning_reads_every_run_and_prunes(s3, nights_bucket, counting_filesystem):
    filesystem, opened = counting_filesystem(s3)
    dataset = ds.dataset(f"{s3.bucket}/manifests", filesystem=filesystem, format="parquet", partitioning="hive")

    # Hive discovery types the path value as a string; the file no longer holds a date beside it.
    assert dataset.schema.field("run_date").type == pa.string()
    table = dataset.to_table(columns=["run_id", "run_date", "asset_id"])
    assert table.num_rows == 18 and set(table.column("run_id").to_pylist()) == set(nights_bucket)
    assert sorted(set(table.column("run_date").to_pylist())) == list(NIGHTS)

    opened.clear()
    night = dataset.to_table(filter=ds.field("run_date") == "2026-11-25", columns=["asset_id", "decision"])
    assert night.num_rows == 6
    assert _nights(opened) == {"2026-11-25"}  # the other nights' files were never opened

    # Typed explicitly, the partition is a date.
    typed = ds.dataset(f"{s3.bucket}/manifests", filesystem=arrow_filesystem(s3), format="parquet",
                       partitioning=ds.partitioning(MANIFEST_PARTITIONING_SCHEMA, flavor="hive"))
    fragments = list(typed.get_fragments(filter=ds.field("run_date") >= dt.date(2026, 11, 25)))
    assert len(fragments) == 2
    assert typed.to_table(columns=["run_date"]).column("run_date").type == pa.date32()


def test_pandas_read_parquet_with_the_s3_filesystem_reads_and_prunes(s3, nights_bucket, counting_filesystem):
    import pandas as pd

    filesystem, opened = counting_filesystem(s3)
    frame = pd.read_parquet(f"{s3.bucket}/manifests", filesystem=filesystem, columns=["asset_id", "kept", "run_date"])
    assert len(frame) == 18 and sorted(frame["run_date"].astype(str).unique()) == list(NIGHTS)
    assert int((~frame["kept"]).sum()) == 3  # one dropped candidate per night

    opened.clear()
    night = pd.read_parquet(f"{s3.bucket}/manifests", filesystem=filesystem, columns=["asset_id"],
                            filters=[("run_date", "=", "2026-11-26")])
    assert len(night) == 6
    # pandas builds a fresh dataset, whose discovery reads the first file's footer for the schema;
    # the scan itself opens only the night asked for.
    assert "2026-11-26" in _nights(opened) and "2026-11-25" not in _nights(opened)
    assert _nights(opened) <= {NIGHTS[0], "2026-11-26"}


def test_polars_is_not_installed_here():
    # Polars reads hive partitions the same way; it is not part of this environment.
    pytest.importorskip("polars")


def test_duckdb_over_a_pyarrow_dataset_pushes_the_run_date_filter_down(s3, nights_bucket, counting_filesystem):
    import duckdb

    filesystem, opened = counting_filesystem(s3)
    # DuckDB finds `dataset` by its Python name (a replacement scan): the SQL below reads it.
    dataset = ds.dataset(f"{s3.bucket}/manifests", filesystem=filesystem, format="parquet", partitioning="hive")  # noqa: F841
    opened.clear()
    rows = duckdb.sql(
        "SELECT decision, count(*) AS n FROM dataset WHERE run_date = '2026-11-24' AND kept GROUP BY decision ORDER BY decision"
    ).fetchall()
    assert rows == [("human_review", 3), ("publish_labeled_preview", 1), ("reject", 1)]
    assert _nights(opened) == {"2026-11-24"}


def test_the_projects_dataset_reads_the_newest_footers_then_scans_only_the_night_asked_for(s3, nights_bucket, counting_filesystem):
    import duckdb

    filesystem, opened = counting_filesystem(s3)
    dataset = manifest_dataset(filesystem, f"{s3.bucket}/manifests")
    # Building it reads the newest files' footers (all three here), to keep columns newer writers add.
    assert _nights(opened) == set(NIGHTS)
    opened.clear()
    connection = duckdb.connect()
    connection.register("manifests", dataset)
    [(count,)] = connection.sql("SELECT count(*) FROM manifests WHERE run_date = DATE '2026-11-26'").fetchall()
    assert count == 6 and _nights(opened) == {"2026-11-26"}
