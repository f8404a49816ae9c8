"""Regenerate one image from its manifest row alone and compare it with the stored PNG.

The row holds the model's weights hash, the scheduler, steps, guidance, seed, prompts, size,
device, dtype and CPU thread count; the model folder supplies the weights (checked against the
hash) and the text length it was sampled with.

The verdict is `identical`, `within tolerance` (TOLERANCE) or `different`. Measured with
bench/reproducibility.py on a CPU: the pixels are bit-identical when the image is regenerated
on the same device, dtype and thread count in a batch of the same size as the one that made it
(its batch mates and its position do not matter), so the image is regenerated inside a batch of
`batch_size` copies of its own request. Another batch size (notably batches of 1-5, where other
kernels run) or another thread count may flip single pixels by one level: within tolerance.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog_concepts.storage.settings import S3Settings, boto3_client, split_s3_uri

# diffusers scheduler class recorded in the manifest -> catalog_concepts.engine.schedulers name.
SCHEDULER_NAMES: dict[str, str] = {
    "DDIMScheduler": "ddim",
    "DPMSolverMultistepScheduler": "dpmsolver++",
    "EulerDiscreteScheduler": "euler",
    "FlowMatchEulerDiscreteScheduler": "flow-euler",
}

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within tolerance"
DIFFERENT = "different"
VERDICTS = (IDENTICAL, WITHIN_TOLERANCE, DIFFERENT)

# The nightly flow's default batch size (flows.params.NightlyParams.batch_size). The manifest
# does not record the batch an image ran in; pass the run's batch size when it was another.
DEFAULT_BATCH_SIZE = 16

# catalog_concepts.engine.device.choose_placement names a CPU placement "cpu x<threads> threads".
_CPU_THREADS = re.compile(r"^cpu x(\d+) threads$")


@dataclass(frozen=True)
class Tolerance:
    """How far regenerated pixels may stray from the stored ones and still count as reproduced."""

    max_abs_diff: int  # largest difference of any channel of any pixel, in uint8 levels
    min_psnr_db: float  # peak signal-to-noise ratio of the whole image, 255 as the peak

    def describe(self) -> str:
        """The tolerance in one phrase, as the CLI and docs state it."""
        return f"max |diff| <= {self.max_abs_diff} and PSNR >= {self.min_psnr_db:g} dB"


# Measured (bench/reproducibility.py, tiny and shipped models, batch 1/8/16, 1 and 2 threads):
# float-order differences flip a few pixels by exactly one level (worst: max |diff| 1, PSNR
# 82 dB), while a different image (another seed) is below 25 dB (13.6-24.2 dB measured). 2 levels leaves room for a
# flip that the VAE spreads to a neighbour on other CPUs; 45 dB (RMS error 1.4 levels) bounds
# how many pixels may move, and is far above any image a viewer could tell apart.
TOLERANCE = Tolerance(max_abs_diff=2, min_psnr_db=45.0)


@dataclass(frozen=True)
class PixelComparison:
    """How two uint8 images of one size differ, and the verdict under a tolerance."""

    verdict: str
    max_abs_diff: int
    mean_abs_diff: float
    psnr_db: float  # math.inf when identical
    pixels_differing: int  # channel values that differ at all


@dataclass(frozen=True)
class ReproduceResult:
    """How the regenerated pixels compare with the stored ones, and how they were regenerated."""

    asset_id: str
    comparison: PixelComparison
    device: str
    dtype: str
    threads: int | None  # torch CPU threads used; None on an accelerator
    batch_size: int  # copies of the request in the regenerating batch

    @property
    def verdict(self) -> str:
        """identical, within tolerance or different."""
        return self.comparison.verdict

    @property
    def identical(self) -> bool:
        """Every pixel equal."""
        return self.comparison.verdict == IDENTICAL

    @property
    def reproduced(self) -> bool:
        """Identical or within tolerance: the command exits 0."""
        return self.comparison.verdict != DIFFERENT

    def summary(self) -> str:
        """One line: verdict, the numbers, the tolerance and where it was regenerated."""
        c = self.comparison
        where = f"{self.device}/{self.dtype}" + (f", {self.threads} threads" if self.threads else "")
        return (
            f"{self.asset_id}: {c.verdict} (max |diff| {c.max_abs_diff}, mean |diff| {c.mean_abs_diff:.5f}, "
            f"PSNR {c.psnr_db:.1f} dB; tolerance {TOLERANCE.describe()}) regenerated on {where} "
            f"in a batch of {self.batch_size}"
        )


def compare_pixels(stored: np.ndarray, regenerated: np.ndarray, tolerance: Tolerance = TOLERANCE) -> PixelComparison:
    """Compare two (H, W, C) uint8 images: identical, within tolerance, or different."""
    for name, image in (("stored", stored), ("regenerated", regenerated)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError(f"{name} image must be a uint8 numpy array, got {getattr(image, 'dtype', type(image))}")
    if stored.shape != regenerated.shape:
        raise ValueError(f"stored image is {stored.shape}, regenerated {regenerated.shape}: sizes differ, pixels cannot be compared")
    if stored.size == 0:
        raise ValueError(f"images of shape {stored.shape} have no pixels to compare")
    diff = np.abs(stored.astype(np.int16) - regenerated.astype(np.int16))  # (H, W, C)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    psnr = math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    max_abs = int(diff.max())
    if max_abs == 0:
        verdict = IDENTICAL
    elif max_abs <= tolerance.max_abs_diff and psnr >= tolerance.min_psnr_db:
        verdict = WITHIN_TOLERANCE
    else:
        verdict = DIFFERENT
    return PixelComparison(
        verdict=verdict, max_abs_diff=max_abs, mean_abs_diff=float(diff.mean()), psnr_db=psnr,
        pixels_differing=int(np.count_nonzero(diff)),
    )


def recorded_threads(device_name: str) -> int | None:
    """The CPU thread count a row's device_name records ("cpu x2 threads" -> 2), else None."""
    match = _CPU_THREADS.match(str(device_name))
    return int(match.group(1)) if match else None


