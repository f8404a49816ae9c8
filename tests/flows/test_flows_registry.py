"""The registry a deployment offers by name: models and review policies, checked when read."""

from pathlib import Path

import pytest

from flows.registry import DEFAULT_MODEL, DEFAULT_POLICY, ENV_REGISTRY, check_choice, load_registry, locate, registry_path
from flows.resources import SHIPPED_MODEL_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_registry_names_files_that_exist():
    registry = load_registry()
    assert Path(locate(DEFAULT_MODEL, registry.models)) == SHIPPED_MODEL_DIR
    assert Path(locate(DEFAULT_POLICY, registry.policies)) == REPO_ROOT / "policies" / "default.yaml"
    assert all(Path(locate(name, registry.policies)).is_file() for name in registry.policies)


def test_a_platform_may_point_at_its_own_registry(tmp_path, monkeypatch):
    own = tmp_path / "registry.yaml"
    own.write_text(f"models:\n  shipped: catalog_concepts/embedded_model/weights/concepts-dit-64\n  big: {tmp_path}/big\n"
                   "policies:\n  default: policies/default.yaml\n")
    monkeypatch.setenv(ENV_REGISTRY, str(own))
    assert registry_path() == own
    registry = load_registry()
    assert locate("big", registry.models) == f"{tmp_path}/big"
    assert locate("shipped", registry.models) == str(SHIPPED_MODEL_DIR)


@pytest.mark.parametrize(
    "text, error",
    [
        ("models:\n  shipped: x\n", "'policies' must map names to paths"),
        ("models:\n  other: x\npolicies:\n  default: y\n", "lacks the default entry 'shipped'"),
        ("models:\n  shipped: \npolicies:\n  default: y\n", "'models' must map names to paths"),
        ("models:\n  shipped: x\n  big: s3://models/big/\npolicies:\n  default: y\n",
         "models big name a URL; entries are paths on the workers"),
    ],
)
def test_a_broken_registry_is_refused_when_read(tmp_path, text, error):
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        load_registry(path)


def test_unknown_names_fail_with_the_allowed_list_and_paths_pass():
    assert check_choice("model", "shipped", ("shipped",)) == "shipped"
    assert check_choice("model", "/models/x", ("shipped",)) == "/models/x"
    assert locate("/models/x", {"shipped": "a"}) == "/models/x"
    with pytest.raises(ValueError, match="unknown model 'x'; allowed: shipped, big"):
        check_choice("model", "x", ("shipped", "big"))
