"""Where the files the project ships live, found through importlib.resources: a checkout and an installed wheel alike.

Nothing here guesses a repository root from `__file__`: every path is a package's resource, so
`pip install catalog-concepts` finds the same model, sample catalog and deployment files as a checkout.
"""

from importlib import resources
from pathlib import Path


def packaged(package: str, *parts: str) -> Path:
    """A file or folder shipped inside `package`, as a path on disk (the project installs unzipped)."""
    path = resources.files(package).joinpath(*parts)
    if not isinstance(path, Path):
        raise RuntimeError(f"{package} is not installed as files on disk ({path!r}); install the wheel, not a zip")
    return path


def source_root() -> Path:
    """The folder holding the project's top-level packages: the checkout, or site-packages for an installed wheel.

    prefect.yaml's entrypoints (flows/nightly.py:...) and the registry's relative entries are relative to it.
    """
    return packaged("catalog_concepts").parent


def shipped_model_dir() -> Path:
    """The shipped diffusers folder concepts-dit-64 (catalog_concepts/embedded_model/weights)."""
    return packaged("catalog_concepts.embedded_model", "weights", "concepts-dit-64")


def attribute_classifier_path() -> Path:
    """The shipped attribute classifier the alignment scorer loads."""
    return packaged("catalog_concepts.embedded_model", "weights", "attribute_classifier.pt")


def prefect_yaml() -> Path:
    """The deployments file: infra/prefect.yaml, shipped in the package as catalog_concepts/infra_defaults/prefect.yaml."""
    return packaged("catalog_concepts", "infra_defaults", "prefect.yaml")


def registry_yaml() -> Path:
    """The model/policy registry: infra/registry.yaml, shipped as catalog_concepts/infra_defaults/registry.yaml."""
    return packaged("catalog_concepts", "infra_defaults", "registry.yaml")
