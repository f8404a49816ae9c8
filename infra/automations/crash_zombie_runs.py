"""Install the zombie-run automation (crash-zombie-runs.yaml) on a Prefect server, creating or updating it by name.

Usage: python infra/automations/crash_zombie_runs.py [--window-seconds 90] [--tag catalog-concepts | --all-runs]
against the server in PREFECT_API_URL. Kept beside its definition, outside the installed packages: a
platform engineer runs it once per server, the pipeline never imports it.
"""

import argparse
import sys
from pathlib import Path
from uuid import UUID

import yaml

DEFINITION = Path(__file__).with_name("crash-zombie-runs.yaml")
WINDOW_S = 90  # three missed 30 s heartbeats: one late heartbeat never crashes a healthy run
PROJECT_TAG = "catalog-concepts"  # every deployment in infra/prefect.yaml carries it


def automation_definition(window_s: int = WINDOW_S, tag: str | None = PROJECT_TAG) -> dict:
    """The YAML definition with its window (>= 10 s, the server's minimum) and run tag; tag=None covers every run."""
    if window_s < 10:
        raise ValueError(f"window_s must be >= 10 (the server's minimum for proactive triggers), got {window_s}")
    definition = yaml.safe_load(DEFINITION.read_text())
    trigger = definition["trigger"]
    trigger["within"] = window_s
    if tag is None:
        trigger.pop("match_related", None)
    else:
        trigger["match_related"] = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{tag}"}
    for action in definition["actions"]:
        if action["type"] == "change-flow-run-state":
            action["message"] = f"No heartbeat for {window_s} s: the flow run's process or machine is gone (zombie-run automation)."
    return definition


def install(window_s: int = WINDOW_S, tag: str | None = PROJECT_TAG) -> UUID:
    """Create the automation, or update the one of that name (and delete its duplicates); return its id."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import AutomationSort
    from prefect.events.filters import AutomationFilter, AutomationFilterName
    from prefect.events.schemas.automations import AutomationCore

    automation = AutomationCore.model_validate(automation_definition(window_s, tag))
    with get_client(sync_client=True) as client:
        existing = client.read_automations(automations=AutomationFilter(name=AutomationFilterName(any_=[automation.name])),
                                           sort=AutomationSort.CREATED_DESC)
        if not existing:
            return client.create_automation(automation)
        *duplicates, keep = existing  # the oldest keeps its id across reinstalls
        # `prefect automation create` run twice leaves two; two would both fire on every zombie.
        for duplicate in duplicates:
            client.delete_automation(duplicate.id)
        client.update_automation(keep.id, automation)
        return keep.id


def main(argv: list[str] | None = None) -> int:
    """Command line: install with the given window and tag scope, print the automation id."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-seconds", type=int, default=WINDOW_S, help="seconds without a heartbeat before Crashed")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--tag", default=PROJECT_TAG, help="only flow runs with this tag (default: %(default)s)")
    scope.add_argument("--all-runs", action="store_true", help="every flow run on the server (all must send heartbeats)")
    args = parser.parse_args(argv)
    automation_id = install(args.window_seconds, None if args.all_runs else args.tag)
    print(f"automation crash-zombie-flow-runs: {automation_id} (window {args.window_seconds} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
