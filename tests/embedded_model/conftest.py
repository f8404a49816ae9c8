"""Keep torch polite on the shared 2-core CI box."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny-preset training run (seconds) shared by the smoke and evaluation tests."""
    import torch

    from catalog_concepts.embedded_model.train import main

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tiny") / "run"
    main(["--out", str(out), "--preset", "tiny", "--seed", "0"])
    return out
