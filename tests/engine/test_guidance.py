"""Guidance in a limited interval of noise levels: parsing, σ of a timestep, and tiny-model runs of the real path."""

import math

import numpy as np
import pytest

from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.guidance import GuidanceInterval, parse_interval, sigma_of_timestep
from catalog_concepts.engine.request_identity import request_sha256
from catalog_concepts.engine.seeds import image_seed


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("all", None), (" ALL ", None), ("0,5", "0,5"), ("0.30, 5.0", "0.3,5"), ("0.5,inf", "0.5,inf")],
)
def test_parse_interval_table(text, expected):
    parsed = parse_interval(text)
    assert (None if parsed is None else parsed.text()) == expected


@pytest.mark.parametrize("text", ["5,0", "1,1", "-1,2", "a,b", "1", "1,2,3", "nan,2"])
def test_bad_intervals_say_what_is_allowed(text):
    with pytest.raises(ValueError, match="'all' or 'sigma_low,sigma_high'|0 <= sigma_low < sigma_high"):
        parse_interval(text)


def test_sigma_of_a_ddpm_timestep_is_edm_sigma():
    alphas_cumprod = np.array([0.99, 0.5, 0.2])
    assert sigma_of_timestep({}, alphas_cumprod, 1) == pytest.approx(1.0)  # sqrt(0.5 / 0.5)
    assert sigma_of_timestep({}, alphas_cumprod, 2.4) == pytest.approx(2.0)  # rounded to t = 2: sqrt(0.8 / 0.2)


def test_sigma_of_a_rectified_flow_timestep():
    config = {"num_train_timesteps": 1000}
    assert sigma_of_timestep(config, None, 500.0) == pytest.approx(1.0)  # s = 0.5: x = (x0 + ε) / 2
    assert sigma_of_timestep(config, None, 1000.0) == math.inf


def _requests(n: int = 3) -> list[ImageRequest]:
    return [ImageRequest(f"asset-{i}", f"SKU-{i}", 0, image_seed(5, f"SKU-{i}", 0), f"a red wood table {i}", "text") for i in range(n)]


def _settings(interval: str | None, guidance: float = 4.0) -> SamplingSettings:
    return SamplingSettings("dpmsolver++", steps=4, guidance_scale=guidance, width=32, height=32, max_sequence_length=32,
                            guidance_interval=interval)


def test_an_interval_holding_every_step_is_plain_cfg_bit_for_bit(tiny_model):
    plain = generate(tiny_model, _requests(), _settings(None), batch_size=3)
    everywhere = generate(tiny_model, _requests(), _settings("0,inf"), batch_size=3)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(plain, everywhere, strict=True))
    assert [g.denoiser_evals for g in everywhere] == [4 * 2] * 3


def test_an_interval_holding_no_step_is_the_conditional_prediction(tiny_model):
    """Outside the interval the step is D(x | c): the same image as w = 1, made from the doubled batch's conditional half."""
    nowhere = generate(tiny_model, _requests(), _settings("50000,60000"), batch_size=3)
    conditional = generate(tiny_model, _requests(), _settings(None, guidance=1.0), batch_size=3)
    for a, b in zip(nowhere, conditional, strict=True):
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).max() <= 1  # same math; batch shapes may round differently
    assert [g.denoiser_evals for g in nowhere] == [4] * 3  # one branch per step: the unconditional one is skipped
    guided = generate(tiny_model, _requests(), _settings(None), batch_size=3)
    assert not np.array_equal(nowhere[0].pixels, guided[0].pixels)  # guidance does change this model's images


def test_a_partial_interval_guides_some_steps(tiny_model):
    """DPM-Solver++ 4 steps on the tiny model's schedule: the first (noisiest) step is outside (0, 5]."""
    partial = generate(tiny_model, _requests(1), _settings("0,5"), batch_size=1)[0]
    assert 4 < partial.denoiser_evals < 8
    plain = generate(tiny_model, _requests(1), _settings(None), batch_size=1)[0]
    assert not np.array_equal(partial.pixels, plain.pixels)


def test_the_image_does_not_depend_on_its_batch_with_an_interval(tiny_model):
    together = generate(tiny_model, _requests(), _settings("0,5"), batch_size=3)
    alone = generate(tiny_model, _requests()[1:2], _settings("0,5"), batch_size=1)
    assert np.array_equal(together[1].pixels, alone[0].pixels)


def test_settings_want_the_canonical_interval_text():
    with pytest.raises(ValueError, match="canonical"):
        _settings("0.30,5.0").check()
    with pytest.raises(ValueError, match="canonical"):
        _settings("all").check()
    _settings(GuidanceInterval(0.3, 5.0).text()).check()


def test_request_identity_covers_the_interval_and_keeps_old_digests():
    request = _requests(1)[0]
    unset = request_sha256(request, _settings(None), "w" * 64)
    # The digest this request had before guidance intervals existed (computed on 5395c1e): old runs still resume.
    assert unset == "606e98e5eb1dead89d3ee3077726a6f28ae095ece3b1838d6655833acb0ec728"
    assert len({unset, request_sha256(request, _settings("0,5"), "w" * 64), request_sha256(request, _settings("0,2"), "w" * 64)}) == 3
