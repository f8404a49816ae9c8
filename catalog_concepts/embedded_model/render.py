"""Procedural 64x64 product renders: the embedded model's whole training domain.

Each product is a flat PIL silhouette (one per catalog category) filled with a
catalog colour, a material texture, a lighting ramp and a soft floor shadow, on
one of the catalog's scenes. Drawn at 2x and box-downsampled so edges are
anti-aliased: a clean image is easier for a small VAE to reconstruct.
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS, MATERIALS

SIZE = 64
_SCALE = 2  # supersampling factor
_S = SIZE * _SCALE  # canvas side while drawing

# Base RGB (0-255) of each catalog colour; hues spaced so the classifier and a
# person can still tell them apart after lighting jitter.
COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (205, 35, 40),
    "orange": (240, 130, 20),
    "yellow": (240, 210, 40),
    "green": (45, 160, 60),
    "teal": (20, 150, 150),
    "blue": (40, 80, 210),
    "purple": (130, 50, 180),
    "pink": (240, 120, 185),
}


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def _background(background: str, rng: np.random.Generator) -> np.ndarray:
    """Scene as float RGB in [0, 1], shape (S, S, 3)."""
    y = np.linspace(0.0, 1.0, _S)[:, None, None]  # (S, 1, 1)
    x = np.linspace(0.0, 1.0, _S)[None, :, None]  # (1, S, 1)
    if background == "studio_white":
        level = rng.uniform(0.93, 0.99)
        vignette = 0.04 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
        img = np.broadcast_to(level - vignette, (_S, _S, 3))
    elif background == "dark":
        level = rng.uniform(0.07, 0.14)
        img = np.broadcast_to(level + 0.06 * (1 - y) * np.ones(3), (_S, _S, 3))
    elif background == "gradient":
        # Soft neutral blue-grey to warm-grey ramp; kept desaturated so no product colour hides in it.
        top = np.array([0.72, 0.76, 0.84]) + rng.uniform(-0.04, 0.04)
        bottom = np.array([0.86, 0.82, 0.78]) + rng.uniform(-0.04, 0.04)
        img = top * (1 - y) + bottom * y
    elif background == "wood_floor":
        horizon = rng.uniform(0.52, 0.62)
        wall = np.array([0.90, 0.86, 0.78]) + rng.uniform(-0.03, 0.03)
        plank = np.array([0.55, 0.36, 0.20]) * rng.uniform(0.85, 1.1)
        stripes = 0.08 * np.sin(2 * math.pi * (x * 6 + 0.3 * y) + rng.uniform(0, 6.28))  # plank seams
        floor = plank * (1 + stripes) * (0.85 + 0.2 * y)
        img = np.where(y < horizon, wall * np.ones_like(x), floor)
    else:
        raise ValueError(f"unknown background {background!r}; allowed: {', '.join(BACKGROUNDS)}")
    return np.clip(np.array(img, dtype=np.float32), 0.0, 1.0)


def _texture(material: str, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative brightness texture of a material, shape (S, S, 1)."""
    y = np.arange(_S)[:, None, None] / _S  # (S, 1, 1)
    x = np.arange(_S)[None, :, None] / _S  # (1, S, 1)
    if material == "wood":
        phase = rng.uniform(0, 6.28)
        grain = np.sin(2 * math.pi * (8 * y + 1.5 * np.sin(2 * math.pi * x * 1.3 + phase)))
        return 1.0 + 0.12 * grain
    if material == "fabric":
        weave = np.sign(np.sin(2 * math.pi * x * 32)) * np.sign(np.sin(2 * math.pi * y * 32))
        return 1.0 + 0.06 * weave
    if material == "metal":
        # Brushed sheen: a bright vertical band that moves with the light.
        centre = rng.uniform(0.3, 0.7)
        return 0.85 + 0.45 * np.exp(-(((x - centre) / 0.08) ** 2)) + 0.0 * y
    if material == "leather":
        return 1.0 - 0.08 * rng.random((_S, _S, 1)) ** 2
    if material == "ceramic":
        # Glossy highlight: a small bright spot near the upper left.
        cx, cy = rng.uniform(0.3, 0.45), rng.uniform(0.3, 0.45)
        return 1.0 + 0.5 * np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / 0.004))
    if material == "plastic":
        return np.ones((1, 1, 1))
    raise ValueError(f"unknown material {material!r}; allowed: {', '.join(MATERIALS)}")


def _rect(d: ImageDraw.ImageDraw, box: tuple[float, ...], shade: int, r: float = 0) -> None:
    box = tuple(v * _S for v in box)
    if r:
        d.rounded_rectangle(box, radius=r * _S, fill=shade)
    else:
        d.rectangle(box, fill=shade)


def _poly(d: ImageDraw.ImageDraw, pts: list[tuple[float, float]], shade: int) -> None:
    d.polygon([(px * _S, py * _S) for px, py in pts], fill=shade)


