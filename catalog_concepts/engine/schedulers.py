"""Samplers chosen by name: every name maps to one diffusers scheduler and its settings."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SchedulerSpec:
    """A diffusers scheduler class and the config overrides that make it the named sampler."""

    class_name: str
    overrides: dict = field(default_factory=dict)
    flow_matching: bool = False


SCHEDULERS: dict[str, SchedulerSpec] = {
    # Song et al. 2021 (DDIM), eta=0. clip_sample=False: clipping x0 to [-1, 1] broke high-guidance
    # sampling with v-prediction (washed-out, banded images with the shipped model).
    "ddim": SchedulerSpec("DDIMScheduler", {"clip_sample": False}),
    # Lu et al. 2022 (DPM-Solver++), second-order multistep, data-prediction form.
    "dpmsolver++": SchedulerSpec(
        "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}
    ),
    # Karras et al. 2022 (EDM) Euler method on the probability-flow ODE.
    "euler": SchedulerSpec("EulerDiscreteScheduler"),
    # Rectified flow (Liu et al. 2022) models only: SD3-style pipelines.
    "flow-euler": SchedulerSpec("FlowMatchEulerDiscreteScheduler", flow_matching=True),
}


def is_flow_matching(scheduler) -> bool:
    """True when a pipeline's scheduler integrates a flow-matching (rectified flow) model."""
    return type(scheduler).__name__.startswith("FlowMatch")


def make_scheduler(name: str, current):
    """Build the named scheduler from the pipeline's current scheduler config."""
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULERS)}")
    spec = SCHEDULERS[name]
    # A DDPM-trained model sampled by a flow solver (or the reverse) runs without error and
    # is mathematically wrong, so the two families never mix.
    if spec.flow_matching != is_flow_matching(current):
        family = "flow-matching" if is_flow_matching(current) else "DDPM-family"
        allowed = [n for n, s in SCHEDULERS.items() if s.flow_matching == is_flow_matching(current)]
        raise ValueError(
            f"scheduler {name!r} does not fit this {family} model; allowed: {', '.join(allowed)}"
        )
    cls = getattr(diffusers, spec.class_name)
    return cls.from_config(current.config, **spec.overrides)
