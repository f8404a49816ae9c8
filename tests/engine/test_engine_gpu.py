"""GPU tier: the real generation path on CUDA in bf16 (skipped on machines without a GPU)."""

import numpy as np
import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import load_model
from catalog_concepts.engine.seeds import image_seed

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda_model(tiny_model_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return load_model(tiny_model_dir, choose_placement("cuda"))


def test_cuda_defaults_to_bf16_and_keeps_images_batch_invariant(cuda_model):
    assert cuda_model.placement.dtype == "bfloat16"
    requests = [ImageRequest(f"a{i}", f"S{i}", 0, image_seed(0, f"S{i}", 0), "a red wood table on a wood floor", "text") for i in range(4)]
    settings = SamplingSettings("dpmsolver++", 4, 3.0, 32, 32, 32)
    batch = generate(cuda_model, requests, settings, 4)
    alone = generate(cuda_model, requests[2:3], settings, 1)
    # bf16 kernels may pick other tilings per batch size: allow one grey level.
    assert np.abs(batch[2].pixels.astype(int) - alone[0].pixels.astype(int)).max() <= 1
