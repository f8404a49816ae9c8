"""The local stack as a person starts it (`ops stack up --workers 2`: a real `prefect server` on loopback, the
embedded S3, served deployments, a GPU pool with two process workers): its UI connects to its API in headless
chromium and lists the deployments, a backfill started through the API with form parameters runs to Completed and
publishes, a nightly fans its shards out to the two workers, and Ctrl-C
stops it all, workers included.
"""

import html
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.deployments import run_deployment

from catalog.sample import SAMPLE_CATALOG_PATH
from catalog_concepts.storage.manifest import read_manifests

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What Prefect's two UIs show when their API calls fail (v1: a toast, v2: a full page).
CONNECTION_ERRORS = ("Can't connect to Server API", "Unable to connect to Prefect server")
DATES = ("2026-10-01", "2026-10-02")
LIMIT = 3
WORKERS = 2


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    return str(tiny_model_dir)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_model, stack_up):
    """`catalog-concepts ops stack up --workers 2` as a person runs it; Ctrl-C at the end stops it all, workers included."""
    with stack_up(tmp_path_factory.mktemp("stack-home"), tiny_model, "--workers", str(WORKERS)) as stack:
        yield stack


def _wait_for_deployments(names: set[str], process: subprocess.Popen, log: Path, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
            if names <= set(found):
                return found
            time.sleep(1)
    raise AssertionError(f"deployments {names} not registered in {timeout_s} s:\n{log.read_text()[-3000:]}")


def _chromium_text(tmp_path: Path, url: str) -> str:
    """The visible text of the page at url after its scripts ran (virtual time lets the UI's API calls finish)."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=20000", "--dump-dom", url,
    ]
    dom = subprocess.run(command, capture_output=True, timeout=180, check=True).stdout.decode()
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing: run `make browser`")
def test_stack_ui_connects_to_its_own_api_and_lists_the_deployments(stack, tmp_path):
    _wait_for_deployments({"nightly_campaign/nightly", "backfill/backfill", "review/review"}, stack.process, stack.log)
    ui_url = stack.api_url.removesuffix("/api")
    assert ui_url in stack.wait_for_line("Prefect UI:")
    # The UI's scripts take their API address from here; on a port other than 4200 it used to say 4200.
    with urllib.request.urlopen(f"{ui_url}/ui-settings", timeout=30) as response:
        assert json.load(response)["api_url"] == stack.api_url

    # Both UIs the server offers (v2 is the default at /, v1 stays one click away), as a browser renders them.
    for page in ("/deployments", "/v2/deployments"):
        text = _chromium_text(tmp_path, ui_url + page)
        assert not [e for e in CONNECTION_ERRORS if e in text], f"{page}: {text[:1500]}"
        shown = {name for name in ("nightly", "backfill", "review") if re.search(rf"\b{name}\b", text)}
        assert shown == {"nightly", "backfill", "review"}, f"{page}: {text[:1500]}"


def test_served_backfill_started_through_the_api_completes_and_publishes(stack, tiny_model):
    # 1. The deployments of prefect.yaml register, the nightly one with its cron schedule and timezone.
    found = _wait_for_deployments({"nightly_campaign/nightly", "backfill/backfill", "review/review"}, stack.process, stack.log)
    (schedule,) = found["nightly_campaign/nightly"].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")

    # 2. A backfill with form parameters, as the UI's "Custom run" sends them.
    form = {"start_date": DATES[0], "end_date": DATES[1], "limit": LIMIT, "variants_per_sku": 1,
            "model": "tiny", "catalog_uri": str(SAMPLE_CATALOG_PATH), "allow_sample_catalog": True, "max_bad_fraction": 0.25,
            "categories": [], "skus": []}
    run = run_deployment("backfill/backfill", parameters=form, timeout=300, poll_interval=2)
    print(f"stack up -> backfill Completed: {time.monotonic() - stack.started:.1f} s")
    assert run.state.is_completed(), f"{run.state}\n{stack.log.read_text()[-4000:]}"

    # 3. It published: one manifest, contact sheet and set of images per date.
    manifests = stack.keys("manifests/")
    assert [m.split("/")[1] for m in manifests] == [f"run_date={d}" for d in DATES]
    reports = stack.keys("reports/")
    assert [r.split("/")[1] for r in reports] == [f"run_date={d}" for d in DATES]
    images = [k for p in ("images/", "review/", "rejected/") for k in stack.keys(p)]
    assert len(images) == len(DATES) * LIMIT

    # 4. Each date's run left its artifacts: a decision table and a link to its contact sheet.
    with get_client(sync_client=True) as client:
        links = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-contact-sheet"])))
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-decisions"])))
    assert len(links) == len(tables) == len(DATES)
    assert all("X-Amz-Expires=900" in a.data or "Expires=" in a.data for a in links)

    # 5. The backfill's own run page lists every date: run id, status, images by decision, contact sheet.
    with get_client(sync_client=True) as client:
        own = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    by_key = {a.key: a for a in own}
    assert {"backfill-dates", "backfill-summary"} <= set(by_key), [a.key for a in own]
    dates = json.loads(by_key["backfill-dates"].data)
    assert [d["run_date"] for d in dates] == list(DATES) and {d["status"] for d in dates} == {"committed"}
    assert {f"run_date={d['run_date']}" for d in dates} == {m.split("/")[1] for m in manifests}
    assert all(d["run_id"] in m for d, m in zip(dates, manifests, strict=True))
    assert all(d["images"] == LIMIT for d in dates)
    assert sum(d[k] for d in dates for k in ("publish_labeled_preview", "human_review", "reject")) == len(DATES) * LIMIT
    summary = by_key["backfill-summary"].data
    assert all(d["contact_sheet_link"] in summary and d["run_id"] in summary for d in dates)
    assert f"{stack.api_url.removesuffix('/api')}/runs/flow-run/" in summary  # each date's own run page


def test_stack_with_workers_fans_a_nightly_out_over_the_gpu_pool(stack, tiny_model):
    # 1. --workers 2: the pool has two slots, the shard worker is deployed on it, two workers are online,
    #    and a scheduled nightly defaults to fanning out over them.
    found = _wait_for_deployments({"nightly_campaign/nightly", "shard_worker/shard-worker"}, stack.process, stack.log)
    assert found["nightly_campaign/nightly"].parameters == {"shard_workers": WORKERS}
    assert found["shard_worker/shard-worker"].work_pool_name == "gpu-pool"
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("gpu-pool").concurrency_limit == WORKERS
        deadline = time.monotonic() + 180
        while len([w for w in client.read_workers_for_work_pool("gpu-pool") if w.status == "ONLINE"]) < WORKERS:
            assert time.monotonic() < deadline, f"{WORKERS} workers not online:\n{stack.log.read_text()[-3000:]}"
            time.sleep(1)

    # 2. A nightly started through the API runs its shards in child runs on the pool and commits one manifest.
    form = {"run_date": "2026-10-05", "limit": 8, "variants_per_sku": 1, "skus_per_shard": 1, "batch_size": 4,
            "model": "tiny", "catalog_uri": str(SAMPLE_CATALOG_PATH), "allow_sample_catalog": True, "max_bad_fraction": 0.25,
            "shard_workers": WORKERS}
    run = run_deployment("nightly_campaign/nightly", parameters=form, timeout=600, poll_interval=2)
    assert run.state.is_completed(), f"{run.state}\n{stack.log.read_text()[-4000:]}"
    # The nightly returns once every shard is staged; a child still finishing is being cancelled
    # then (its work is done), so wait for the children to settle before looking at them.
    deadline = time.monotonic() + 300
    with get_client(sync_client=True) as client:
        while True:
            # This nightly's children only: the backfill test before it fans its dates out on the same pool.
            children = [r for r in client.read_flow_runs() if r.parent_task_run_id is not None
                        and client.read_task_run(r.parent_task_run_id).flow_run_id == run.id
                        and client.read_flow(r.flow_id).name == "shard_worker"]
            if all(c.state.is_final() for c in children) or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert len(children) == WORKERS, [c.name for c in children]
    assert all(c.state.is_completed() or c.state.is_cancelled() for c in children), [c.state for c in children]
    assert len(stack.keys("manifests/run_date=2026-10-05/")) == 1
    rows = [r for r in read_manifests(stack.s3).to_pylist() if str(r["run_date"]) == "2026-10-05"]
    assert len(rows) == 8 and len({r["asset_id"] for r in rows}) == 8
    assert {r["flow_run_id"] for r in rows} <= {str(c.id) for c in children}, "every row is made by a shard worker"
