"""The backfill form as a marketer fills it: headless chromium on the local stack's Prefect UI (`ops stack up`, a
real `prefect server`, the embedded S3, served deployments) shows one titled field per parameter in both UIs the
server offers, takes a date range, a limit, a model by name and the sample-catalog switch, starts the run with
Submit, and the run completes and publishes that date; dates left empty are today when the run starts.

CONCEPTS_DOCS_SCREENSHOT=1 also writes the filled form to docs/backfill-form.png (the picture the READMEs link).
"""

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
from websockets.sync.client import connect

from catalog_concepts.engine.tiny import build_tiny_pipeline
from catalog_concepts.local_services.prefect_server import stop_process_group
from catalog_concepts.storage.settings import boto3_client
from flows.params import today

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing: run `make browser`")]
REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "backfill-form.png"
RUN_DATE = "2026-10-07"
LIMIT = 2
# Each field of the form by the title a person reads, and what this test types or picks.
FILLED = {"First date": RUN_DATE, "Last date": RUN_DATE, "SKU limit": str(LIMIT), "Images per SKU": "1",
          "Allow the sample catalog": True, "Most bad rows": "0.25"}
# Reads a field by its label and sets it the way typing or clicking would (Vue listens to input/change).
FORM_HELPERS = r"""
window.__field = (title) => {
  const label = [...document.querySelectorAll('label')].find(l => l.innerText.trim() === title || l.innerText.trim().startsWith(title + ' ('));
  let node = label;
  while (node && !node.querySelector('input,select,textarea')) node = node.parentElement;
  return node ? node.querySelector('input,select,textarea') : null;
};
window.__set = (title, value) => {
  const field = window.__field(title);
  if (!field) return 'no field titled ' + title;
  if (field.type === 'checkbox') { if (field.checked !== value) field.click(); return field.checked; }
  field.value = value;
  field.dispatchEvent(new Event('input', {bubbles: true}));
  field.dispatchEvent(new Event('change', {bubbles: true}));
  return field.value;
};
"""


class Browser:
    """Headless chromium driven over the DevTools protocol: navigate, run a script, wait, screenshot."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 2600):
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        # Chromium writes the port it chose here once it listens.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.process.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=60)
        self.last_id = 0

    def send(self, method: str, **params) -> dict:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            message = json.loads(self.socket.recv(timeout=180))
            if message.get("id") == self.last_id:
                assert "error" not in message, (method, message["error"])
                return message["result"]

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, (expression[:200], result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 180):
        deadline = time.monotonic() + timeout_s
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"not true after {timeout_s} s: {expression}\n{self.text()[:3000]}"
            time.sleep(0.5)
        return value

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            stop_process_group(self.process)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_up):
    """`catalog-concepts ops stack up`, with a registry that also offers a tiny model (fast on a CPU)."""
    home = tmp_path_factory.mktemp("form-stack")
    with stack_up(home, build_tiny_pipeline(home / "tiny-model")) as stack:
        yield stack


def _backfill_deployment(process: subprocess.Popen, log: Path, timeout_s: float = 180):
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            found = [d for d in client.read_deployments() if d.name == "backfill"]
            if found:
                return found[0]
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)


def _open_form(browser: Browser, api_url: str, deployment) -> None:
    browser.send("Page.enable")
    browser.send("Page.navigate", url=f"{api_url.removesuffix('/api')}/deployments/deployment/{deployment.id}/run")
    browser.wait_for("document.body && document.body.innerText.includes('Allow the sample catalog')")
    browser.evaluate(FORM_HELPERS)


def _submit(browser: Browser) -> None:
    browser.evaluate("[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Submit').click()")
    browser.wait_for("!location.pathname.endsWith('/run')", timeout_s=60)
    assert "is not of type" not in browser.text()


def _run_ids(deployment) -> set:
    with get_client(sync_client=True) as client:
        return {r.id for r in client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))}


def _new_finished_run(deployment, before: set, log: Path, timeout_s: float = 600):
    """The deployment's one flow run not in `before`, once it has ended."""
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                                         flow_run_filter=FlowRunFilter())
            new = [r for r in runs if r.id not in before]
            if len(new) == 1 and new[0].state.is_final():
                return new[0]
            assert len(new) <= 1 and time.monotonic() < deadline, f"{[r.state for r in new]}\n{log.read_text()[-4000:]}"
            time.sleep(2)


