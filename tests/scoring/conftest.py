"""Synthetic images for the scoring tests: flat, clipped, saturated and a natural-ish scene.

Fixture `make_image(kind, seed=0)` returns one uint8 (64, 64, 3) image of a named kind.
"""

import numpy as np
import pytest

SIZE = 64


def _scene(seed: int) -> np.ndarray:
    """A product-like scene: vertical gradient backdrop, a shaded box and disc, mild noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None, None]  # (H, 1, 1)
    top, bottom = np.array([200, 190, 220], np.float32), np.array([140, 140, 180], np.float32)
    img = np.broadcast_to(top + (bottom - top) * t, (SIZE, SIZE, 3)).copy()  # (H, W, 3)
    x0, y0 = rng.integers(8, 24, size=2)
    img[y0 : y0 + 24, x0 : x0 + 30] = rng.uniform(60, 230, size=3)  # the "product"
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - (y0 + 30)) ** 2 + (xx - (x0 + 15)) ** 2 < 9**2  # (H, W)
    img[disc] *= 0.7  # a shaded part
    img += rng.normal(0.0, 4.0, img.shape)  # sensor-like grain
    return np.clip(img, 0, 255).astype(np.uint8)


def _image(kind: str, seed: int = 0) -> np.ndarray:
    """One named synthetic uint8 (64, 64, 3) image."""
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    if kind == "gray":
        img[:] = 128
    elif kind == "half_black_white":
        img[:, SIZE // 2 :] = 255
    elif kind == "red":
        img[..., 0] = 255
    elif kind == "scene":
        img = _scene(seed)
    elif kind == "checker":
        yy, xx = np.mgrid[:SIZE, :SIZE]
        img[((yy // 8 + xx // 8) % 2) == 1] = (90, 160, 120)
        img[((yy // 8 + xx // 8) % 2) == 0] = (200, 150, 170)
    elif kind == "stripes":
        img[:, :] = (40, 40, 200)
        img[(np.arange(SIZE) // 4) % 2 == 1] = (250, 240, 120)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return img


@pytest.fixture
def make_image():
    """Factory fixture: make_image(kind, seed=0) -> uint8 (64, 64, 3)."""
    return _image


def _tiny_clip_config():
    """A CLIPConfig a few kilobytes big: 2-layer towers of width 32, 32x32 images, projection 16."""
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )


def _tiny_image_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A random-weights CLIPModel + CLIPProcessor (character-level tokenizer, no files needed) saved to a folder."""
    import torch
    from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz,":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    processor = CLIPProcessor(image_processor=_tiny_image_processor(), tokenizer=CLIPTokenizer(vocab=vocab, merges=[]))
    out = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(_tiny_clip_config()).save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_safety_checker_dir(tmp_path_factory):
    """A random-weights StableDiffusionSafetyChecker with its image processor in one folder."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    torch.manual_seed(0)
    config = _tiny_clip_config()
    config._attn_implementation = "eager"  # the checker does not support SDPA
    out = tmp_path_factory.mktemp("tiny-safety-checker")
    StableDiffusionSafetyChecker(config).save_pretrained(out)
    _tiny_image_processor().save_pretrained(out)
    return out
