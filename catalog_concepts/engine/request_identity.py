"""What an image IS, as opposed to where it is stored: a digest of everything asked of the model.

Two images with the same request digest were asked for with the same prompts, seed, sampler
and weights; a catalog edit that changes one SKU's colour changes exactly that SKU's
digests. The device and dtype are left out on purpose: they are where the request ran (the
manifest row records them), and a resumed run on other hardware must still recognise the
shards it already finished instead of regenerating them.
"""

import hashlib
import json

from catalog_concepts.engine.generate import ImageRequest, SamplingSettings

IDENTITY_VERSION = "request-v1"


def request_sha256(request: ImageRequest, sampling: SamplingSettings, weights_sha256: str) -> str:
    """SHA-256 hex over the request's prompts and seed, the sampling settings and the weights digest.

    The asset id is left out: it names the run the image belongs to, not what the image is, so
    the same request in two runs (e.g. before and after a catalog edit) has the same digest.
    """
    if not isinstance(weights_sha256, str) or not weights_sha256:
        raise ValueError(f"weights_sha256 must be a non-empty string, got {weights_sha256!r}")
    fields = {
        "version": IDENTITY_VERSION,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "scheduler": sampling.scheduler,
        "steps": sampling.steps,
        "guidance_scale": sampling.guidance_scale,
        "width": sampling.width,
        "height": sampling.height,
        "max_sequence_length": sampling.max_sequence_length,
        "weights_sha256": weights_sha256,
    }
    # Only when set: a request without a guidance interval keeps the digest it had before intervals existed.
    if sampling.guidance_interval is not None:
        fields["guidance_interval"] = sampling.guidance_interval
    # JSON with sorted keys: an unambiguous encoding ("a", "b|c") never meets ("a|b", "c").
    encoded = json.dumps(fields, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()
