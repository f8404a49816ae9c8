"""The zombie-run automation against a real `prefect server`: a tagged flow run whose process stops after a
heartbeat (SIGSTOP: alive to the OS, silent to Prefect, as a lost machine is) is marked Crashed; an untagged
silent run is left alone; installing twice keeps one automation; the window fits the job template's heartbeats.
"""

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.related import tags_as_related_resources
from prefect.events.schemas.automations import AutomationCore, Posture
from prefect.states import Running

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_WINDOW_S = 12  # the server's minimum is 10 s
EVENT_DEADLINE_S = 120  # a flow process importing prefect on a loaded 2-core box
CRASH_DEADLINE_S = TEST_WINDOW_S + 90  # window + proactive evaluation (every 5 s) + action service, with margin


def _load_installer():
    spec = importlib.util.spec_from_file_location("crash_zombie_runs", REPO_ROOT / "infra/automations/crash_zombie_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


installer = _load_installer()

# A flow run as a worker starts it: heartbeats on (Prefect's minimum, 30 s), the project tag, a long task.
ZOMBIE_FLOW = textwrap.dedent("""
    import sys, time
    from prefect import flow, tags
    from prefect.runtime import flow_run

    @flow(name="zombie-probe")
    def zombie_probe(run_id_file):
        open(run_id_file, "w").write(flow_run.id)
        time.sleep(600)

    with tags("catalog-concepts"):
        zombie_probe(sys.argv[1])
""")


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


def _wait_for(predicate, timeout_s: float, what: str, poll_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def _heartbeats(client, run_id: str) -> list:
    filter = EventFilter(event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                         resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]))
    return client.read_events(filter=filter, limit=50).events  # the server caps a page at 50; the client defaults to 100


def _emit_heartbeat(run) -> None:
    """One heartbeat event shaped like the flow engine's, sent through the events websocket."""
    async def send() -> None:
        async with get_events_client() as events:
            await events.emit(Event(
                event="prefect.flow-run.heartbeat",
                resource={"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.name": run.name},
                related=tags_as_related_resources(set(run.tags)),
            ))
    asyncio.run(send())


def test_installing_again_keeps_one_automation_with_the_new_window(server):
    first = installer.install(window_s=120)
    with get_client(sync_client=True) as client:
        # What a second `prefect automation create --from-file` leaves behind.
        client.create_automation(AutomationCore.model_validate(yaml.safe_load(installer.DEFINITION.read_text())))
        second = installer.install(window_s=TEST_WINDOW_S)
        assert first == second
        (automation,) = client.read_automations_by_name("crash-zombie-flow-runs")
    trigger = automation.trigger
    assert trigger.posture == Posture.Proactive
    assert trigger.within.total_seconds() == TEST_WINDOW_S
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}
    (action,) = automation.actions
    assert (action.type, action.state) == ("change-flow-run-state", StateType.CRASHED)
    assert f"{TEST_WINDOW_S} s" in action.message


def test_run_that_stops_heartbeating_is_crashed_and_an_untagged_one_is_not(server, tmp_path):
    installer.install(window_s=TEST_WINDOW_S)
    with get_client(sync_client=True) as client:
        # A silent run outside the project: one heartbeat, then nothing. Its bucket would expire first.
        untagged = client.create_flow_run(_probe_flow(), name="untagged-silent", tags=["other-team"])
        client.set_flow_run_state(untagged.id, Running())
        _emit_heartbeat(untagged)

        run_id_file = tmp_path / "run-id"
        env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
               "PREFECT_HOME": str(tmp_path / "client-home")}
        process = subprocess.Popen([sys.executable, "-c", ZOMBIE_FLOW, str(run_id_file)], env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=(tmp_path / "zombie.log").open("wb"),
                                   start_new_session=True)
        try:
            run_id = _wait_for(lambda: run_id_file.exists() and run_id_file.read_text(), EVENT_DEADLINE_S, "flow run started")
            (heartbeat, *_) = _wait_for(lambda: _heartbeats(client, run_id), EVENT_DEADLINE_S, "first heartbeat stored")
            assert client.read_flow_run(UUID(run_id)).state.is_running()
            # The machine "disappears": the process still exists, so nothing on the client side reports it.
            os.killpg(process.pid, signal.SIGSTOP)
            stopped = time.monotonic()

            crashed = _wait_for(lambda: _state_if(client, run_id, StateType.CRASHED), CRASH_DEADLINE_S,
                                f"zombie run Crashed (log: {(tmp_path / 'zombie.log').read_text()[-2000:]})")
            detected = (crashed.timestamp - heartbeat.occurred).total_seconds()
            print(f"\nlast heartbeat -> Crashed: {detected:.1f} s (server clock; window {TEST_WINDOW_S} s), "
                  f"SIGSTOP -> Crashed seen: {time.monotonic() - stopped:.1f} s")
            assert detected >= TEST_WINDOW_S  # never before the window has passed
            assert "heartbeat" in crashed.message
            assert "process or machine is gone" in crashed.message
            assert len(_heartbeats(client, run_id)) == 1  # nothing after the stop
            # Evaluated in the same or an earlier pass than the zombie's: out of scope, so never touched.
            assert client.read_flow_run(untagged.id).state.is_running()
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_automation_window_leaves_room_for_three_job_template_heartbeats():
    template = json.loads((REPO_ROOT / "infra/k8s/gpu-pool.job-template.json").read_text())
    env = template["variables"]["properties"]["env"]["default"]
    frequency = int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    definition = installer.automation_definition()
    assert definition["trigger"]["within"] == installer.WINDOW_S == 3 * frequency
    assert AutomationCore.model_validate(definition).trigger.within.total_seconds() == 3 * frequency
    # The file as `prefect automation create --from-file` reads it.
    shipped = AutomationCore.model_validate(yaml.safe_load(installer.DEFINITION.read_text()))
    assert shipped.trigger.within.total_seconds() == installer.WINDOW_S
    assert shipped.trigger.match_related.root == {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.catalog-concepts"}
    with pytest.raises(ValueError, match="10"):
        installer.automation_definition(window_s=5)


def _state_if(client, run_id: str, state_type: StateType):
    state = client.read_flow_run(UUID(run_id)).state
    return state if state.type == state_type else None


def _probe_flow():
    from prefect import flow

    @flow(name="silent-probe")
    def silent_probe():
        pass

    return silent_probe
