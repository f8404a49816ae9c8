"""Placement tables: device, dtype and torch CPU threads."""

import os

import pytest
import torch

from catalog_concepts.engine.device import choose_placement, usable_cpus


def test_cpu_threads_default_to_every_usable_cpu(monkeypatch):
    monkeypatch.delenv("CONCEPTS_TORCH_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        placement = choose_placement("cpu")
        assert placement.threads == usable_cpus() == len(os.sched_getaffinity(0))
        assert torch.get_num_threads() == placement.threads
        assert placement.device_name == f"cpu x{placement.threads} threads"
    finally:
        torch.set_num_threads(before)


def test_thread_override_from_the_environment_and_the_caller(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("CONCEPTS_TORCH_THREADS", "1")
        assert choose_placement("cpu").threads == 1
        assert choose_placement("cpu", threads=2).threads == 2  # an explicit argument wins
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"device": "tpu"}, "device must be one of auto, cpu, cuda"), ({"dtype": "int8"}, "dtype must be one of auto"),
     ({"threads": 0}, "threads must be >= 1")],
)
def test_bad_placement_fails_with_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        choose_placement(**{"device": "cpu", **kwargs})


def test_cpu_runs_fp32():
    assert choose_placement("cpu").dtype == "float32"
