"""Where data goes: the one module that resolves the S3 endpoint, bucket and credentials.

Every other module receives an `S3Settings`; none reads the environment itself.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # boto3 and pyarrow load lazily: the CLI imports this module at start-up.
    import pyarrow.fs

ENV_ENDPOINT = "CONCEPTS_S3_ENDPOINT"
ENV_BUCKET = "CONCEPTS_S3_BUCKET"
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
ENV_REGION = "AWS_REGION"
ENV_VARIABLES: tuple[str, ...] = (ENV_ENDPOINT, ENV_BUCKET, ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_REGION)

DEFAULT_REGION = "us-east-1"

# S3 bucket naming rules (lowercase letters, digits, dots, hyphens; 3-63 chars).
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ENDPOINT_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class S3Settings:
    """Endpoint, bucket and credentials of the object store (repr hides the secret)."""

    endpoint_url: str | None
    bucket: str
    access_key: str | None
    secret_key: str | None = field(repr=False)
    region: str = DEFAULT_REGION

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not _BUCKET_RE.match(self.bucket):
            raise ValueError(
                f"invalid S3 bucket name {self.bucket!r}: use 3-63 chars of a-z, 0-9, '.', '-'"
            )
        if self.endpoint_url is not None:
            _endpoint_parts(self.endpoint_url)
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("S3 credentials: set both access_key and secret_key, or neither")
        if self.endpoint_url is not None and self.access_key is None:
            # Anonymous pyarrow uploads to SeaweedFS store the aws-chunked framing inside
            # the object (SeaweedFS 3.x with pyarrow's S3 client), i.e. silently corrupt Parquet.
            raise ValueError(
                f"a custom S3 endpoint ({self.endpoint_url}) needs credentials: "
                f"set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}"
            )
        if not self.region:
            raise ValueError("S3 region must be a non-empty string, e.g. 'us-east-1'")


def resolve_s3_settings(env: Mapping[str, str] | None = None) -> S3Settings:
    """Build S3Settings from CONCEPTS_S3_* and AWS_* variables (default: os.environ)."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None  # an empty variable counts as unset

    bucket = get(ENV_BUCKET)
    if bucket is None:
        raise ValueError(
            f"no S3 bucket configured: set {ENV_BUCKET} "
            f"(S3 variables read: {', '.join(ENV_VARIABLES)})"
        )
    return S3Settings(
        endpoint_url=get(ENV_ENDPOINT),
        bucket=bucket,
        access_key=get(ENV_ACCESS_KEY),
        secret_key=get(ENV_SECRET_KEY),
        region=get(ENV_REGION) or DEFAULT_REGION,
    )


def boto3_client(settings: S3Settings):
    """A botocore S3 client: path-style addressing, standard retries, 32 pooled connections.

    One client per settings per process, shared by every caller and thread (botocore clients are
    thread-safe): building one costs ~90 ms of CPU (a fresh session loads and parses the service
    model), and a nightly run asked for one per step and per shard, ten or more per run.
    """
    return _client(settings)


@functools.lru_cache(maxsize=32)
def _client(settings: S3Settings):
    import boto3
    from botocore.config import Config

    config = Config(
        # Path style: SeaweedFS (and most local S3s) have no wildcard DNS for bucket hosts.
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 5},
        # boto3's default pool is 10; put_many runs up to 32 threads on one client.
        max_pool_connections=32,
    )
    # A private session: the default session is not thread-safe to create clients from.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        config=config,
    )


def arrow_filesystem(settings: S3Settings) -> pyarrow.fs.S3FileSystem:
    """A pyarrow S3FileSystem on the same endpoint with the same credentials."""
    from pyarrow import fs

    kwargs: dict[str, object] = {"region": settings.region}
    if settings.access_key is not None:
        kwargs.update(access_key=settings.access_key, secret_key=settings.secret_key)
    if settings.endpoint_url is not None:
        scheme, host_port = _endpoint_parts(settings.endpoint_url)
        kwargs.update(endpoint_override=host_port, scheme=scheme)
    return fs.S3FileSystem(**kwargs)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Split 's3://bucket/key' into (bucket, key); both parts must be non-empty."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r} (expected 's3://bucket/key')")
    bucket, sep, key = uri[len("s3://") :].partition("/")
    if not bucket or not sep or not key:
        raise ValueError(f"S3 URI needs a bucket and a key: {uri!r} (expected 's3://bucket/key')")
    return bucket, key


def _endpoint_parts(endpoint_url: str) -> tuple[str, str]:
    """('http', 'host:port') from an endpoint URL, or a ValueError naming the expected form."""
    parts = urlsplit(endpoint_url)
    if parts.scheme not in _ENDPOINT_SCHEMES or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(
            f"invalid S3 endpoint {endpoint_url!r}: expected http(s)://host[:port] with no path"
        )
    host_port = parts.netloc.rsplit("@", 1)[-1]  # never carry userinfo into the override
    return parts.scheme, host_port
