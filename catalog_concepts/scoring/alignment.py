"""Prompt alignment: does the image show what the prompt asked for?

Two judges, one per domain:
- the shipped domain: the attribute classifier of `catalog_concepts/embedded_model/classifier.py` (category,
  colour, background heads, trained on the procedural renders). `alignment` is the product
  of its softmax probabilities for the prompt's three attributes - the joint probability
  under independent heads, so one wrong attribute is enough to pull it down;
- production: CLIPScore (Hessel et al. 2021, eq. 1: 2.5 * max(cos(E_image, E_text), 0))
  through `transformers.CLIPModel` loaded from a local folder.
An attribute outside the classifier's vocabulary cannot be judged: its scores are NaN.
"""

import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from catalog_concepts.embedded_model.classifier import HEADS
from catalog_concepts.scoring.base import SHIPPED_CLASSIFIER_PATH, Scorer

CLASSIFIER_SCORE_NAMES: tuple[str, ...] = ("align_category", "align_color", "align_background", "alignment")
CLASSIFIER_CONTEXT_KEYS: tuple[str, ...] = ("category", "color", "background")
CLASSIFIER_SIDE = 64  # the classifier was trained on 64x64 renders
CLIP_SCORE_NAMES: tuple[str, ...] = ("clip_score",)
CLIP_WEIGHT = 2.5  # Hessel et al. 2021: w rescales cosines (rarely above 0.4) towards [0, 1]


def _check_batch(images: np.ndarray, context: Sequence[Mapping]) -> None:
    """Raise unless images is uint8 (N, H, W, 3) with one context entry per image."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be a uint8 array (N, H, W, 3), got {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}")
    if len(context) != len(images):
        raise ValueError(f"context has {len(context)} entries for {len(images)} images; need one per image")


def file_sha256(path: Path) -> str:
    """SHA-256 hex of a file's bytes (names the exact weights in the scorer version)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=4)
def _load_classifier(path: str, sha256: str):
    """The attribute classifier in eval mode (cached per path and content)."""
    import torch

    from catalog_concepts.embedded_model.classifier import build_classifier

    net = build_classifier()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def resize_to(images: np.ndarray, side: int) -> np.ndarray:
    """Resize uint8 images (N, H, W, 3) to (N, side, side, 3) (bicubic), unchanged if already that size."""
    if images.shape[1:3] == (side, side):
        return images
    return np.stack([np.asarray(Image.fromarray(x).resize((side, side), Image.Resampling.BICUBIC)) for x in images])


def attribute_probabilities(net, images: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
    """Softmax probabilities per head for uint8 images (N, 64, 64, 3) -> {head: (N, classes)}."""
    import torch

    from catalog_concepts.embedded_model.classifier import to_input

    out: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
    with torch.no_grad():
        for s in range(0, len(images), batch):
            logits = net(to_input(images[s : s + batch]))  # {head: (B, classes)}
            for k in HEADS:
                out[k].append(torch.softmax(logits[k].float(), dim=1).numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, len(HEADS[k]))) for k, v in out.items()}


def _label_index(entry: Mapping, head: str) -> int | None:
    """Index of the entry's value for a head in the classifier's vocabulary, or None if it cannot be judged."""
    value = entry.get(head) if isinstance(entry, Mapping) else None
    if not isinstance(value, str):
        return None
    value = value.strip().casefold()
    return HEADS[head].index(value) if value in HEADS[head] else None


def make_classifier_scorer(weights_path: str | Path = SHIPPED_CLASSIFIER_PATH) -> Scorer:
    """The "alignment" scorer: align_* probabilities and their product, from the classifier at weights_path."""
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"attribute classifier weights not found: {path}")
    sha = file_sha256(path)

    def score_alignment(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
        """P(category), P(colour), P(background) of the prompt's attributes and their product."""
        _check_batch(images, context)
        if len(images) == 0:
            return []
        probs = attribute_probabilities(_load_classifier(str(path), sha), resize_to(images, CLASSIFIER_SIDE))
        results = []
        for i, entry in enumerate(context):
            scores = {}
            for head in CLASSIFIER_CONTEXT_KEYS:
                index = _label_index(entry, head)
                scores[f"align_{head}"] = float(probs[head][i, index]) if index is not None else math.nan
            joint = math.prod(scores[f"align_{h}"] for h in CLASSIFIER_CONTEXT_KEYS)  # NaN if any is NaN
            scores["alignment"] = float(joint)
            results.append(scores)
        return results

    return Scorer("alignment", f"attribute-classifier/1@{sha[:12]}", score_alignment)


@functools.lru_cache(maxsize=2)
def _load_clip(path: str):
    """CLIPModel and CLIPProcessor from a local folder (no hub access), in eval mode."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(path, local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
    return model, processor


def clip_scores(model, processor, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """CLIPScore per (image, prompt) pair: 2.5 * max(cos, 0) (Hessel et al. 2021, eq. 1) -> (N,)."""
    import torch

    with torch.no_grad():
        inputs = processor(text=list(prompts), images=list(images), return_tensors="pt", padding=True, truncation=True)
        image_embeds = model.get_image_features(pixel_values=inputs["pixel_values"])  # (N, D)
        text_embeds = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])  # (N, D)
        if not isinstance(image_embeds, torch.Tensor):  # some transformers versions return a model output
            image_embeds, text_embeds = image_embeds.pooler_output, text_embeds.pooler_output
        cos = torch.nn.functional.cosine_similarity(image_embeds.float(), text_embeds.float(), dim=-1)  # (N,)
    return (CLIP_WEIGHT * cos.clamp(min=0.0)).numpy()


def make_clip_scorer(model_dir: str | Path) -> Scorer:
    """The "clip" scorer: clip_score from a local CLIP folder (model + processor files)."""
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no CLIP model at {path} (config.json missing)")

    def score_clip(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
        """CLIPScore of each image against its context's prompt; NaN where the prompt is missing."""
        _check_batch(images, context)
        prompts = [entry.get("prompt") if isinstance(entry, Mapping) else None for entry in context]
        ok = [i for i, p in enumerate(prompts) if isinstance(p, str) and p.strip()]
        results = [{"clip_score": math.nan} for _ in prompts]
        if ok:
            model, processor = _load_clip(str(path))
            values = clip_scores(model, processor, images[ok], [prompts[i] for i in ok])
            for i, value in zip(ok, values, strict=True):
                results[i]["clip_score"] = float(value)
        return results

    return Scorer("clip", f"clip-score/1@{path.name}", score_clip)
