"""The provenance sub-app through typer's CliRunner, against the real local S3."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from catalog_concepts.cli.provenance_cmds import app
from catalog_concepts.provenance.query import EXAMPLES
from catalog_concepts.storage.settings import boto3_client, split_s3_uri

runner = CliRunner()


@pytest.fixture
def s3_env(s3, monkeypatch, tmp_path):
    monkeypatch.setenv("CONCEPTS_S3_ENDPOINT", s3.endpoint_url)
    monkeypatch.setenv("CONCEPTS_S3_BUCKET", s3.bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path / "home"))  # no local signing root here
    monkeypatch.delenv("CONCEPTS_S3_BLOCK", raising=False)
    return s3


def test_verify_passes_then_fails_with_exit_code_1(s3_env, publish_run, tmp_path):
    run = publish_run(s3_env)
    anchor = tmp_path / "root.pem"
    anchor.write_bytes(run.signer.trust_anchor_pem)
    ok = runner.invoke(app, ["verify", run.run_id, "--trust-anchor", str(anchor)])
    assert ok.exit_code == 0, ok.output
    assert "6/6 images verified" in ok.output and ok.output.count("c2pa=Trusted") == 6
    bucket, key = split_s3_uri(run.rows[0]["s3_uri"])
    boto3_client(s3_env).delete_object(Bucket=bucket, Key=key)
    bad = runner.invoke(app, ["verify", f"s3://{s3_env.bucket}/{run.manifest_key}"])
    assert bad.exit_code == 1 and "5/6 images verified" in bad.output and "FAIL" in bad.output
    assert "c2pa=Valid" in bad.output and "(no trust anchor)" in bad.output
    missing = runner.invoke(app, ["verify", run.run_id, "--local-anchor"])
    assert missing.exit_code != 0 and "no local signing root" in missing.output


def test_query_example_sql_and_json(s3_env, publish_run):
    publish_run(s3_env)
    listed = runner.invoke(app, ["query", "--list"])
    assert all(name in listed.output for name in EXAMPLES)
    example = runner.invoke(app, ["query", "--example", "compute_per_run", "--json"])
    assert example.exit_code == 0, example.output
    (row,) = [json.loads(line) for line in example.output.splitlines()]
    assert row["images"] == 6
    sql = runner.invoke(app, ["query", "SELECT count(*) AS n FROM manifests"])
    assert sql.exit_code == 0 and "6" in sql.output
    assert runner.invoke(app, ["query", "--example", "nope"]).exit_code != 0
    assert runner.invoke(app, ["query"]).exit_code != 0


def test_a_mistyped_column_prints_duckdbs_reason_and_the_tables_without_a_traceback(s3_env, nights_bucket):
    import os
    import shutil
    import subprocess
    import sys

    command = shutil.which("catalog-concepts", path=os.path.dirname(sys.executable))
    assert command, "the catalog-concepts entry point is installed beside this interpreter"
    done = subprocess.run([command, "provenance", "query", "SELECT decison, count(*) FROM manifests GROUP BY 1"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("query failed: Binder Error") and "decison" in lines[0]
    assert "Tables you can query:" in lines
    tables = [line.strip().split(":")[0] for line in lines if line.startswith("  ") and ": " in line]
    assert tables == ["manifests", "review_log", "asset_status", "quarantine"]
    assert len(lines) < 20  # one short block


def test_migrate_manifests_rewrites_v1_files_so_hive_readers_read_the_bucket(s3_env, nights_bucket):
    import io

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from catalog_concepts.storage.keys import manifest_key
    from catalog_concepts.storage.manifest import rows_to_table
    from catalog_concepts.storage.publish import put_if_absent
    from catalog_concepts.storage.settings import arrow_filesystem

    # What a v1 writer stored, on the bucket's first night (hive discovery takes the first file's schema).
    old = rows_to_table(nights_bucket["2026-11-25-n"]).replace_schema_metadata({b"manifest_schema": b"1"})
    old = old.set_column(old.schema.get_field_index("run_date"), old.schema.field("run_date"),
                         pa.array([dt.date(2026, 11, 23)] * old.num_rows, pa.date32()))
    old = old.set_column(old.schema.get_field_index("run_id"), "run_id", pa.array(["2026-11-23-old"] * old.num_rows))
    sink = io.BytesIO()
    pq.write_table(old, sink)
    key = manifest_key("2026-11-23", "2026-11-23-old")
    put_if_absent(boto3_client(s3_env), s3_env.bucket, key, sink.getvalue(), "application/vnd.apache.parquet")
    filesystem = arrow_filesystem(s3_env)
    with pytest.raises(pa.ArrowTypeError, match="run_date"):
        ds.dataset(f"{s3_env.bucket}/manifests", filesystem=filesystem, partitioning="hive").to_table()

    dry = runner.invoke(app, ["migrate-manifests"])
    assert dry.exit_code == 0, dry.output
    assert f"v1 {key}" in dry.output and "would rewrite 1 v1 manifest(s) as v2; 3 already v2" in dry.output
    applied = runner.invoke(app, ["migrate-manifests", "--apply"])
    assert applied.exit_code == 0 and "rewrote 1 v1 manifest(s) as v2" in applied.output
    table = ds.dataset(f"{s3_env.bucket}/manifests", filesystem=filesystem, partitioning="hive").to_table()
    assert table.num_rows == 24
    assert "already v2" in runner.invoke(app, ["migrate-manifests"]).output.split("; ")[1]
    assert "would rewrite 0" in runner.invoke(app, ["migrate-manifests"]).output


def test_reproduce_and_cleanup_dry_run(s3_env, publish_run, tiny_model_dir):
    run = publish_run(s3_env)
    publish_run(s3_env, run_id="2026-11-26-orphaned", commit=False)
    result = runner.invoke(app, ["reproduce", run.rows[0]["asset_id"], "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "identical" in result.output
    dry = runner.invoke(app, ["cleanup", "--grace-hours", "0"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 6 orphan objects" in dry.output and dry.output.count("orphan images/run=2026-11-26-orphaned") == 3
    applied = runner.invoke(app, ["cleanup", "--grace-hours", "0", "--apply"])
    assert "deleted 6 orphan objects" in applied.output
    assert runner.invoke(app, ["verify", run.run_id]).exit_code == 0
