"""Every prefect.yaml entrypoint loads the way a worker's flow-run process loads it.

A worker runs `path/to/file.py:flow` as a script: Prefect puts the script's folder (flows/) first on
sys.path while it executes it, so a module there shadows a top-level package of the same name for every
import the flow's chain makes (flows/review.py once hid the old top-level `review` package; since the
project's packages live under catalog_concepts/ no name collides, and this keeps it so). An import test by module name
(test_infra_prefect_yaml.py) cannot see that; a deployed run crashes before its first line. Each
entrypoint here gets a fresh interpreter in the repository root, as on a worker after its pull step.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from flows.deployments import deployment_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
LOAD = ("import sys; from prefect.flows import load_flow_from_entrypoint; "
        "print(load_flow_from_entrypoint(sys.argv[1], use_placeholder_flow=False).name)")


@pytest.mark.parametrize("entrypoint", sorted({s.entrypoint for s in deployment_specs()}))
def test_entrypoint_loads_as_a_worker_loads_it(entrypoint):
    result = subprocess.run([sys.executable, "-c", LOAD, entrypoint], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
