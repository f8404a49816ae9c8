"""Verify a committed run: every object its manifest names is re-downloaded and checked.

Per image: the SHA-256 of the bytes against the manifest row, the XMP label (IPTC digital
source type and asset id) and the C2PA manifest (validation state, label, `c2pa.created`
action with the same digital source type). Readers follow only keys a manifest names.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from catalog_concepts.provenance.xmp import DIGITAL_SOURCE_TYPE, read_xmp
from catalog_concepts.storage.keys import check_run_id
from catalog_concepts.storage.manifest import read_manifest_file
from catalog_concepts.storage.settings import S3Settings, boto3_client, split_s3_uri

# C2PA validation states (c2pa-rs): "Trusted" = valid and chained to a trust anchor,
# "Valid" = signature and hashes valid but the signer is not in any trust list.
TRUSTED = "Trusted"
VALID_STATES = ("Valid", TRUSTED)
MISSING = "missing"  # no C2PA manifest in the file
DEFAULT_THREADS = 16
_CHUNK = 256  # images downloaded ahead of the checks


@dataclass(frozen=True)
class ImageCheck:
    """The verdict on one stored image of a manifest."""

    asset_id: str
    s3_uri: str
    sha256_ok: bool
    xmp_ok: bool  # IPTC digital source type present and dc:identifier is the asset id
    c2pa_state: str | None  # Trusted / Valid / Invalid / missing; None when C2PA was not required and absent
    ok: bool
    problems: tuple[str, ...] = ()
    etag: str = ""  # the object's ETag as downloaded: a later LIST shows whether these bytes are still the ones stored


@dataclass(frozen=True)
class VerifyReport:
    """Per-image results for one manifest; `ok` only when every stored image passes."""

    manifest_uri: str
    rows: list[ImageCheck]
    unstored: int  # manifest rows that name no object (nothing to verify)
    kept: dict[str, bytes] = field(default_factory=dict)  # asset id -> bytes, of the asked-for images that verified

    @property
    def ok(self) -> bool:
        """True when every image the manifest names verified."""
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> list[ImageCheck]:
        """The images that did not verify."""
        return [row for row in self.rows if not row.ok]

    def summary(self) -> str:
        """One line: how many verified out of how many named."""
        passed = sum(row.ok for row in self.rows)
        return f"{passed}/{len(self.rows)} images verified ({self.unstored} rows without an object) in {self.manifest_uri}"


def resolve_manifest_key(settings: S3Settings, manifest_key_or_run_id: str) -> tuple[str, str]:
    """(bucket, key) of a manifest from an s3:// URI, a manifests/... key or a run id."""
    ref = manifest_key_or_run_id
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"expected a run id, a manifests/... key or an s3:// URI, got {ref!r}")
    if ref.startswith("s3://"):
        bucket, key = split_s3_uri(ref)
    elif ref.startswith("manifests/"):
        bucket, key = settings.bucket, ref
    else:
        run_id = check_run_id(ref)
        bucket, key = settings.bucket, _find_manifest(settings, run_id)
    if not key.startswith("manifests/") or not key.endswith(".parquet"):
        raise ValueError(f"not a manifest key: {key!r} (expected manifests/run_date=.../<run_id>.parquet)")
    return bucket, key


def verify_run(
    settings: S3Settings,
    manifest_key_or_run_id: str,
    *,
    trust_anchor_pem: bytes | str | None = None,
    require_c2pa: bool = True,
    threads: int = DEFAULT_THREADS,
    keep: Collection[str] = (),
) -> VerifyReport:
    """Re-download every object a committed manifest names and check digest, XMP and C2PA.

    keep: asset ids whose verified bytes the report hands back (the contact sheet shows them
    without downloading them a second time).
    """
    bucket, key = resolve_manifest_key(settings, manifest_key_or_run_id)
    client = boto3_client(settings)
    rows = read_manifest_file(client.get_object(Bucket=bucket, Key=key)["Body"].read(), key).to_pylist()
    stored = [row for row in rows if row.get("s3_uri")]
    local = threading.local()

    def download_and_check(row: dict) -> tuple[ImageCheck, bytes | Exception]:
        # Each thread checks what it downloaded, with a C2PA context of its own: the native checks
        # (ctypes releases the GIL) run on every core instead of queueing behind one parsing thread,
        # which was ~5.6 ms per image after a run on the 2-core box, the flow's longest step after generation.
        if not hasattr(local, "context"):
            local.context = reader_context(trust_anchor_pem)
        return download_and_check_image(client, bucket, row, context=local.context,
                                        require_trusted=trust_anchor_pem is not None, require_c2pa=require_c2pa)

    checks, kept = [], {}
    # Chunks bound memory: a 10k-image run is never held in memory at once.
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="verify") as pool:
        for start in range(0, len(stored), _CHUNK):
            chunk = stored[start : start + _CHUNK]
            for row, (check, body) in zip(chunk, pool.map(download_and_check, chunk), strict=True):
                checks.append(check)
                if check.ok and row["asset_id"] in keep:
                    kept[row["asset_id"]] = body
    return VerifyReport(manifest_uri=f"s3://{bucket}/{key}", rows=checks, unstored=len(rows) - len(stored), kept=kept)


def download_and_check_image(
    client, bucket: str, row: dict, *, context=None, require_trusted: bool = False, require_c2pa: bool = True
) -> tuple[ImageCheck, bytes | Exception]:
    """Download the object a row names from bucket and check it; (the verdict, the bytes or the download's error)."""
    body, etag = _download(client, row["s3_uri"], bucket)
    check = check_image(row, body, context=context, require_trusted=require_trusted, require_c2pa=require_c2pa)
    return replace(check, etag=etag), body


