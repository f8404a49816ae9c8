"""Near-duplicate detection with a 64-bit DCT perceptual hash (pHash), in numpy.

pHash after Zauner 2010, "Implementation and Benchmarking of Perceptual Image Hash
Functions": 32x32 grayscale, 2-D DCT-II, keep the lowest 8x8 frequencies, one bit per
coefficient above their median. Similar images differ in few bits (Hamming distance).
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

SCORER_VERSION = "phash/1"
SCORE_NAMES: tuple[str, ...] = ()  # hashes and duplicate indices are not float scores
HASH_SIZE = 8  # 8x8 low frequencies -> 64 bits
DCT_SIZE = 32
HEX_CHARS = HASH_SIZE * HASH_SIZE // 4


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix D (n, n): the 2-D DCT of X is D @ X @ D.T (Ahmed et al. 1974)."""
    k = np.arange(n)[:, None]  # (n, 1) frequency
    i = np.arange(n)[None, :]  # (1, n) sample
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))  # (n, n)
    d[0, :] /= np.sqrt(2.0)  # c_0 = 1/sqrt(2) makes the matrix orthonormal
    return d


_DCT = _dct_matrix(DCT_SIZE)


def phash(image: np.ndarray) -> str:
    """64-bit DCT perceptual hash of one uint8 (H, W, 3) image, as 16 lowercase hex characters."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"image must be a uint8 array of shape (H, W, 3), got {type(image).__name__} "
            f"{getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        )
    gray = Image.fromarray(image).convert("L").resize((DCT_SIZE, DCT_SIZE), Image.Resampling.BOX)
    x = np.asarray(gray, dtype=np.float64)  # (32, 32)
    coeffs = _DCT @ x @ _DCT.T  # (32, 32)
    low = np.round(coeffs[:HASH_SIZE, :HASH_SIZE], 6)  # (8, 8); rounding makes flat images hash stably
    bits = (low > np.median(low)).ravel()  # (64,) row-major, most significant bit first
    value = int("".join("1" if b else "0" for b in bits), 2)
    return f"{value:0{HEX_CHARS}x}"


def _as_int(h: str) -> int:
    """Parse one 16-hex-character hash, raising on anything else."""
    if not isinstance(h, str) or len(h) != HEX_CHARS:
        raise ValueError(f"hash must be a {HEX_CHARS}-character hex string, got {h!r}")
    try:
        return int(h, 16)
    except ValueError:
        raise ValueError(f"hash must be a {HEX_CHARS}-character hex string, got {h!r}") from None


def hash_value(h: str) -> int:
    """The 64-bit integer of one pHash hex string (raises on anything else)."""
    return _as_int(h)


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two pHash hex strings (0..64)."""
    return (_as_int(a) ^ _as_int(b)).bit_count()


def duplicate_groups(hashes: Sequence[str], max_distance: int) -> list[int]:
    """For each hash, the index of the first earlier hash within max_distance bits, or -1."""
    if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)) or not 0 <= max_distance <= 64:
        raise ValueError(f"max_distance must be an integer in 0..64, got {max_distance!r}")
    values = np.array([_as_int(h) for h in hashes], dtype=np.uint64)  # (N,)
    groups = []
    for i in range(len(values)):
        distances = np.bitwise_count(values[:i] ^ values[i])  # (i,) Hamming distance to each earlier hash
        close = np.flatnonzero(distances <= max_distance)
        groups.append(int(close[0]) if close.size else -1)
    return groups


def duplicates_within_sku(skus: Sequence[str], variants: Sequence[int], hashes: Sequence[str], max_distance: int) -> list[int]:
    """For each image, the variant number of an earlier near-identical variant of its SKU, or -1.

    Images are compared only with other variants of their own SKU (a shard holds whole SKUs), in
    the order given: the first of two near-copies is the original, the second its duplicate.
    """
    if not len(skus) == len(variants) == len(hashes):
        raise ValueError(f"{len(skus)} skus, {len(variants)} variants and {len(hashes)} hashes; need one of each per image")
    result = [-1] * len(skus)
    by_sku: dict[str, list[int]] = {}
    for i, sku in enumerate(skus):
        by_sku.setdefault(sku, []).append(i)
    for indices in by_sku.values():
        groups = duplicate_groups([hashes[i] for i in indices], max_distance)
        for position, first in zip(indices, groups, strict=True):
            result[position] = int(variants[indices[first]]) if first >= 0 else -1
    return result
