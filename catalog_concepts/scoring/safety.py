"""Safety: a pluggable image checker; with none configured the scores are absent, never "safe".

The checker is diffusers' `StableDiffusionSafetyChecker` (a CLIP vision tower plus 17
concept and 3 special-care embeddings with per-concept thresholds) and its CLIP image
processor, loaded from a local folder. Scores per image:
- `safety_margin`: the largest concept score, cos(image, concept) - threshold (+0.01 on
  every concept when a special-care concept fired), exactly the rule of the checker's
  `forward_onnx`; above 0 means flagged;
- `safety_nsfw`: 1.0 when flagged, else 0.0.
"""

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from catalog_concepts.scoring.base import Scorer

SCORE_NAMES: tuple[str, ...] = ("safety_nsfw", "safety_margin")
SPECIAL_CARE_ADJUSTMENT = 0.01  # the checker's own stricter threshold once a special-care concept fires
PROCESSOR_FILE = "preprocessor_config.json"


def processor_dir(checker_dir: Path) -> Path:
    """Where the CLIP image processor lives: the checker folder itself, or a sibling feature_extractor/ (SD layout)."""
    if (checker_dir / PROCESSOR_FILE).is_file():
        return checker_dir
    sibling = checker_dir.parent / "feature_extractor"
    if (sibling / PROCESSOR_FILE).is_file():
        return sibling
    raise FileNotFoundError(f"no {PROCESSOR_FILE} in {checker_dir} or {sibling}; the checker needs its CLIP image processor")


@functools.lru_cache(maxsize=2)
def _load_checker(path: str):
    """The safety checker (eager attention: it does not support SDPA) and its image processor."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    checker = StableDiffusionSafetyChecker.from_pretrained(path, local_files_only=True, attn_implementation="eager")
    processor = CLIPImageProcessor.from_pretrained(str(processor_dir(Path(path))), local_files_only=True)
    return checker.eval(), processor


def concept_margins(checker, processor, images: np.ndarray) -> np.ndarray:
    """Largest (cos - threshold [+ special-care adjustment]) over the checker's concepts per image -> (N,)."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import cosine_distance

    with torch.no_grad():
        clip_input = processor(images=list(images), return_tensors="pt")["pixel_values"]  # (N, 3, S, S)
        pooled = checker.vision_model(clip_input)[1]  # (N, hidden)
        embeds = checker.visual_projection(pooled)  # (N, D)
        special = cosine_distance(embeds, checker.special_care_embeds) - checker.special_care_embeds_weights  # (N, 3)
        adjustment = (special > 0).any(dim=1, keepdim=True).float() * SPECIAL_CARE_ADJUSTMENT  # (N, 1)
        concepts = cosine_distance(embeds, checker.concept_embeds) - checker.concept_embeds_weights + adjustment  # (N, 17)
    return concepts.max(dim=1).values.float().numpy()


def make_safety_scorer(checker_dir: str | Path) -> Scorer:
    """The "safety" scorer from a local StableDiffusionSafetyChecker folder (config, weights, image processor)."""
    path = Path(checker_dir)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no safety checker at {path} (config.json missing)")
    processor_dir(path)  # fail at configuration time, not in the middle of a run

    def score_safety(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
        """safety_margin and the 0/1 safety_nsfw flag of each uint8 (N, H, W, 3) image."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 array (N, H, W, 3), got {getattr(images, 'shape', '')}")
        if len(context) != len(images):
            raise ValueError(f"context has {len(context)} entries for {len(images)} images; need one per image")
        if len(images) == 0:
            return []
        margins = concept_margins(*_load_checker(str(path)), images)  # (N,)
        return [{"safety_nsfw": float(m > 0), "safety_margin": float(m)} for m in margins]

    return Scorer("safety", f"sd-safety-checker/1@{path.name}", score_safety)
