"""Verify a run's images before its commit, each shard as soon as it is staged, while the night goes on.

Verified after the commit, a run's images made the longest serial step after its last shard (1,440
images re-downloaded and checked in 7.7 s on a 2-core box, the parent idle for the whole night before
it), and a run whose images did not verify was already committed when it failed. Here the parent
checks each shard's stored images on a few threads as the shard is staged, so that after the last
shard only that shard's images are left to check, and a run with an image that does not verify is
never committed. What happens to the objects between this check and the commit is covered by
`provenance/confirm.py`: objects are written create-only, so only a deletion or an overwrite by
someone else can change them, and one LIST per prefix shows either (ETag and size).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from catalog_concepts.provenance.verify import ImageCheck, ObjectMissingError, VerifyReport, download_and_check_image, reader_context
from catalog_concepts.storage.settings import S3Settings, boto3_client

DEFAULT_THREADS = 4  # beside shard workers on the same cores; the checks are native code that releases the GIL


class PrecommitVerification:
    """Checks every stored image of the shards handed to `add`, in the background; `result` waits for all of them.

    keep_rank, keep_max: the verified bytes of the keep_max rows of lowest keep_rank(row) over every row
    added are handed back (the contact sheet's pictures), as if the whole night's rows had been ranked
    at once; memory holds at most keep_max images.
    """

    def __init__(
        self,
        settings: S3Settings,
        manifest_uri: str,
        *,
        trust_anchor_pem: bytes | str | None,
        require_c2pa: bool = True,
        threads: int = DEFAULT_THREADS,
        keep_rank: Callable[[dict], Any] | None = None,
        keep_max: int = 0,
    ):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self._client = boto3_client(settings)
        self._bucket = settings.bucket
        self._manifest_uri = manifest_uri
        self._trust_anchor_pem = trust_anchor_pem
        self._require_c2pa = require_c2pa
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="precommit-verify")
        self._local = threading.local()
        self._futures: list[tuple[dict, Future]] = []
        self._unstored = 0
        self._keep_rank, self._keep_max = keep_rank, max(0, keep_max)
        self._lock = threading.Lock()
        self._ranked: list[tuple[Any, int, str]] = []  # the keep_max lowest (rank, order added, asset id) so far
        self._kept: dict[str, bytes] = {}
        self._added = 0

    def __enter__(self) -> PrecommitVerification:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, rows: Sequence[dict]) -> None:
        """Start checking the objects a staged shard's rows name."""
        for row in rows:
            order = self._added
            self._added += 1
            if not row.get("s3_uri"):
                self._unstored += 1
                self._offer(row, order, None)
                continue
            self._futures.append((row, self._pool.submit(self._check, row, order)))

    def result(self) -> VerifyReport:
        """Wait for every check; a download that failed for a reason other than a missing object is tried once more."""
        checks = []
        for row, future in self._futures:
            check, retry = future.result()
            if retry:
                check, _ = self._check(row, None)
            checks.append(check)
        with self._lock:
            kept = {asset_id: self._kept[asset_id] for _, _, asset_id in self._ranked if asset_id in self._kept}
        return VerifyReport(manifest_uri=self._manifest_uri, rows=checks, unstored=self._unstored, kept=kept)

    def _check(self, row: dict, order: int | None) -> tuple[ImageCheck, bool]:
        if not hasattr(self._local, "context"):
            self._local.context = reader_context(self._trust_anchor_pem)
        check, body = download_and_check_image(
            self._client, self._bucket, row, context=self._local.context,
            require_trusted=self._trust_anchor_pem is not None, require_c2pa=self._require_c2pa,
        )
        retry = isinstance(body, Exception) and not isinstance(body, ObjectMissingError)
        if order is not None or check.ok:
            self._offer(row, order, body if check.ok and isinstance(body, bytes) else None)
        return check, retry

    def _offer(self, row: dict, order: int | None, body: bytes | None) -> None:
        """Rank the row among the kept candidates; keep its bytes while it stays among the keep_max lowest."""
        if self._keep_rank is None or self._keep_max == 0:
            return
        with self._lock:
            if order is None:  # a retried check: the row was ranked the first time
                if body is not None and any(asset_id == row["asset_id"] for _, _, asset_id in self._ranked):
                    self._kept[row["asset_id"]] = body
                return
            entry = (self._keep_rank(row), order, row["asset_id"])
            bisect.insort(self._ranked, entry)
            if body is not None:
                self._kept[row["asset_id"]] = body
            if len(self._ranked) > self._keep_max:
                dropped = self._ranked.pop()
                self._kept.pop(dropped[2], None)


class ImagesNotVerifiedError(RuntimeError):
    """Images a run stored do not verify, so its manifest was not committed."""


def not_verified_message(run_id: str, summary: str, failures: Sequence[ImageCheck]) -> str:
    """One paragraph: what does not verify, that nothing was committed, and what to do."""
    first = "; ".join(f"{f.s3_uri}: {', '.join(f.problems)}" for f in failures[:3])
    return (
        f"run {run_id} was not committed: its images do not all verify ({summary}); first: {first}. "
        f"Rerun the same command to retry: shards whose images verify are kept, a shard whose object is missing is "
        f"made again; an object that is present but wrong (bad signature, changed bytes) must be deleted first"
    )
