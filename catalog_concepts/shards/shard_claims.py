"""Which shard a fleet worker takes next: its own share first, then any shard nobody has finished.

There is no coordinator. A shard is finished when its staged rows are in S3; a worker takes a
shard by taking the shard's lease (a create-only S3 object it renews while it works). A
worker that crashes or freezes stops renewing, its lease lapses (at once when its pid is
seen dead on the same host), and another worker finishes the shard: work stealing through
the objects the pipeline already keeps.
"""

from collections.abc import Sequence

from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.shards.shard import RunSpec, image_identities
from catalog_concepts.storage import staging
from catalog_concepts.storage.lease import LeaseKeeper, RunInProgressError
from catalog_concepts.storage.publish import object_exists


def shard_scope(index: int) -> str:
    """The lease scope of shard index: shard-00003."""
    return f"shard-{index:05d}"


def share_order(n_shards: int, share: int, shares: int) -> list[int]:
    """Shard indices for worker `share` of `shares`: its own (i % shares == share) first, then the others'."""
    if shares < 1 or not 0 <= share < shares:
        raise ValueError(f"share must be in 0..{shares - 1} for {shares} shares, got {share}")
    own = [i for i in range(n_shards) if i % shares == share]
    # Others' shards from the end of their shares backwards: a thief meets the owner halfway
    # instead of racing it for the shard it is about to take.
    others = sorted((i for i in range(n_shards) if i % shares != share), reverse=True)
    return own + others


def shard_keys(spec: RunSpec, shards: Sequence[Sequence[PlannedImage]]) -> list[str]:
    """The staging key of every shard of the plan (computed once: each names its images' request digests)."""
    return [staging.shard_key(spec.run_id, index, image_identities(spec, planned)) for index, planned in enumerate(shards)]


def is_staged(client, bucket: str, spec: RunSpec, index: int, planned: Sequence[PlannedImage]) -> bool:
    """True when this one shard's staged rows exist (the cheap check; process_shard confirms their objects)."""
    return object_exists(client, bucket, staging.shard_key(spec.run_id, index, image_identities(spec, planned)))


def claim_next(client, bucket: str, run_id: str, pending: Sequence[int]) -> tuple[int, LeaseKeeper] | None:
    """The first pending shard whose lease this worker could take, with the lease (held and renewed
    until released); None while live peers hold every pending shard."""
    for index in pending:
        keeper = LeaseKeeper(client, bucket, run_id, scope=shard_scope(index))
        try:
            keeper.__enter__()
        except RunInProgressError:
            continue
        return index, keeper
    return None
