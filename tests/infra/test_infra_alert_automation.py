"""The failed-run alert against a real `prefect server` and a webhook receiver on loopback: installed by its one
documented command (twice: one block, one automation), a real nightly that fails (its catalog is rejected) and a
backfill that crashes each POST one Slack-compatible message; an untagged failed run of the same flow posts none.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.states import Crashed, Failed, Running

from catalog.sample import write_sample_catalog

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLER = REPO_ROOT / "infra/automations/alert_failed_runs.py"
FLOW_DEADLINE_S = 600  # a flow process importing torch, diffusers and prefect on a loaded 2-core box
ALERT_DEADLINE_S = 180  # event -> triggers service -> actions service -> webhook; seconds when idle


def _load_installer():
    spec = importlib.util.spec_from_file_location("alert_failed_runs", INSTALLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


installer = _load_installer()

# A real nightly, tagged as its deployment tags it, on a catalog the validation rejects (5 of 6 rows bad).
FAILING_NIGHTLY = textwrap.dedent("""
    import sys
    from prefect import tags
    from flows.nightly import nightly_campaign

    with tags("catalog-concepts"):
        state = nightly_campaign(catalog_uri=sys.argv[1], return_state=True)
    open(sys.argv[2], "w").write(f"{state.state_details.flow_run_id} {state.type.value}")
""")


class _Receiver(BaseHTTPRequestHandler):
    """Records every POST: its path, JSON body and arrival time (wall clock, comparable with the server's)."""

    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, "json": json.loads(body), "at": time.time(),
                                    "content_type": self.headers.get("Content-Type")})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    _Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/concepts", _Receiver.received
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


def _documented_alert_command() -> list[str]:
    """The alert installer's line of infra/README.md, as a platform engineer copies it."""
    lines = [line.strip() for line in (REPO_ROOT / "infra/README.md").read_text().splitlines()]
    (line,) = [line for line in lines if line.startswith("python infra/automations/alert_failed_runs.py")]
    assert any(line.startswith(f"export {installer.WEBHOOK_URL_ENV}=") for line in lines)
    return line.split()


def _install_as_documented(server, url: str) -> str:
    """The README's command, verbatim, with the webhook URL in the variable the README exports."""
    command = _documented_alert_command()
    env = {**os.environ, "PREFECT_API_URL": server.api_url, installer.WEBHOOK_URL_ENV: url}
    result = subprocess.run([sys.executable, *command[1:]], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_installing_twice_keeps_one_block_and_one_automation(server, webhook):
    url, _ = webhook
    first = _install_as_documented(server, url + "-old")
    second = _install_as_documented(server, url)
    assert first.splitlines()[-1] == second.splitlines()[-1]  # the same automation id
    assert url not in first + second  # the webhook URL is a credential: never printed
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name("alert-failed-nightly-runs")
    assert automation.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    (action,) = automation.actions
    block = CustomWebhookNotificationBlock.load(installer.BLOCK_NAME)
    assert action.type == "send-notification" and action.block_document_id == block._block_document_id
    assert block.secrets.get_secret_value() == {"webhook_url": url}  # the second install's URL
    assert block.url == "{{webhook_url}}" and block.json_data == {"text": "{{subject}}\n{{body}}"}
    # No URL given anywhere: refused with a usage line naming the variable.
    env = {k: v for k, v in os.environ.items() if k != installer.WEBHOOK_URL_ENV}
    refused = subprocess.run([sys.executable, *_documented_alert_command()[1:]], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=300, env={**env, "PREFECT_API_URL": server.api_url})
    assert refused.returncode == 2 and installer.WEBHOOK_URL_ENV in refused.stderr


def test_failed_nightly_and_crashed_backfill_each_post_one_alert(server, webhook, s3_env, tmp_path):
    url, received = webhook
    _install_as_documented(server, url)
    received.clear()
    with get_client(sync_client=True) as client:
        # 1. Out of scope: a failed run of a flow of the same name without the project's tag.
        other = client.create_flow_run(_probe_flow("nightly_campaign"), name="other-team-nightly", tags=["other-team"])
        client.set_flow_run_state(other.id, Running())
        client.set_flow_run_state(other.id, Failed(message="not ours"))

        # 2. A real nightly that fails: its catalog is rejected before anything is generated.
        catalog = write_sample_catalog(tmp_path / "bad.parquet", n=1, seed=2, bad_rows=5)
        out = tmp_path / "nightly-state"
        env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "client-home"),
               "CONCEPTS_HOME": str(tmp_path / "concepts-home")}
        subprocess.run([sys.executable, "-c", FAILING_NIGHTLY, str(catalog), str(out)], cwd=REPO_ROOT, env=env,
                       capture_output=True, timeout=FLOW_DEADLINE_S, check=True)
        nightly_id, state_type = out.read_text().split()
        assert state_type == "FAILED"
        nightly = client.read_flow_run(UUID(nightly_id))
        alert = _wait_for(lambda: _alert_for(received, nightly.name), ALERT_DEADLINE_S, "alert for the failed nightly")
        latency = alert["at"] - nightly.state.timestamp.timestamp()
        print(f"\nnightly Failed -> webhook received: {latency:.1f} s")

        # 3. A backfill whose process was killed, as its worker reports it.
        backfill = client.create_flow_run(_probe_flow("backfill"), name="killed-backfill", tags=["catalog-concepts"])
        client.set_flow_run_state(backfill.id, Running())
        client.set_flow_run_state(backfill.id, Crashed(message="Flow run infrastructure exited with non-zero status code -9."), force=True)
        crashed_alert = _wait_for(lambda: _alert_for(received, "killed-backfill"), ALERT_DEADLINE_S, "alert for the crashed backfill")
        crashed_at = client.read_flow_run(backfill.id).state.timestamp.timestamp()
        print(f"backfill Crashed -> webhook received: {crashed_alert['at'] - crashed_at:.1f} s")

    # One Slack-compatible message per run: {"text": subject + body}, with the state, its message and the run's page.
    text = alert["json"]["text"]
    assert alert["path"] == "/hooks/concepts" and alert["content_type"] == "application/json"
    assert set(alert["json"]) == {"text"}
    assert text.startswith(f"catalog-concepts: nightly_campaign run {nightly.name} Failed"), text
    assert "CatalogRejectedError" in text or "bad" in text, text
    assert f"{server.ui_url}/runs/flow-run/{nightly.id}" in text, text
    assert crashed_alert["json"]["text"].startswith("catalog-concepts: backfill run killed-backfill Crashed")
    assert "non-zero status code -9" in crashed_alert["json"]["text"]
    # The untagged run failed first, so it was evaluated no later than the ones that alerted.
    assert [a for a in received if "other-team-nightly" in a["json"]["text"]] == []
    assert len([a for a in received if nightly.name in a["json"]["text"]]) == 1


def _alert_for(received: list, run_name: str):
    return next((a for a in received if f"run {run_name} " in a["json"]["text"]), None)


def _probe_flow(name: str):
    """A flow object to register runs under `name`; its runs get their states from the test, as a worker sets them."""
    from prefect import flow

    @flow(name=name)
    def probe():
        pass

    return probe
