"""Tiny-model CPU runs of the real generation path."""

import numpy as np
import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import clear_cache, load_model
from catalog_concepts.engine.schedulers import SCHEDULERS, make_scheduler
from catalog_concepts.engine.seeds import image_seed

COLORS = ["red", "blue", "green", "pink", "teal"]


def _requests():
    return [
        ImageRequest(f"asset-{i}", f"SKU-{i}", 0, image_seed(1, f"SKU-{i}", 0), f"a {c} wood table on a wood floor", "text")
        for i, c in enumerate(COLORS)
    ]


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver++", "euler"])
def test_image_is_identical_whatever_its_batch_or_position(tiny_model, scheduler):
    settings = SamplingSettings(scheduler, steps=4, guidance_scale=3.0, width=32, height=32, max_sequence_length=32)
    requests = _requests()
    all_five = generate(tiny_model, requests, settings, batch_size=5)
    alone = generate(tiny_model, [requests[3]], settings, batch_size=1)
    reordered = generate(tiny_model, [requests[4], requests[3], requests[0]], settings, batch_size=2)
    assert np.array_equal(all_five[3].pixels, alone[0].pixels)
    assert np.array_equal(all_five[3].pixels, reordered[1].pixels)
    # Different seeds give different images: the check above is not comparing constants.
    assert not np.array_equal(all_five[0].pixels, all_five[1].pixels)


def test_outputs_shapes_costs_and_scheduler(tiny_model):
    settings = SamplingSettings("ddim", steps=5, guidance_scale=2.0, width=32, height=32, max_sequence_length=32)
    images = generate(tiny_model, _requests()[:2], settings, batch_size=2)
    assert images[0].pixels.shape == (32, 32, 3) and images[0].pixels.dtype == np.uint8
    assert images[0].denoiser_evals == 5 * 2  # 5 steps x (conditional + unconditional)
    assert images[0].scheduler_class == "DDIMScheduler"
    assert images[0].scheduler_config["clip_sample"] is False
    plain = generate(tiny_model, _requests()[:1], SamplingSettings("ddim", 5, 1.0, 32, 32, 32), batch_size=1)
    assert plain[0].denoiser_evals == 5  # w = 1 is plain conditional sampling: one branch


def test_guidance_changes_the_image(tiny_model):
    request = _requests()[:1]
    low = generate(tiny_model, request, SamplingSettings("euler", 4, 1.0, 32, 32, 32), 1)[0].pixels
    high = generate(tiny_model, request, SamplingSettings("euler", 4, 7.5, 32, 32, 32), 1)[0].pixels
    assert not np.array_equal(low, high)


def test_reload_gives_the_same_image(tiny_model_dir, tiny_model):
    settings = SamplingSettings("dpmsolver++", 4, 3.0, 32, 32, 32)
    first = generate(tiny_model, _requests()[:1], settings, 1)[0].pixels
    clear_cache()
    reloaded = load_model(tiny_model_dir, choose_placement("cpu"))
    assert reloaded is not tiny_model
    assert reloaded.weights_sha256 == tiny_model.weights_sha256
    assert np.array_equal(first, generate(reloaded, _requests()[:1], settings, 1)[0].pixels)


@pytest.mark.parametrize(
    "settings, message",
    [
        (SamplingSettings("ddim", 0, 3.0, 32, 32), "steps"),
        (SamplingSettings("ddim", 4, 0.5, 32, 32), "guidance_scale"),
        (SamplingSettings("ddim", 4, 3.0, 30, 32), "width"),
        (SamplingSettings("pndm", 4, 3.0, 32, 32), "unknown scheduler 'pndm'; allowed: ddim"),
    ],
)
def test_bad_settings_fail_with_allowed_values(tiny_model, settings, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_model, _requests()[:1], settings, 1)


def test_flow_matching_sampler_refused_on_ddpm_model(tiny_model):
    with pytest.raises(ValueError, match="does not fit this DDPM-family model"):
        make_scheduler("flow-euler", tiny_model.base_scheduler)
    assert set(SCHEDULERS) >= {"ddim", "dpmsolver++", "euler"}


def test_loader_refuses_a_folder_without_model_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        load_model(tmp_path, choose_placement("cpu"))


def test_cached_embeddings_give_the_same_pixels_as_plain_diffusers(tiny_model):
    """The engine's per-prompt embedding cache is invisible in the images."""
    from catalog_concepts.engine.seeds import image_generator

    settings = SamplingSettings("dpmsolver++", 4, 3.0, 32, 32, 32)
    requests = _requests()[:3] + [_requests()[0]]  # a repeated prompt hits the cache
    ours = generate(tiny_model, requests, settings, batch_size=4)
    plain = tiny_model.pipe(
        prompt=[r.prompt for r in requests], negative_prompt="text", num_inference_steps=4, guidance_scale=3.0,
        generator=[image_generator(r.seed) for r in requests], width=32, height=32, output_type="np",
        use_resolution_binning=False, clean_caption=False, max_sequence_length=32,
    ).images
    plain = (plain * 255.0).round().clip(0, 255).astype(np.uint8)
    for image, expected in zip(ours, plain, strict=True):
        assert np.array_equal(image.pixels, expected)
    assert tiny_model.text_cache.hits > 0


def test_two_threads_take_whole_turns_not_interleaved_batches(tiny_model):
    # Two shards in flight: one generates all its batches while the other waits (and is finished on
    # the CPU meanwhile), so the device never idles while both finish together.
    import threading

    settings = SamplingSettings("ddim", steps=2, guidance_scale=3.0, width=32, height=32, max_sequence_length=32)
    order: list[int] = []
    hook = tiny_model.pipe.vae.decoder.register_forward_pre_hook(lambda module, args: order.append(threading.get_ident()))
    try:
        threads = [threading.Thread(target=generate, args=(tiny_model, _requests(), settings, 1)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        hook.remove()
    assert len(order) == 10 and len(set(order)) == 2
    assert order[:5] == [order[0]] * 5 and order[5:] == [order[5]] * 5  # one decode per batch, five batches each


def test_weights_digest_follows_a_changed_file_and_reuses_an_unchanged_one(tmp_path, monkeypatch):
    import os

    from catalog_concepts.engine import load

    (tmp_path / "model_index.json").write_text("{}")
    weights = tmp_path / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"a" * 1000)
    first = load.weights_sha256(tmp_path)
    reads = []
    monkeypatch.setattr(load.Path, "open", lambda self, *a, **k: reads.append(self) or open(self, *a, **k))  # noqa: SIM115 -- hands the open file back, as Path.open does
    assert load.weights_sha256(tmp_path) == first and reads == []  # unchanged: not read again
    weights.write_bytes(b"b" * 1000)  # same size, new content
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later mtime, whatever the clock's grain
    reads.clear()  # the write itself went through Path.open
    assert load.weights_sha256(tmp_path) != first and reads == [weights]


def test_a_held_turn_admits_its_own_calls_and_keeps_other_threads_out(tiny_model):
    import threading

    from catalog_concepts.engine.generate import pipeline_turn

    settings = SamplingSettings("ddim", steps=2, guidance_scale=3.0, width=32, height=32, max_sequence_length=32)
    other_done = threading.Event()
    other = threading.Thread(target=lambda: (generate(tiny_model, _requests()[:1], settings, 1), other_done.set()))
    with pipeline_turn():
        generate(tiny_model, _requests()[:1], settings, 1)  # the holder's own call does not deadlock
        other.start()
        assert not other_done.wait(timeout=2.0)  # another thread waits for the turn to end
    other.join(timeout=300)
    assert other_done.is_set()
