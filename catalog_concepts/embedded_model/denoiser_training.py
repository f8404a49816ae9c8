"""Train the DiT denoiser on cached VAE latents with the v objective and condition dropout."""

import time

import numpy as np

from catalog_concepts.embedded_model.presets import Preset

NUM_TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"  # Nichol & Dhariwal 2021 cosine: reaches ~zero SNR at t=T
PREDICTION_TYPE = "v_prediction"


def build_transformer(preset: Preset, latent_size: int = 16):
    """PixArtTransformer2DModel: patchified DiT, adaLN-single timestep conditioning, cross-attention to MiniLM states."""
    from diffusers import PixArtTransformer2DModel

    return PixArtTransformer2DModel(
        num_attention_heads=preset.dit_heads, attention_head_dim=preset.dit_head_dim,
        in_channels=4, out_channels=4, num_layers=preset.dit_layers,
        cross_attention_dim=preset.dit_heads * preset.dit_head_dim, sample_size=latent_size, patch_size=2,
        caption_channels=384, norm_num_groups=32, use_additional_conditions=False,
    )


def build_train_scheduler():
    """The DDPM forward process the denoiser is trained on; every sampler is built from its config."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE,
                         prediction_type=PREDICTION_TYPE, clip_sample=False)


def ema_update(ema, model, decay: float) -> None:
    """Exponential moving average of weights (used for sampling; smooths the last steps' noise)."""
    import torch

    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1 - decay)


def diffusion_loss(model, z0, text, mask, alphas_cumprod, generator=None):
    """v-prediction MSE (Salimans & Ho 2022, sec. 4): v = sqrt(a)*eps - sqrt(1-a)*x0 on x_t from DDPM eq. 4."""
    import torch

    b = z0.shape[0]
    t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (b,), generator=generator)  # (B,)
    eps = torch.randn(z0.shape, generator=generator)  # (B, 4, h, w)
    a = alphas_cumprod[t].view(b, 1, 1, 1)  # (B, 1, 1, 1)
    xt = a.sqrt() * z0 + (1 - a).sqrt() * eps  # Ho et al. 2020 eq. 4, (B, 4, h, w)
    v = a.sqrt() * eps - (1 - a).sqrt() * z0  # (B, 4, h, w)
    pred = model(xt, encoder_hidden_states=text, timestep=t, encoder_attention_mask=mask,
                 added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample  # (B, 4, h, w)
    return (pred - v).pow(2).mean()


def train_denoiser(model, ema, opt, latents, caption_idx, text_bank, mask_bank, uncond_idx, preset: Preset,
                   scaling_factor: float, start_step: int, rng: np.random.Generator, checkpoint,
                   deadline: float | None = None) -> int:
    """Train from start_step to preset.dit_steps on cached posteriors; return the last step done."""
    import torch
    from tqdm import tqdm

    from catalog_concepts.embedded_model.vae_training import lr_at

    means, stds = latents  # (N, 4, h, w) each
    alphas_cumprod = build_train_scheduler().alphas_cumprod  # (T,)
    uncond_idx = np.asarray(uncond_idx)
    model.train()
    bar = tqdm(range(start_step, preset.dit_steps), desc="dit", initial=start_step, total=preset.dit_steps,
               mininterval=5)
    step = start_step
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, preset.dit_steps, preset.dit_lr, warmup=200)
        idx = rng.integers(0, len(means), size=preset.dit_batch)
        noise = torch.from_numpy(rng.standard_normal(means[idx].shape).astype(np.float32))
        z0 = (means[idx] + stds[idx] * noise) * scaling_factor  # (B, 4, h, w), ~unit variance
        cap = caption_idx[idx].copy()
        # Condition dropout (Ho & Salimans 2022): ~10% of captions become "" or the negative prompt.
        drop = rng.random(len(cap)) < preset.cond_dropout
        cap[drop] = uncond_idx[rng.integers(0, len(uncond_idx), size=int(drop.sum()))]
        cap_t = torch.from_numpy(cap)
        loss = diffusion_loss(model, z0, text_bank[cap_t], mask_bank[cap_t], alphas_cumprod,
                              generator=torch.Generator().manual_seed(int(rng.integers(2**62))))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema_update(ema, model, preset.ema_decay if step > 200 else 0.0)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % preset.checkpoint_every == 0:
            checkpoint(step + 1)
        if deadline is not None and time.time() > deadline:
            checkpoint(step + 1)
            return step + 1
    checkpoint(preset.dit_steps)
    return preset.dit_steps
