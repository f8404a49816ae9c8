"""Classifier-free guidance applied only in a limited interval of noise levels, for any diffusers pipeline.

Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample and Distribution
Quality in Diffusion Models" (eq. 3): the guided prediction
    D_w(x; σ) = D(x; σ) + (w - 1) (D(x; σ | c) - D(x; σ))   for σ in (σ_lo, σ_hi],   D(x; σ | c) elsewhere.
Guidance at high noise pushes every sample of a prompt towards the same few layouts (the
mode-seeking effect of CFG, Ho & Salimans 2022); at low noise it changes little. Leaving it off
there keeps the variety the data has while the middle of the trajectory still fixes the prompt's
attributes.

How, without forking any pipeline: every diffusers CFG pipeline stacks the batch as
[unconditional; conditional] (torch.cat([negative, positive])), calls the denoiser once on both
halves and then mixes noise_pred.chunk(2) with the guidance scale. Outside the interval a pre-hook
on the denoiser passes it only the conditional half, and a forward hook returns that half twice:
uncond = cond makes uncond + w (cond - uncond) = cond exactly, and the step costs one branch
instead of two. Inside the interval the call is untouched.

σ is the EDM noise level of the timestep the pipeline passes to its denoiser (Karras et al.
2022, Table 1): σ(t) = sqrt((1 - ᾱ_t) / ᾱ_t) for schedulers with a DDPM noise schedule
(DDIM, DPM-Solver++, Euler), σ = s / (1 - s) for rectified-flow schedulers, whose denoiser is
given t = 1000 s with x_s = (1 - s) x_0 + s ε.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class GuidanceInterval:
    """Guidance is applied where σ_lo < σ <= σ_hi (EDM noise levels); plain conditional prediction elsewhere."""

    sigma_low: float
    sigma_high: float

    def check(self) -> None:
        """Raise a short error unless 0 <= σ_lo < σ_hi."""
        if not (math.isfinite(self.sigma_low) and 0.0 <= self.sigma_low < self.sigma_high):
            raise ValueError(f"guidance interval needs 0 <= sigma_low < sigma_high, got ({self.sigma_low}, {self.sigma_high})")

    def text(self) -> str:
        """The interval as the manifest and the run form write it: "lo,hi" (hi may be inf)."""
        return f"{self.sigma_low:g},{self.sigma_high:g}"


def parse_interval(text: str) -> GuidanceInterval | None:
    """"lo,hi" -> the interval; "" or "all" -> None (guidance at every step, plain CFG)."""
    cleaned = text.strip().lower()
    if cleaned in ("", "all"):
        return None
    parts = cleaned.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        interval = GuidanceInterval(float(parts[0]), float(parts[1]))
    except ValueError:
        raise ValueError(f"guidance interval must be 'all' or 'sigma_low,sigma_high' (e.g. '0.3,5'), got {text!r}") from None
    interval.check()
    return interval


def sigma_of_timestep(scheduler_config: dict, alphas_cumprod, timestep: float) -> float:
    """The EDM σ of the timestep a pipeline passes to its denoiser (see the module doc)."""
    if alphas_cumprod is None:  # rectified flow: the denoiser is given t = 1000 s
        s = min(max(timestep / scheduler_config.get("num_train_timesteps", 1000), 0.0), 1.0)
        return math.inf if s >= 1.0 else s / (1.0 - s)
    index = min(max(round(timestep), 0), len(alphas_cumprod) - 1)
    alpha_bar = float(alphas_cumprod[index])
    return math.sqrt((1.0 - alpha_bar) / alpha_bar)


class _IntervalHooks:
    """The two hooks on one denoiser, and how many of its calls ran one branch only."""

    def __init__(self, denoiser, interval: GuidanceInterval, scheduler) -> None:
        self.interval = interval
        self.config = dict(scheduler.config)
        self.alphas_cumprod = getattr(scheduler, "alphas_cumprod", None)
        self.calls = 0
        self.single_branch_calls = 0
        self._halved: int | None = None  # the full batch size while a halved call runs
        self._handles = [
            denoiser.register_forward_pre_hook(self._before, with_kwargs=True),
            denoiser.register_forward_hook(self._after),
        ]

    def _before(self, module, args, kwargs):
        import torch

        self.calls += 1
        sample = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        if sample is None or timestep is None:
            raise ValueError(f"{type(module).__name__} was called without a sample and a timestep; guidance interval cannot apply")
        batch = sample.shape[0]
        t = float(timestep.flatten()[0]) if torch.is_tensor(timestep) else float(timestep)
        sigma = sigma_of_timestep(self.config, self.alphas_cumprod, t)
        if batch % 2 or self.interval.sigma_low < sigma <= self.interval.sigma_high:
            return None
        # Outside the interval: the conditional half only ([uncond; cond] -> cond).
        self._halved = batch
        self.single_branch_calls += 1
        return _second_half(args, batch), _second_half(kwargs, batch)

    def _after(self, module, args, output):
        import torch

        if self._halved is None:
            return None
        self._halved = None
        if isinstance(output, tuple):
            return (torch.cat([output[0], output[0]]), *output[1:])
        output.sample = torch.cat([output.sample, output.sample])
        return output

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _second_half(value, batch: int):
    """Every tensor with the doubled batch as its first dimension cut to its conditional half, in args, kwargs and dicts."""
    import torch

    if torch.is_tensor(value) and value.ndim >= 1 and value.shape[0] == batch:
        return value[batch // 2 :]
    if isinstance(value, dict):
        return {k: _second_half(v, batch) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_second_half(v, batch) for v in value)
    return value


@contextmanager
def guidance_interval(denoiser, interval: GuidanceInterval | None, scheduler) -> Iterator[_IntervalHooks | None]:
    """Within the block, the pipeline's CFG applies only inside interval (None: everywhere, no hooks)."""
    if interval is None:
        yield None
        return
    interval.check()
    hooks = _IntervalHooks(denoiser, interval, scheduler)
    try:
        yield hooks
    finally:
        hooks.remove()
