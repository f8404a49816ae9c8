"""Entrypoint of bench/fanout.py's SIMULATED-accelerator deployment: flows/shard_worker.py's flow, unchanged.

diffusers resolves the simulated denoiser class only from modules already imported, so this
entrypoint imports catalog_concepts.engine.simulated_accelerator before the flow's first load_model.
"""

import catalog_concepts.engine.simulated_accelerator  # noqa: F401  (makes the class importable by diffusers)
from flows.shard_worker import shard_worker

__all__ = ["shard_worker"]