def check_image(
    row: dict, body: bytes | Exception, *, context=None, require_trusted: bool = False, require_c2pa: bool = True
) -> ImageCheck:
    """Check one downloaded image (or its download error) against its manifest row."""
    problems: list[str] = []
    if isinstance(body, Exception):
        problem = str(body) if isinstance(body, ObjectMissingError) else f"download failed: {body}"
        return ImageCheck(row["asset_id"], row["s3_uri"], False, False, None, False, (problem,))
    sha256_ok = hashlib.sha256(body).hexdigest() == row.get("sha256") and len(body) == row.get("bytes")
    if not sha256_ok:
        problems.append(f"sha256/bytes differ from the manifest ({row.get('sha256')}, {row.get('bytes')} bytes)")
    xmp_ok = _xmp_ok(body, row["asset_id"])
    if not xmp_ok:
        problems.append("XMP lacks the IPTC digital source type or the asset id")
    if row.get("digital_source_type") != DIGITAL_SOURCE_TYPE:
        problems.append(f"manifest row digital_source_type is {row.get('digital_source_type')!r}")
    state, label, created = _c2pa(body, context)
    expected_label = row.get("c2pa_manifest_label")
    if state == MISSING and not require_c2pa and expected_label is None:
        state = None  # unsigned by design: nothing to check
    else:
        wanted = (TRUSTED,) if require_trusted else VALID_STATES
        if state not in wanted:
            problems.append(f"C2PA state {state!r}, expected {' or '.join(wanted)}")
        if expected_label is not None and label != expected_label:
            problems.append(f"C2PA manifest label {label!r} differs from the manifest's {expected_label!r}")
        if expected_label is None and require_c2pa:
            problems.append("manifest row has no c2pa_manifest_label (image was not signed)")
        if state in VALID_STATES and not created:
            problems.append("C2PA manifest lacks a c2pa.created action with the trainedAlgorithmicMedia source type")
    return ImageCheck(row["asset_id"], row["s3_uri"], sha256_ok, xmp_ok, state, not problems, tuple(problems))


def _find_manifest(settings: S3Settings, run_id: str) -> str:
    """The one manifests/run_date=*/<run_id>.parquet key, or a clear error."""
    client = boto3_client(settings)
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix="manifests/"):
        found.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(f"/{run_id}.parquet"))
    if len(found) != 1:
        where = f"s3://{settings.bucket}/manifests/"
        raise LookupError(f"run {run_id!r}: expected one committed manifest under {where}, found {found or 'none'}")
    return found[0]


class ObjectMissingError(LookupError):
    """The object a manifest row names is not where the row says, or not in the manifest's bucket."""


def _download(client, s3_uri: str, manifest_bucket: str) -> tuple[bytes | Exception, str]:
    """(the object's bytes or why they could not be read, its ETag or "")."""
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(s3_uri)
    if bucket != manifest_bucket:
        # A manifest vouches only for its own bucket: an image that lives elsewhere can be
        # deleted or replaced by whoever owns that bucket, and readers of this one never see it.
        return ObjectMissingError(f"stored in bucket {bucket!r}, not in the manifest's bucket {manifest_bucket!r}"), ""
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
        return answer["Body"].read(), answer.get("ETag", "")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return ObjectMissingError("object is missing"), ""
        return error, ""
    except Exception as error:  # reported per image, never hidden
        return error, ""


def _xmp_ok(body: bytes, asset_id: str) -> bool:
    try:
        xmp = read_xmp(body)
    except Exception:
        return False
    return xmp is not None and DIGITAL_SOURCE_TYPE in xmp and f"<dc:identifier>{asset_id}</dc:identifier>" in xmp


def reader_context(trust_anchor_pem: bytes | str | None):
    """A C2PA reading context; with a trust anchor, a chained signer reads as Trusted. One per thread."""
    import c2pa

    if trust_anchor_pem is None:
        return None
    pem = trust_anchor_pem.decode() if isinstance(trust_anchor_pem, bytes) else trust_anchor_pem
    return c2pa.Context.from_dict({"trust": {"trust_anchors": pem}, "verify": {"verify_trust": True}})


def _c2pa(body: bytes, context) -> tuple[str, str | None, bool]:
    """(validation state, active manifest label, has a created action with our source type)."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create("image/png", io.BytesIO(body), None, context)
    except c2pa.C2paError as error:
        return f"Invalid ({error})", None, False
    if reader is None:
        return MISSING, None, False
    with reader:
        state = reader.get_validation_state() or "unknown"
        store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {})
    created = any(
        action.get("action") == "c2pa.created" and action.get("digitalSourceType") == DIGITAL_SOURCE_TYPE
        for assertion in manifest.get("assertions", [])
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for action in assertion.get("data", {}).get("actions", [])
    )
    return state, label, created


class RunNotIntactError(RuntimeError):
    """A committed run's manifest names images that are missing or changed in S3."""


def not_intact_message(run_id: str, manifest_uri: str, summary: str, failures: list[dict]) -> str:
    """One paragraph: what is missing, and how to regenerate it."""
    first = "; ".join(f"{f['s3_uri']}: {', '.join(f['problems'])}" for f in failures[:3])
    return (
        f"run {run_id} is committed but its images do not all verify ({summary}); first: {first}. "
        f"A manifest is never rewritten in place: to regenerate, delete {manifest_uri} and rerun the same "
        f"command (shards whose images are intact are kept, the rest are made again)"
    )
