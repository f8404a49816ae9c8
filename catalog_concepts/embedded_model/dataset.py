"""Attribute combinations, held-out split and captions of the procedural training set."""

from dataclasses import dataclass

import numpy as np

from catalog.vocabulary import BACKGROUND_BY_ASSET_TYPE, BACKGROUNDS, CATEGORIES, COLORS, MATERIALS_BY_CATEGORY
from catalog_concepts.embedded_model.render import render_product
from catalog_concepts.prompts.templates import NEGATIVE_PROMPT, build_prompt

ASSET_TYPE_BY_BACKGROUND: dict[str, str] = {bg: at for at, bg in BACKGROUND_BY_ASSET_TYPE.items()}

# (category, colour, background) never rendered for training (26 of 256, ~10%, every material):
# prompt adherence is measured only on these, so the model must compose, not recall.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("table", "red", "gradient"),
    ("table", "orange", "wood_floor"),
    ("table", "yellow", "studio_white"),
    ("table", "green", "dark"),
    ("chair", "green", "wood_floor"),
    ("chair", "teal", "studio_white"),
    ("chair", "blue", "dark"),
    ("chair", "purple", "gradient"),
    ("lamp", "red", "gradient"),
    ("lamp", "purple", "studio_white"),
    ("lamp", "pink", "dark"),
    ("sofa", "orange", "dark"),
    ("sofa", "yellow", "gradient"),
    ("sofa", "green", "wood_floor"),
    ("mug", "teal", "gradient"),
    ("mug", "blue", "wood_floor"),
    ("mug", "purple", "studio_white"),
    ("shoe", "red", "studio_white"),
    ("shoe", "orange", "dark"),
    ("shoe", "pink", "wood_floor"),
    ("shirt", "yellow", "studio_white"),
    ("shirt", "green", "dark"),
    ("shirt", "teal", "gradient"),
    ("bag", "blue", "dark"),
    ("bag", "purple", "gradient"),
    ("bag", "pink", "wood_floor"),
)

# Captions that mean "no condition" at sampling time: diffusers encodes "" when no negative
# prompt is given, and the flow always passes NEGATIVE_PROMPT; both are trained as unconditional.
UNCONDITIONAL_CAPTIONS: tuple[str, ...] = ("", NEGATIVE_PROMPT)


@dataclass(frozen=True)
class Attributes:
    """One product to render: what the caption says and what the classifier must read back."""

    category: str
    color: str
    material: str
    background: str

    @property
    def caption(self) -> str:
        """The exact prompt the flow would build for this product."""
        row = {"category": self.category, "color": self.color, "material": self.material,
               "asset_type": ASSET_TYPE_BY_BACKGROUND[self.background]}
        return build_prompt(row).text


def all_attributes(held_out: bool) -> list[Attributes]:
    """Every (category, colour, material, background) inside (held_out=True) or outside the held-out split."""
    held = set(HELD_OUT)
    return [
        Attributes(cat, col, mat, bg)
        for cat in CATEGORIES
        for col in COLORS
        for mat in MATERIALS_BY_CATEGORY[cat]
        for bg in BACKGROUNDS
        if ((cat, col, bg) in held) == held_out
    ]


def sample_attributes(n: int, seed: int, held_out: bool) -> list[Attributes]:
    """n attribute sets drawn uniformly (seeded) from one side of the split."""
    pool = all_attributes(held_out)
    idx = np.random.default_rng(seed).integers(0, len(pool), size=n)
    return [pool[i] for i in idx]


def render_images(attrs: list[Attributes], seed: int) -> np.ndarray:
    """Render attribute sets to uint8 images (N, 64, 64, 3); image i uses its own rng (seed, i)."""
    out = np.empty((len(attrs), 64, 64, 3), dtype=np.uint8)  # (N, H, W, 3)
    for i, a in enumerate(attrs):
        rng = np.random.default_rng([seed, i])
        out[i] = np.asarray(render_product(a.category, a.color, a.material, a.background, rng))
    return out


def to_model_range(images: np.ndarray) -> "torch.Tensor":  # noqa: F821
    """uint8 (N, H, W, 3) -> float tensor in [-1, 1], (N, 3, H, W), as the VAE expects."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # (N, 3, H, W)
