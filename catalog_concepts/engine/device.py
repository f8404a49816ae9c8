"""Choose the device, dtype and CPU thread count that generation runs with."""

import os
from dataclasses import dataclass

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Placement:
    """Where and in what precision a pipeline runs."""

    device: str
    dtype: str
    device_name: str
    threads: int


def choose_placement(device: str = "auto", dtype: str = "auto", threads: int | None = None) -> Placement:
    """cuda + bf16 when a GPU is present, cpu + fp32 otherwise; pin torch's CPU threads."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be one of auto, cpu, cuda; got {device!r}")
    if dtype not in ("auto", *DTYPES):
        raise ValueError(f"dtype must be one of auto, {', '.join(DTYPES)}; got {dtype!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    # Every core this process may use: on an idle 2-core machine two threads made the nightly
    # flow 1.45x faster than one, and under contention (with OMP_WAIT_POLICY=PASSIVE, which the
    # Makefile and deployments set) they cost nothing (bench/threads.py, bench/RESULTS.md).
    # CONCEPTS_TORCH_THREADS overrides, e.g. to split a machine between several workers.
    if threads is None:
        threads = int(os.environ.get("CONCEPTS_TORCH_THREADS") or usable_cpus())
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu x{threads} threads"
    return Placement(device=device, dtype=dtype, device_name=name, threads=threads)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which container CPU sets narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def torch_dtype(name: str):
    """Map a dtype name to the torch dtype."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {name!r}")
    return getattr(torch, name)
