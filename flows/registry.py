"""Models and review policies by name: the registry a deployment offers in its run forms (infra/registry.yaml)."""

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from catalog_concepts.assets import registry_yaml, source_root

REGISTRY_PATH = registry_yaml()  # infra/registry.yaml, shipped in the package
ENV_REGISTRY = "CONCEPTS_REGISTRY"  # another registry file, e.g. a platform's own beside the checkout
DEFAULT_MODEL = "shipped"
DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class Registry:
    """Name -> location of the models and policies runs may use."""

    models: dict[str, str]
    policies: dict[str, str]


def registry_path() -> Path:
    """$CONCEPTS_REGISTRY, else infra/registry.yaml (its packaged copy in an installed wheel)."""
    return Path(os.environ.get(ENV_REGISTRY) or REGISTRY_PATH)


def load_registry(path: Path | None = None) -> Registry:
    """The registry file (default: registry_path()), checked: two sections of name -> path, the default names present."""
    path = path or registry_path()
    raw = yaml.safe_load(path.read_text()) or {}
    sections = {}
    for section, default in (("models", DEFAULT_MODEL), ("policies", DEFAULT_POLICY)):
        entries = raw.get(section)
        if not isinstance(entries, dict) or not all(isinstance(v, str) and v for v in entries.values()):
            raise ValueError(f"{path}: '{section}' must map names to paths; fix the file")
        if default not in entries:
            raise ValueError(f"{path}: '{section}' lacks the default entry {default!r}; add it back")
        remote = sorted(name for name, where in entries.items() if "://" in where)
        if remote:
            # Runs load a model from a folder on the worker (and the fleet's children from the same
            # path on theirs), and read the policy file there too: nothing downloads a prefix first.
            raise ValueError(f"{path}: {section} {', '.join(remote)} name a URL; entries are paths on the workers: "
                             f"copy the files to the same folder on every worker and register that folder")
        sections[section] = {str(k): v for k, v in entries.items()}
    return Registry(**sections)


def check_choice(kind: str, value: str, names: tuple[str, ...]) -> str:
    """A registry name, or a path given on purpose (it names a folder or file: contains '/'); else a loud error."""
    if value in names or "/" in value:
        return value
    raise ValueError(f"unknown {kind} {value!r}; allowed: {', '.join(names)}")


def locate(value: str, entries: dict[str, str]) -> str:
    """Where a registry name points (relative entries are under source_root(): the checkout or site-packages); a path stays as given."""
    if value not in entries:
        return value
    path = Path(entries[value])
    return str(path if path.is_absolute() else source_root() / path)
