"""Per-image seeds: every image owns its seed and generator, whatever batch it runs in."""

import hashlib
import unicodedata

# Seeds stay below 2**63 so they fit an int64 manifest column and torch.Generator.manual_seed.
_SEED_MASK = (1 << 63) - 1


def image_seed(run_seed: int, sku: str, variant: int) -> int:
    """Derive the seed of one image from (run seed, NFC sku, variant) with SHA-256."""
    if variant < 0:
        raise ValueError(f"variant must be >= 0, got {variant}")
    key = f"{int(run_seed)}\x1f{unicodedata.normalize('NFC', sku)}\x1f{int(variant)}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & _SEED_MASK


def image_generator(seed: int):
    """A CPU torch.Generator seeded for one image (CPU so the noise is the same on any device)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(int(seed))
