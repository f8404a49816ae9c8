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
    # One thread per worker by default: on the 2-core CI box two threads under contention
    # ran up to 10x slower than one (FIELD-NOTES); CONCEPTS_TORCH_THREADS overrides.
    if threads is None:
        threads = int(os.environ.get("CONCEPTS_TORCH_THREADS", "1"))
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu x{threads} threads"
    return Placement(device=device, dtype=dtype, device_name=name, threads=threads)


def torch_dtype(name: str):
    """Map a dtype name to the torch dtype."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {name!r}")
    return getattr(torch, name)
