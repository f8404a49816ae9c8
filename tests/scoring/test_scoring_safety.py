"""Safety scorer: a real (tiny, random-weights) StableDiffusionSafetyChecker runs end to end."""

import json

import numpy as np
import pytest
import torch

from catalog_concepts.scoring.base import ScorerModels
from catalog_concepts.scoring.safety import SCORE_NAMES, concept_margins, make_safety_scorer, processor_dir
from catalog_concepts.scoring.suite import default_scorers, run_scorers


def _images(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)  # (N, 64, 64, 3)


def _with_thresholds(src, dst, concept: float, special: float):
    """A copy of the checker whose concept / special-care thresholds are all set to the given values."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    checker = StableDiffusionSafetyChecker.from_pretrained(src, attn_implementation="eager")
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(concept)
        checker.special_care_embeds_weights.fill_(special)
    checker.save_pretrained(dst)
    (dst / "preprocessor_config.json").write_text((src / "preprocessor_config.json").read_text())
    return dst


def test_scores_are_margins_and_flags(tiny_safety_checker_dir):
    scorer = make_safety_scorer(tiny_safety_checker_dir)
    scores = scorer.score(_images(), [{}] * 3)
    assert [set(s) for s in scores] == [set(SCORE_NAMES)] * 3
    for s in scores:
        assert -2.0 <= s["safety_margin"] <= 2.0  # cosine (-1..1) minus a threshold of 1 (random checker)
        assert s["safety_nsfw"] == float(s["safety_margin"] > 0)
    assert scorer.name == "safety" and scorer.version.startswith("sd-safety-checker/1@")
    assert scorer.score(_images(0), []) == []


@pytest.mark.parametrize("concept, special, flagged", [(-1.5, 5.0, 1.0), (5.0, 5.0, 0.0)])
def test_thresholds_decide_the_flag(tiny_safety_checker_dir, tmp_path, concept, special, flagged):
    folder = _with_thresholds(tiny_safety_checker_dir, tmp_path / "checker", concept, special)
    scores = make_safety_scorer(folder).score(_images(), [{}] * 3)
    assert [s["safety_nsfw"] for s in scores] == [flagged] * 3


def test_margin_matches_the_checkers_own_onnx_rule(tiny_safety_checker_dir, tmp_path):
    """Our vectorised margin flags exactly what StableDiffusionSafetyChecker.forward_onnx flags."""
    from catalog_concepts.scoring.safety import _load_checker

    folder = _with_thresholds(tiny_safety_checker_dir, tmp_path / "c", 0.0, 0.0)  # roughly half the concepts fire
    checker, processor = _load_checker(str(folder))
    images = _images(6)
    margins = concept_margins(checker, processor, images)
    clip_input = processor(images=list(images), return_tensors="pt")["pixel_values"]
    _, flags = checker.forward_onnx(clip_input, torch.zeros(6, 3, 8, 8))
    assert (margins > 0).tolist() == flags.tolist()


def test_processor_in_a_sibling_feature_extractor_folder(tiny_safety_checker_dir, tmp_path):
    """Stable Diffusion checkouts keep the image processor in feature_extractor/ beside safety_checker/."""
    checker = tmp_path / "safety_checker"
    checker.mkdir()
    for name in ("config.json", "model.safetensors"):
        (checker / name).write_bytes((tiny_safety_checker_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        make_safety_scorer(checker)
    (tmp_path / "feature_extractor").mkdir()
    (tmp_path / "feature_extractor" / "preprocessor_config.json").write_text(
        json.dumps(json.loads((tiny_safety_checker_dir / "preprocessor_config.json").read_text())))
    assert processor_dir(checker) == tmp_path / "feature_extractor"
    assert len(make_safety_scorer(checker).score(_images(2), [{}, {}])) == 2


def test_no_checker_configured_means_scores_absent_never_safe(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        make_safety_scorer(tmp_path)
    scores, versions = run_scorers(default_scorers(ScorerModels(attribute_classifier=None)), _images(1), [{"sku": "S"}])
    assert "safety" not in versions
    assert not set(SCORE_NAMES) & set(scores[0])


def test_configured_checker_runs_in_the_suite(tiny_safety_checker_dir):
    models = ScorerModels(attribute_classifier=None, safety_checker=tiny_safety_checker_dir)
    scores, versions = run_scorers(default_scorers(models), _images(2), [{"sku": "S"}, {"sku": "S"}])
    assert versions["safety"].startswith("sd-safety-checker/1@")
    assert all(set(SCORE_NAMES) <= set(s) for s in scores)