def test_a_person_fills_the_flat_backfill_form_and_the_run_completes(stack, tmp_path):
    api_url, s3, process, log = stack.api_url, stack.s3, stack.process, stack.log
    deployment = _backfill_deployment(process, log)
    browser = Browser(tmp_path / "chromium-profile")
    try:
        # 1. The form: one titled field per parameter, nothing nested under "params", no path to type,
        #    no "type | None" switch, dates empty: in the server's newer UI (/v2) ...
        browser.send("Page.enable")
        browser.send("Page.navigate", url=f"{api_url.removesuffix('/api')}/v2/deployments/deployment/{deployment.id}/run")
        browser.wait_for("document.body && document.body.innerText.includes('Allow the sample catalog')")
        v2 = browser.text()
        assert v2.count("Pick a date") == 2 and "Property is type" not in v2 and "params" not in v2.split(), v2[:3000]
        # ... and in the default one, which this test fills in.
        _open_form(browser, api_url, deployment)
        for title in ("First date", "Last date", "Categories", "SKUs", "SKU limit", "Images per SKU", "Model",
                      "Review policy", "Sampler", "Sampling steps", "Guidance scale", "Catalog", "Allow the sample catalog"):
            assert browser.evaluate(f"window.__field({json.dumps(title)}) !== null"), title
        assert "params" not in browser.text().split() and "Property is type" not in browser.text()
        # The dates are empty (today when the run starts), not a date frozen at deploy time.
        assert browser.evaluate("[window.__field('First date').type, window.__field('First date').value]") == ["date", ""]
        # The model is picked by name from the deployment's registry, the registry's default chosen.
        options = browser.evaluate("[[...window.__field('Model').options].map(o => o.value), window.__field('Model').value]")
        assert (sorted(options[0]), options[1]) == (["shipped", "tiny"], "shipped"), options

        # 2. Fill it in as a person would, picture it, pick the tiny model, submit.
        for title, value in FILLED.items():
            shown = browser.evaluate(f"window.__set({json.dumps(title)}, {json.dumps(value)})")
            assert shown == value, (title, shown)
        # The switch shows its new state (and its slide has ended) before the picture is taken.
        browser.wait_for("document.querySelector('.p-toggle__control--checked') !== null && "
                         "document.getAnimations().every(a => !(a instanceof CSSTransition) || a.playState === 'finished')")
        shot = tmp_path / "backfill-form.png"
        browser.screenshot(shot)
        if os.environ.get("CONCEPTS_DOCS_SCREENSHOT") == "1":
            shutil.copyfile(shot, DOCS_SCREENSHOT)
        assert browser.evaluate("window.__set('Model', 'tiny')") == "tiny"
        before = _run_ids(deployment)
        _submit(browser)

        # 3. The run the form created has the flat parameters typed, and completes.
        started = time.monotonic()
        run = _new_finished_run(deployment, before, log)
        print(f"\nform-submitted backfill {run.state.name} {time.monotonic() - started:.1f} s after Submit")
        assert run.state.is_completed(), f"{run.state}\n{log.read_text()[-4000:]}"
        assert {k: run.parameters[k] for k in ("start_date", "end_date", "limit", "variants_per_sku", "model", "allow_sample_catalog")} == {
            "start_date": RUN_DATE, "end_date": RUN_DATE, "limit": LIMIT, "variants_per_sku": 1, "model": "tiny", "allow_sample_catalog": True}
        manifests = boto3_client(s3).list_objects_v2(Bucket=s3.bucket, Prefix=f"manifests/run_date={RUN_DATE}/")
        assert manifests.get("KeyCount") == 1

        # 4. Its run page says so.
        browser.send("Page.navigate", url=f"{api_url.removesuffix('/api')}/runs/flow-run/{run.id}")
        browser.wait_for("document.body && document.body.innerText.includes('Completed')", timeout_s=120)
    finally:
        browser.close()


def test_dates_left_empty_in_the_form_are_today_when_the_run_starts(stack, tmp_path):
    api_url, process, log = stack.api_url, stack.process, stack.log
    deployment = _backfill_deployment(process, log)
    browser = Browser(tmp_path / "chromium-profile")
    try:
        _open_form(browser, api_url, deployment)
        for title, value in {**FILLED, "First date": None, "Last date": None, "SKU limit": "1", "Model": "tiny"}.items():
            if value is not None:
                assert browser.evaluate(f"window.__set({json.dumps(title)}, {json.dumps(value)})") == value, title
        days, before = {today().isoformat()}, _run_ids(deployment)
        _submit(browser)
        run = _new_finished_run(deployment, before, log)
        days.add(today().isoformat())  # a run that straddles midnight UTC may take either day
    finally:
        browser.close()
    # The untouched dates are not in the run's parameters at all: the flow chose the day when it ran.
    assert run.state.is_completed(), f"{run.state}\n{log.read_text()[-4000:]}"
    assert "start_date" not in run.parameters and "end_date" not in run.parameters, run.parameters
    keys = [k for day in days for k in stack.keys(f"manifests/run_date={day}/")]
    assert len(keys) == 1, keys

