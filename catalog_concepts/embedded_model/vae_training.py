"""Learn the AutoencoderKL (64x64x3 -> 16x16x4) that the denoiser works in (Rombach et al. 2022, latent diffusion)."""

import math
import time

import numpy as np

from catalog_concepts.embedded_model.presets import Preset


def build_vae(preset: Preset):
    """A fresh AutoencoderKL with f = 2**(len(channels)-1), 4 latent channels, no attention (fully convolutional)."""
    from diffusers import AutoencoderKL

    n = len(preset.vae_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=preset.vae_channels, layers_per_block=1, norm_num_groups=16,
        sample_size=64, mid_block_add_attention=False, force_upcast=False,
    )


def vae_loss(vae, x, kl_weight: float):
    """Reconstruction (MSE + L1) plus a small KL (Kingma & Welling 2014, eq. 10) keeping latents near N(0, I)."""
    posterior = vae.encode(x).latent_dist
    z = posterior.sample()  # (B, 4, h, w)
    recon = vae.decode(z).sample  # (B, 3, H, W)
    mse = (recon - x).pow(2).mean()
    l1 = (recon - x).abs().mean()
    # A tiny KL weight: the first try's 0.65 M VAE washed colours out; reconstruction must dominate.
    kl = posterior.kl().mean() / x[0].numel()
    return mse + l1 + kl_weight * kl, {"mse": mse.item(), "l1": l1.item(), "kl": kl.item()}


def random_crops(images, crop: int, rng: np.random.Generator):
    """Random crop (and horizontal flip) of a uint8 batch (B, 64, 64, 3) -> (B, crop, crop, 3)."""
    b, h, w, _ = images.shape
    ys = rng.integers(0, h - crop + 1, size=b)
    xs = rng.integers(0, w - crop + 1, size=b)
    out = np.stack([images[i, ys[i] : ys[i] + crop, xs[i] : xs[i] + crop] for i in range(b)])  # (B, c, c, 3)
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def lr_at(step: int, total: int, base: float, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay to 10% of base."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def train_vae(vae, opt, images: np.ndarray, preset: Preset, start_step: int, rng: np.random.Generator,
              checkpoint, deadline: float | None = None) -> int:
    """Train from start_step to preset.vae_steps; call checkpoint(step) periodically; return the last step."""
    import torch
    from tqdm import tqdm

    from catalog_concepts.embedded_model.dataset import to_model_range

    vae.train()
    bar = tqdm(range(start_step, preset.vae_steps), desc="vae", initial=start_step, total=preset.vae_steps,
               mininterval=5)
    step = start_step
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, preset.vae_steps, preset.vae_lr)
        idx = rng.integers(0, len(images), size=preset.vae_batch)
        x = to_model_range(random_crops(images[idx], preset.vae_crop, rng))  # (B, 3, c, c)
        loss, parts = vae_loss(vae, x, preset.vae_kl_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(mse=f"{parts['mse']:.4f}", psnr=f"{10 * math.log10(4 / max(parts['mse'], 1e-10)):.1f}")
        if (step + 1) % preset.checkpoint_every == 0:
            checkpoint(step + 1)
        if deadline is not None and time.time() > deadline:
            checkpoint(step + 1)
            return step + 1
    checkpoint(preset.vae_steps)
    return preset.vae_steps


def reconstruction_metrics(vae, images: np.ndarray, batch: int = 64) -> dict[str, float]:
    """PSNR (dB, on [0,1]) and colour errors (0-255 units) of full 64x64 reconstructions."""
    import torch

    from catalog_concepts.embedded_model.dataset import to_model_range

    vae.eval()
    pix_err, mean_err, n = 0.0, 0.0, 0
    psnrs = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = to_model_range(images[s : s + batch])  # (B, 3, 64, 64)
            r = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)  # (B, 3, 64, 64)
            x01, r01 = (x + 1) / 2, (r + 1) / 2
            mse_i = (x01 - r01).pow(2).flatten(1).mean(1)  # (B,)
            psnrs.append(10 * torch.log10(1 / mse_i.clamp_min(1e-10)))
            pix_err += (x01 - r01).abs().mean(1).sum().item() * 255 / (64 * 64)  # per-pixel mean |dRGB|
            mean_err += (x01.mean((2, 3)) - r01.mean((2, 3))).abs().mean(1).sum().item() * 255  # image mean colour
            n += len(x)
    return {"psnr_db": torch.cat(psnrs).mean().item(), "pixel_color_error": pix_err / n,
            "mean_color_error": mean_err / n}


def latent_stats(vae, images: np.ndarray, batch: int = 128):
    """Posterior means and stds of all images, (N, 4, h, w) each, for caching the denoiser's data."""
    import torch

    from catalog_concepts.embedded_model.dataset import to_model_range

    vae.eval()
    means, stds = [], []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            dist = vae.encode(to_model_range(images[s : s + batch])).latent_dist
            means.append(dist.mean)  # (B, 4, h, w)
            stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)
