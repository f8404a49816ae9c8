"""Regenerate one image from its manifest row alone and compare it with the stored PNG.

The row holds the model's weights hash, the scheduler, steps, guidance, seed, prompts and
size; the model folder supplies the weights (checked against the hash) and the text
length it was sampled with. Same device and dtype should give identical pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.settings import S3Settings, boto3_client, split_s3_uri

# diffusers scheduler class recorded in the manifest -> engine.schedulers name.
SCHEDULER_NAMES: dict[str, str] = {
    "DDIMScheduler": "ddim",
    "DPMSolverMultistepScheduler": "dpmsolver++",
    "EulerDiscreteScheduler": "euler",
    "FlowMatchEulerDiscreteScheduler": "flow-euler",
}


@dataclass(frozen=True)
class ReproduceResult:
    """How the regenerated pixels compare with the stored ones (uint8 differences)."""

    asset_id: str
    identical: bool
    max_abs_diff: int
    mean_abs_diff: float
    device: str
    dtype: str


def find_row(settings: S3Settings, asset_id: str) -> dict:
    """The one committed manifest row of asset_id, or a LookupError."""
    import pyarrow.compute as pc

    from storage.manifest import read_manifests

    if not isinstance(asset_id, str) or not asset_id:
        raise ValueError(f"asset_id must be a non-empty string, got {asset_id!r}")
    table = read_manifests(settings)
    rows = table.filter(pc.equal(table["asset_id"], asset_id)).to_pylist()
    if len(rows) != 1:
        raise LookupError(
            f"asset {asset_id!r}: expected one row in the committed manifests of s3://{settings.bucket}, found {len(rows)}"
        )
    return rows[0]


def sampling_from_row(row: dict, model_dir: str | Path):
    """SamplingSettings that regenerate row's image (scheduler name mapped from its class)."""
    from engine.generate import SamplingSettings
    from engine.load import read_defaults

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
    )


def reproduce(settings: S3Settings, asset_id: str, *, model_dir: str | Path, device: str = "auto") -> ReproduceResult:
    """Regenerate asset_id from its manifest row with the model in model_dir and compare pixels."""
    from engine.device import choose_placement
    from engine.generate import ImageRequest, generate
    from engine.load import load_model, weights_sha256

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

    # 2. Regenerate on the recorded device family and dtype, with the image's own seed.
    if device == "auto":
        device = "cpu" if str(row["device_name"]).startswith("cpu") else "cuda"
    model = load_model(folder, choose_placement(device, row["dtype"]))
    request = ImageRequest(
        asset_id=row["asset_id"], sku=row["sku"], variant=int(row["variant"]), seed=int(row["seed"]),
        prompt=row["prompt"], negative_prompt=row["negative_prompt"],
    )
    (image,) = generate(model, [request], sampling, batch_size=1)

    # 3. Compare with the published bytes (labels do not touch the pixels).
    bucket, key = split_s3_uri(row["s3_uri"])
    stored = decode_png(boto3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read())
    if stored.shape != image.pixels.shape:
        raise ValueError(f"stored image is {stored.shape}, regenerated {image.pixels.shape}")
    diff = np.abs(stored.astype(np.int16) - image.pixels.astype(np.int16))  # (H, W, 3)
    return ReproduceResult(
        asset_id=asset_id,
        identical=bool(diff.max() == 0),
        max_abs_diff=int(diff.max()),
        mean_abs_diff=float(diff.mean()),
        device=model.placement.device,
        dtype=model.placement.dtype,
    )


def decode_png(png: bytes) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))
