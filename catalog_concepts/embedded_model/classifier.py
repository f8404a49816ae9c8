"""Attribute classifier (category / colour / background) trained on renders: the judge of prompt adherence."""

import time
from pathlib import Path

import numpy as np

from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS

HEADS: dict[str, tuple[str, ...]] = {"category": CATEGORIES, "color": COLORS, "background": BACKGROUNDS}


def build_classifier():
    """Small CNN, 64x64 RGB -> logits for each head (149,220 parameters)."""
    import torch
    from torch import nn

    class AttributeNet(nn.Module):
        """Shared conv trunk, one linear head per attribute."""

        def __init__(self) -> None:
            super().__init__()

            def block(i: int, o: int) -> nn.Sequential:
                return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                                     nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

            self.trunk = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64))  # 64 -> 4
            self.heads = nn.ModuleDict({k: nn.Linear(64 * 2, len(v)) for k, v in HEADS.items()})

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            f = self.trunk(x)  # (N, 64, 4, 4)
            f = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)  # (N, 128)
            return {k: h(f) for k, h in self.heads.items()}

    return AttributeNet()


def labels_of(attrs) -> dict[str, np.ndarray]:
    """Integer labels per head for a list of Attributes."""
    return {k: np.array([v.index(getattr(a, k)) for a in attrs]) for k, v in HEADS.items()}


def _augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light blur/noise so the judge also reads slightly soft or grainy generated images."""
    x = images.astype(np.float32)
    noise = rng.normal(0, rng.uniform(0, 8), size=(len(x), 1, 1, 1)) * rng.standard_normal(x.shape)
    x = x + noise
    soft = rng.random(len(x)) < 0.3
    if soft.any():
        k = x[soft]
        k = (k + np.roll(k, 1, 1) + np.roll(k, 1, 2) + np.roll(k, (1, 1), (1, 2))) / 4
        x[soft] = k
    return np.clip(x, 0, 255)


def to_input(images: np.ndarray):
    """uint8 or float 0-255 (N, 64, 64, 3) -> normalized tensor (N, 3, 64, 64)."""
    import torch

    return torch.from_numpy(np.asarray(images, dtype=np.float32)).permute(0, 3, 1, 2).div(127.5).sub(1.0)


def train_classifier(n_images: int = 8_000, steps: int = 800, batch: int = 64, seed: int = 7):
    """Train on fresh renders of every combination (the judge may see held-out combos; the generator may not)."""
    import torch
    from tqdm import tqdm

    from catalog_concepts.embedded_model.dataset import render_images, sample_attributes

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    attrs = sample_attributes(n_images // 2, seed, held_out=False) + sample_attributes(n_images // 2, seed, held_out=True)
    images = render_images(attrs, seed + 100)  # (N, 64, 64, 3)
    labels = {k: torch.from_numpy(v) for k, v in labels_of(attrs).items()}
    net = build_classifier()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    net.train()
    for _ in tqdm(range(steps), desc="classifier", mininterval=5):
        idx = rng.integers(0, len(images), size=batch)
        logits = net(to_input(_augment(images[idx], rng)))
        loss = sum(torch.nn.functional.cross_entropy(logits[k], labels[k][idx]) for k in HEADS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def predict(net, images: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
    """Predicted label index per head for images (N, 64, 64, 3), uint8 or float 0-255."""
    import torch

    out: dict[str, list] = {k: [] for k in HEADS}
    with torch.no_grad():
        for s in range(0, len(images), batch):
            logits = net(to_input(images[s : s + batch]))
            for k in HEADS:
                out[k].append(logits[k].argmax(1).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def features(net, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """The judge's 128-d pooled trunk features (N, 128) of images (N, 64, 64, 3): the space its heads read."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            f = net.trunk(to_input(images[s : s + batch]))  # (B, 64, 4, 4)
            out.append(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1).numpy())  # (B, 128), as in forward
    return np.concatenate(out)


def accuracy_on_renders(net, n: int = 1_000, seed: int = 12_345) -> dict[str, float]:
    """Accuracy per head (and all three) on fresh held-out-combination renders with unseen seeds."""
    from catalog_concepts.embedded_model.dataset import render_images, sample_attributes

    attrs = sample_attributes(n, seed, held_out=True)
    pred = predict(net, render_images(attrs, seed))
    truth = labels_of(attrs)
    acc = {k: float((pred[k] == truth[k]).mean()) for k in HEADS}
    acc["all"] = float(np.all([pred[k] == truth[k] for k in HEADS], axis=0).mean())
    return acc


def load_or_train(path: Path):
    """Load classifier weights from path, or train and save them there (about 2-3 minutes on CPU)."""
    import torch

    path = Path(path)
    net = build_classifier()
    if path.exists():
        net.load_state_dict(torch.load(path))
        return net.eval()
    t0 = time.time()
    net = train_classifier()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    print(f"classifier trained in {time.time() - t0:.0f}s", flush=True)
    return net
