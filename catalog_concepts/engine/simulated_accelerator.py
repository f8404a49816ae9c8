"""A SIMULATED accelerator for fleet benchmarks: a real diffusers pipeline folder whose denoiser sleeps.

Each denoiser call holds its process's one device slot for a fixed time (config `call_ms`) in
time.sleep, which costs no CPU, like a GPU kernel the host waits on, and predicts zero noise.
Everything else is real and runs on the CPU: the MiniLM text encoder, a tiny VAE, the sampler,
and whatever the caller does with the images. Each process appends its model loads and busy
intervals to <record_dir>/<pid>.jsonl.

diffusers 0.42 resolves a component class outside diffusers/transformers only from modules the
process has already imported (it never imports a module a folder names), so a process must
import this module before catalog_concepts.engine.load.load_model reads such a folder.
"""

import functools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLASS_NAME = "SimulatedDenoiser"
MODEL_ID = "simulated-accelerator"

# One simulated device per process: a call waits for the slot like a kernel waits for its GPU.
_DEVICE_SLOT = threading.Lock()
_RECORD_LOCK = threading.Lock()


def __getattr__(name: str):
    # The class is built on first use, so importing this module costs no torch/diffusers import:
    # a worker that imports it early pays those imports where it would anyway, at its first load.
    if name == CLASS_NAME:
        return denoiser_class()
    if name == "ModelMixin":
        # diffusers finds a custom class's load method by looking up its base classes by name
        # on the class's module (getattr(module, "ModelMixin")).
        from diffusers import ModelMixin

        return ModelMixin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def denoiser_class() -> type:
    """The SimulatedDenoiser class (a diffusers ModelMixin), built once per process."""
    import torch
    from diffusers import ConfigMixin, ModelMixin
    from diffusers.configuration_utils import register_to_config
    from diffusers.models.modeling_outputs import Transformer2DModelOutput

    class SimulatedDenoiser(ModelMixin, ConfigMixin):
        """A PixArt-shaped denoiser that holds the device slot for call_ms per call and predicts zero noise."""

        @register_to_config
        def __init__(self, in_channels: int = 4, out_channels: int = 4, sample_size: int = 16, call_ms: float = 100.0,
                     record_dir: str | None = None):
            super().__init__()
            # One weight, so the folder has a weights file that load_model digests like any other.
            self.zero = torch.nn.Parameter(torch.zeros(1))

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            """Load from a folder and record one model load for this process."""
            model = super().from_pretrained(*args, **kwargs)
            _record(model.config["record_dir"], {"event": "load", "time": time.time()})
            return model

        def forward(self, hidden_states, encoder_hidden_states=None, timestep=None, added_cond_kwargs=None,
                    encoder_attention_mask=None, return_dict: bool = True, **_):
            with _DEVICE_SLOT:
                start = time.time()
                time.sleep(self.config["call_ms"] / 1000.0)
                end = time.time()
            _record(self.config["record_dir"], {"event": "busy", "start": start, "end": end, "batch": int(hidden_states.shape[0])})
            sample = hidden_states * self.zero
            return Transformer2DModelOutput(sample=sample) if return_dict else (sample,)

    SimulatedDenoiser.__qualname__ = CLASS_NAME
    return SimulatedDenoiser


def _record(record_dir: str | None, event: dict) -> None:
    if not record_dir:
        return
    line = json.dumps({"pid": os.getpid(), **event}) + "\n"
    with _RECORD_LOCK, open(Path(record_dir) / f"{os.getpid()}.jsonl", "a") as handle:
        handle.write(line)


def build_simulated_pipeline(out_dir: str | Path, call_ms: float, record_dir: str | Path, steps: int = 4) -> Path:
    """Write the tiny PixArt pipeline (catalog_concepts/engine/tiny.py) with its transformer replaced by a SimulatedDenoiser."""
    from catalog_concepts.engine.tiny import TINY_SIZE, build_tiny_pipeline

    out = build_tiny_pipeline(out_dir)
    record = Path(record_dir).resolve()
    record.mkdir(parents=True, exist_ok=True)
    for file in sorted((out / "transformer").rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    denoiser_class()(sample_size=TINY_SIZE // 2, call_ms=float(call_ms), record_dir=str(record)).save_pretrained(out / "transformer")
    index = json.loads((out / "model_index.json").read_text())
    index["transformer"] = [__name__, CLASS_NAME]
    (out / "model_index.json").write_text(json.dumps(index, indent=2))
    defaults = json.loads((out / "catalog_concepts.json").read_text())
    # The shard treats it as an accelerator (catalog_concepts.engine.load.LoadedModel.on_accelerator): host work is
    # overlapped with generation, as on a GPU, so the device-busy fraction measures that overlap.
    defaults.update(model_id=MODEL_ID, steps=steps, simulated_accelerator=True)
    (out / "catalog_concepts.json").write_text(json.dumps(defaults, indent=2))
    return out


@dataclass
class DeviceRecords:
    """What one process's simulated device did: its model loads and busy intervals (epoch seconds)."""

    loads: int = 0
    busy: list[tuple[float, float]] = field(default_factory=list)

    def busy_seconds(self, start: float = float("-inf"), end: float = float("inf")) -> float:
        """Busy time inside [start, end]."""
        return sum(max(0.0, min(e, end) - max(s, start)) for s, e in self.busy)


def read_records(record_dir: str | Path) -> dict[int, DeviceRecords]:
    """Every process's records in record_dir, by pid."""
    records: dict[int, DeviceRecords] = {}
    for file in Path(record_dir).glob("*.jsonl"):
        for line in file.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a process killed while writing it
            entry = records.setdefault(int(event["pid"]), DeviceRecords())
            if event["event"] == "load":
                entry.loads += 1
            elif event["event"] == "busy":
                entry.busy.append((event["start"], event["end"]))
    return records
