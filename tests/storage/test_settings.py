"""S3 settings resolution (pure tables) and the two clients against the real local S3."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog_concepts.storage.settings import (
    S3Settings,
    arrow_filesystem,
    boto3_client,
    resolve_s3_settings,
    split_s3_uri,
)

FULL_ENV = {
    "CONCEPTS_S3_ENDPOINT": "http://127.0.0.1:8333",
    "CONCEPTS_S3_BUCKET": "concepts",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
    "AWS_REGION": "eu-west-1",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (FULL_ENV, S3Settings("http://127.0.0.1:8333", "concepts", "AKIDEXAMPLE", "s3cr3t-value", "eu-west-1")),
        # AWS proper: no endpoint, credentials from the default chain, default region.
        ({"CONCEPTS_S3_BUCKET": "concepts"}, S3Settings(None, "concepts", None, None, "us-east-1")),
        # Empty variables count as unset.
        ({**FULL_ENV, "CONCEPTS_S3_ENDPOINT": "", "AWS_ACCESS_KEY_ID": " ", "AWS_SECRET_ACCESS_KEY": "",
          "AWS_REGION": ""}, S3Settings(None, "concepts", None, None, "us-east-1")),
    ],
)
def test_resolve_s3_settings(env: dict[str, str], expected: S3Settings) -> None:
    assert resolve_s3_settings(env) == expected


@pytest.mark.parametrize("env", [{}, {**FULL_ENV, "CONCEPTS_S3_BUCKET": ""}])
def test_missing_bucket_error_lists_the_variables(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="CONCEPTS_S3_BUCKET") as info:
        resolve_s3_settings(env)
    for name in FULL_ENV:
        assert name in str(info.value)


def test_resolve_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FULL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONCEPTS_S3_BUCKET", "from-environ")
    assert resolve_s3_settings().bucket == "from-environ"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"CONCEPTS_S3_BUCKET": "Upper_Case"}, "invalid S3 bucket name"),
        ({"CONCEPTS_S3_BUCKET": "ab"}, "invalid S3 bucket name"),
        ({"CONCEPTS_S3_ENDPOINT": "127.0.0.1:8333"}, r"expected http\(s\)://host\[:port\]"),
        ({"CONCEPTS_S3_ENDPOINT": "ftp://host"}, "invalid S3 endpoint"),
        ({"CONCEPTS_S3_ENDPOINT": "http://host:8333/some/path"}, "no path"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "both access_key and secret_key"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "custom S3 endpoint .* needs credentials"),
    ],
)
def test_bad_settings_fail_loudly(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_s3_settings({**FULL_ENV, **changes})


def test_repr_hides_the_secret() -> None:
    settings = resolve_s3_settings(FULL_ENV)
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings)
    assert "AKIDEXAMPLE" in repr(settings)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key", ("bucket", "key")),
        ("s3://bucket/a/b/c.parquet", ("bucket", "a/b/c.parquet")),
        ("s3://bucket/dir/", ("bucket", "dir/")),
    ],
)
def test_split_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["", "bucket/key", "s3://", "s3://bucket", "s3://bucket/", "s3:///key",
                                 "S3://bucket/key", "https://bucket/key", None])
def test_split_s3_uri_rejects(uri) -> None:
    with pytest.raises(ValueError, match="s3://bucket/key"):
        split_s3_uri(uri)


def test_boto3_client_configuration() -> None:
    client = boto3_client(resolve_s3_settings(FULL_ENV))
    config = client.meta.config
    assert config.s3["addressing_style"] == "path"
    assert config.retries["mode"] == "standard"
    assert config.max_pool_connections == 32
    assert client.meta.endpoint_url == "http://127.0.0.1:8333"
    assert client.meta.region_name == "eu-west-1"


def test_arrow_filesystem_options() -> None:
    fs = arrow_filesystem(resolve_s3_settings(FULL_ENV))
    # pyarrow keeps its options private; its pickled form carries them.
    options = fs.__reduce__()[1][0]
    assert options["endpoint_override"] == "127.0.0.1:8333"
    assert options["scheme"] == "http"
    assert options["region"] == "eu-west-1"
    assert (options["access_key"], options["secret_key"]) == ("AKIDEXAMPLE", "s3cr3t-value")
    assert options["anonymous"] is False  # anonymous uploads corrupt objects on SeaweedFS


def test_arrow_and_boto3_see_the_same_bytes(s3: S3Settings) -> None:
    """pyarrow writes with our credentials; boto3 reads a clean Parquet file back (no aws-chunked framing)."""
    table = pa.table({"sku": ["a", "b", "c"], "n": [1, 2, 3]})
    fs = arrow_filesystem(s3)
    pq.write_table(table, f"{s3.bucket}/probe/t.parquet", filesystem=fs)

    body = boto3_client(s3).get_object(Bucket=s3.bucket, Key="probe/t.parquet")["Body"].read()
    assert body[:4] == b"PAR1" and body[-4:] == b"PAR1"
    assert pq.read_table(pa.BufferReader(body)).equals(table)
