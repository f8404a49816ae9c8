"""An image's request digest changes with exactly what was asked of the model, and nothing else."""

import dataclasses

import pytest

from catalog_concepts.engine.generate import ImageRequest, SamplingSettings
from catalog_concepts.engine.request_identity import request_sha256

REQUEST = ImageRequest(asset_id="a" * 32, sku="SKU-1", variant=0, seed=42, prompt="a red wood chair", negative_prompt="text")
SAMPLING = SamplingSettings(scheduler="dpmsolver++", steps=10, guidance_scale=3.0, width=64, height=64)
WEIGHTS = "f" * 64
BASE = request_sha256(REQUEST, SAMPLING, WEIGHTS)


@pytest.mark.parametrize("request_change, sampling_change, weights", [
    ({"prompt": "a blue wood chair"}, {}, WEIGHTS),
    ({"negative_prompt": "logo"}, {}, WEIGHTS),
    ({"seed": 43}, {}, WEIGHTS),
    ({}, {"scheduler": "ddim"}, WEIGHTS),
    ({}, {"steps": 11}, WEIGHTS),
    ({}, {"guidance_scale": 3.5}, WEIGHTS),
    ({}, {"width": 128}, WEIGHTS),
    ({}, {"max_sequence_length": 77}, WEIGHTS),
    ({}, {}, "e" * 64),
])
def test_every_input_of_the_model_changes_the_digest(request_change, sampling_change, weights):
    changed = request_sha256(dataclasses.replace(REQUEST, **request_change), dataclasses.replace(SAMPLING, **sampling_change), weights)
    assert changed != BASE


def test_where_the_image_is_filed_does_not_change_what_it_is():
    # Another run (asset id) of the same SKU and variant asks the model for the same image.
    assert request_sha256(dataclasses.replace(REQUEST, asset_id="b" * 32), SAMPLING, WEIGHTS) == BASE
    assert len(BASE) == 64 and int(BASE, 16) >= 0


def test_weights_digest_is_required():
    with pytest.raises(ValueError, match="weights_sha256"):
        request_sha256(REQUEST, SAMPLING, "")