def find_row(settings: S3Settings, asset_id: str) -> dict:
    """The one committed manifest row of asset_id, or a LookupError."""
    import pyarrow.dataset as ds

    from catalog_concepts.storage.manifest import manifest_dataset
    from catalog_concepts.storage.settings import arrow_filesystem

    if not isinstance(asset_id, str) or not asset_id:
        raise ValueError(f"asset_id must be a non-empty string, got {asset_id!r}")
    dataset = manifest_dataset(arrow_filesystem(settings), f"{settings.bucket}/manifests")
    # Two passes, never the whole bucket in memory: which files hold the asset (its id column
    # only), then every column of those files' matching rows.
    wanted = ds.field("asset_id") == asset_id
    paths = set(dataset.to_table(columns=["__filename"], filter=wanted).column("__filename").to_pylist())
    rows = [
        row for fragment in dataset.get_fragments() if fragment.path in paths
        for row in fragment.to_table(schema=dataset.schema, filter=wanted).to_pylist()
    ]
    if len(rows) != 1:
        raise LookupError(
            f"asset {asset_id!r}: expected one row in the committed manifests of s3://{settings.bucket}, found {len(rows)}"
        )
    return rows[0]


def sampling_from_row(row: dict, model_dir: str | Path):
    """SamplingSettings that regenerate row's image (scheduler name mapped from its class)."""
    from catalog_concepts.engine.generate import SamplingSettings
    from catalog_concepts.engine.load import read_defaults

    scheduler_class = row["scheduler_class"]
    if scheduler_class not in SCHEDULER_NAMES:
        raise ValueError(f"scheduler_class {scheduler_class!r} has no sampler name; known: {', '.join(SCHEDULER_NAMES)}")
    return SamplingSettings(
        scheduler=SCHEDULER_NAMES[scheduler_class],
        steps=int(row["steps"]),
        guidance_scale=float(row["guidance_scale"]),
        width=int(row["width"]),
        height=int(row["height"]),
        max_sequence_length=read_defaults(model_dir).get("max_sequence_length"),
        guidance_interval=row.get("guidance_interval"),
    )


def reproduce(
    settings: S3Settings,
    asset_id: str,
    *,
    model_dir: str | Path,
    device: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
) -> ReproduceResult:
    """Regenerate asset_id from its manifest row with the model in model_dir and compare pixels."""
    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.engine.generate import ImageRequest, generate
    from catalog_concepts.engine.load import load_model, weights_sha256

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # 1. The row, and the model it names: refuse other weights before spending compute.
    row = find_row(settings, asset_id)
    if not row.get("s3_uri"):
        raise LookupError(f"asset {asset_id!r} has no stored image to compare with (s3_uri is null)")
    folder = Path(model_dir).expanduser().resolve()
    found = weights_sha256(folder)
    if found != row["weights_sha256"]:
        raise ValueError(
            f"model folder {folder} has weights sha256 {found}, but asset {asset_id!r} was made by "
            f"{row['model_id']!r} with weights sha256 {row['weights_sha256']}: pass that model's folder"
        )
    sampling = sampling_from_row(row, folder)

    # 2. Regenerate on the recorded device family, dtype and CPU thread count, with the image's
    #    own seed, in a batch of copies of its request as large as the batch that made it: the
    #    kernels (and so the float sums) depend on the batch's size, not on what else is in it.
    if device == "auto":
        device = "cpu" if str(row["device_name"]).startswith("cpu") else "cuda"
    if device == "cpu" and threads is None:
        threads = recorded_threads(row["device_name"])
    placement = choose_placement(device, row["dtype"], threads=threads if device == "cpu" else None)
    model = load_model(folder, placement)
    request = ImageRequest(
        asset_id=row["asset_id"], sku=row["sku"], variant=int(row["variant"]), seed=int(row["seed"]),
        prompt=row["prompt"], negative_prompt=row["negative_prompt"],
    )
    image = generate(model, [request] * batch_size, sampling, batch_size=batch_size)[0]

    # 3. Compare with the published bytes (labels do not touch the pixels).
    bucket, key = split_s3_uri(row["s3_uri"])
    stored = decode_png(boto3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read())
    return ReproduceResult(
        asset_id=asset_id,
        comparison=compare_pixels(stored, image.pixels),
        device=placement.device,
        dtype=placement.dtype,
        threads=placement.threads if placement.device == "cpu" else None,
        batch_size=batch_size,
    )


def decode_png(png: bytes) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))