def _draw_silhouette(d: ImageDraw.ImageDraw, category: str) -> None:
    """Draw a category's parts into a unit-square canvas; fill value is the part's shade (255 = lit)."""
    if category == "table":
        _rect(d, (0.05, 0.30, 0.95, 0.42), 255)
        for x0 in (0.10, 0.80):
            _rect(d, (x0, 0.42, x0 + 0.10, 0.95), 190)
    elif category == "chair":
        _rect(d, (0.25, 0.02, 0.75, 0.50), 225, r=0.05)
        _rect(d, (0.20, 0.50, 0.80, 0.62), 255)
        for x0 in (0.22, 0.70):
            _rect(d, (x0, 0.62, x0 + 0.08, 0.98), 180)
    elif category == "lamp":
        _poly(d, [(0.30, 0.05), (0.70, 0.05), (0.88, 0.40), (0.12, 0.40)], 255)
        _rect(d, (0.46, 0.40, 0.54, 0.88), 190)
        d.ellipse(tuple(v * _S for v in (0.22, 0.84, 0.78, 0.98)), fill=210)
    elif category == "sofa":
        _rect(d, (0.10, 0.18, 0.90, 0.60), 215, r=0.08)
        _rect(d, (0.00, 0.40, 0.18, 0.85), 235, r=0.06)
        _rect(d, (0.82, 0.40, 1.00, 0.85), 235, r=0.06)
        _rect(d, (0.15, 0.52, 0.85, 0.82), 255, r=0.04)
        for x0 in (0.06, 0.88):
            _rect(d, (x0, 0.85, x0 + 0.06, 0.97), 150)
    elif category == "mug":
        d.ellipse(tuple(v * _S for v in (0.58, 0.30, 0.98, 0.72)), fill=200)
        d.ellipse(tuple(v * _S for v in (0.68, 0.40, 0.88, 0.62)), fill=0)
        _rect(d, (0.10, 0.12, 0.72, 0.95), 255, r=0.08)
    elif category == "shoe":
        _poly(d, [(0.05, 0.55), (0.25, 0.20), (0.48, 0.20), (0.60, 0.45), (0.95, 0.58), (0.98, 0.78), (0.05, 0.78)], 255)
        _rect(d, (0.02, 0.78, 0.98, 0.90), 150, r=0.03)
    elif category == "shirt":
        _poly(
            d,
            [(0.30, 0.05), (0.42, 0.05), (0.50, 0.14), (0.58, 0.05), (0.70, 0.05), (1.00, 0.30),
             (0.88, 0.45), (0.78, 0.36), (0.78, 0.98), (0.22, 0.98), (0.22, 0.36), (0.12, 0.45), (0.00, 0.30)],
            255,
        )
    elif category == "bag":
        d.arc(tuple(v * _S for v in (0.28, 0.02, 0.72, 0.60)), 180, 360, fill=190, width=int(0.07 * _S))
        _poly(d, [(0.12, 0.32), (0.88, 0.32), (0.96, 0.95), (0.04, 0.95)], 255)
    else:
        raise ValueError(f"unknown category {category!r}; allowed: {', '.join(CATEGORIES)}")


def render_product(
    category: str, color: str, material: str, background: str, rng: np.random.Generator
) -> Image.Image:
    """Render one 64x64 RGB product image; position, scale and lighting jitter come from rng."""
    _check("category", category, CATEGORIES)
    _check("color", color, COLORS)
    _check("material", material, MATERIALS)
    _check("background", background, BACKGROUNDS)
    img = _background(background, rng)  # (S, S, 3)

    # Silhouette on a unit canvas, then scaled and placed with jitter.
    unit = Image.new("L", (_S, _S), 0)
    _draw_silhouette(ImageDraw.Draw(unit), category)
    side = int(_S * rng.uniform(0.52, 0.72))
    cx = _S / 2 + rng.uniform(-0.10, 0.10) * _S
    bottom = _S * rng.uniform(0.86, 0.94)
    left, top = int(cx - side / 2), int(bottom - side)
    shade_img = Image.new("L", (_S, _S), 0)
    shade_img.paste(unit.resize((side, side), Image.Resampling.BILINEAR), (left, top))
    shade = np.asarray(shade_img, dtype=np.float32)[:, :, None] / 255.0  # (S, S, 1)
    mask = (shade > 0.02).astype(np.float32)  # (S, S, 1)

    # Soft elliptical floor shadow under the product.
    yy, xx = np.mgrid[0:_S, 0:_S].astype(np.float32)
    shadow = np.exp(-(((xx - cx) / (0.45 * side)) ** 2 + ((yy - bottom) / (0.05 * side)) ** 2))
    img = img * (1.0 - 0.35 * shadow[:, :, None])

    # Product colour x part shade x material texture x a directional light ramp.
    base = np.array(COLOR_RGB[color], dtype=np.float32) / 255.0 * rng.uniform(0.88, 1.08)
    light_dir = rng.uniform(-1, 1)
    ramp = 1.0 + 0.12 * light_dir * (xx[:, :, None] - cx) / side  # (S, S, 1)
    part = 0.55 + 0.45 * shade  # darker parts (legs, handles) read as 3D
    obj = np.clip(base * part * ramp * _texture(material, rng), 0.0, 1.0)  # (S, S, 3)
    img = img * (1 - mask) + obj * mask

    big = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return big.resize((SIZE, SIZE), Image.Resampling.BOX)
