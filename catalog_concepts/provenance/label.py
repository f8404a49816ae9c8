"""The one labelling step the worker calls: pixels -> PNG with XMP, then a signed C2PA manifest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog_concepts.provenance.c2pa_sign import ImageSigner, load_or_create_signer, sign_png
from catalog_concepts.provenance.xmp import labelled_png, xmp_packet

__all__ = ["LabelledImage", "label_image", "load_or_create_signer"]


@dataclass(frozen=True)
class LabelledImage:
    """The PNG to publish and the label of the C2PA manifest inside it (None when unsigned)."""

    png: bytes
    c2pa_manifest_label: str | None


def label_image(
    pixels: np.ndarray,
    *,
    asset_id: str,
    prompt: str,
    system: str,
    system_version: str,
    parameters: dict,
    signer: ImageSigner | None,
) -> LabelledImage:
    """Encode (H, W, 3) uint8 pixels as PNG, write the IPTC XMP first, then sign C2PA last."""
    # 1. XMP first: the IPTC digital source type and AI fields travel inside the PNG.
    png = labelled_png(pixels, xmp_packet(system=system, system_version=system_version, prompt=prompt, asset_id=asset_id))
    if signer is None:
        return LabelledImage(png=png, c2pa_manifest_label=None)
    # 2. C2PA last: the signature covers the bytes, XMP included.
    signed, label = sign_png(png, title=f"{asset_id}.png", asset_id=asset_id, parameters=parameters, signer=signer)
    return LabelledImage(png=signed, c2pa_manifest_label=label)
