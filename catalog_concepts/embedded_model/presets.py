"""Model and recipe sizes, one registry (DiT-style `PRESETS`), chosen by name on the command line."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Everything that decides the shipped weights, besides the seed."""

    # Data
    train_images: int  # rendered once, reused every epoch
    # VAE (AutoencoderKL, f=4: 64x64x3 -> 16x16x4)
    vae_channels: tuple[int, ...]
    vae_steps: int
    vae_batch: int
    vae_crop: int  # the VAE is fully convolutional, so it trains on random crops (4x cheaper at 32)
    vae_lr: float
    vae_kl_weight: float
    # Denoiser (PixArtTransformer2DModel: DiT with adaLN-single + cross-attention)
    dit_layers: int
    dit_heads: int
    dit_head_dim: int
    dit_steps: int
    dit_batch: int
    dit_lr: float
    ema_decay: float
    cond_dropout: float  # Ho & Salimans 2022: train the unconditional model in the same network
    max_sequence_length: int
    checkpoint_every: int  # optimizer steps between checkpoints


PRESETS: dict[str, Preset] = {
    # Seconds on CPU: the smoke test's preset; learns nothing useful.
    "tiny": Preset(
        train_images=64, vae_channels=(32, 32, 32), vae_steps=3, vae_batch=8, vae_crop=32, vae_lr=1e-3,
        vae_kl_weight=1e-6, dit_layers=1, dit_heads=2, dit_head_dim=32, dit_steps=3, dit_batch=8, dit_lr=5e-4,
        ema_decay=0.9, cond_dropout=0.1, max_sequence_length=24, checkpoint_every=2,
    ),
    # The shipped model: sized from a measured budget of ~90 min on 2 CPU cores
    # (VAE ~40 crop-img/s per core-equivalent, DiT ~90 samples/s at 2 threads).
    "default": Preset(
        train_images=32_000, vae_channels=(32, 64, 64), vae_steps=6_000, vae_batch=32, vae_crop=32, vae_lr=1e-3,
        vae_kl_weight=1e-6, dit_layers=6, dit_heads=3, dit_head_dim=64, dit_steps=4_500, dit_batch=64, dit_lr=5e-4,
        ema_decay=0.999, cond_dropout=0.1, max_sequence_length=24, checkpoint_every=250,
    ),
}


def get_preset(name: str) -> Preset:
    """Return a preset by name; raise listing the allowed names."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]
