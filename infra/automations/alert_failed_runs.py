"""Install the failed-run alert (alert-failed-runs.yaml) and its notification block on a Prefect server, idempotently.

Usage: python infra/automations/alert_failed_runs.py [--webhook-url URL] [--block-name concepts-alerts]
against the server in PREFECT_API_URL; the URL may come from CONCEPTS_ALERT_WEBHOOK_URL instead.

The block is a Custom Webhook that POSTs {"text": "<subject>\\n<body>"}: the body a Slack incoming
webhook takes as is, and any HTTP endpoint can read. The URL is kept in the block's secrets (a
Slack webhook URL is a credential), so the UI, the API and this file show it masked.
Kept beside its definition, outside the installed packages: run once per server, never imported by the pipeline.
"""

import argparse
import os
import sys
from pathlib import Path
from uuid import UUID

import yaml

DEFINITION = Path(__file__).with_name("alert-failed-runs.yaml")
BLOCK_NAME = "concepts-alerts"
WEBHOOK_URL_ENV = "CONCEPTS_ALERT_WEBHOOK_URL"
# Slack's incoming webhooks read "text"; the same body is plain JSON for any other receiver.
SLACK_COMPATIBLE_JSON = {"text": "{{subject}}\n{{body}}"}


def notification_block(webhook_url: str, block_name: str = BLOCK_NAME):
    """The webhook notification block: POST of Slack-compatible JSON to webhook_url (held as a secret)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    if not webhook_url.startswith(("http://", "https://")):
        raise ValueError(f"webhook URL must start with http:// or https://, got {webhook_url[:12]!r}...")
    return CustomWebhookNotificationBlock(
        name=block_name, url="{{webhook_url}}", method="POST", json_data=SLACK_COMPATIBLE_JSON,
        secrets={"webhook_url": webhook_url},
    )


def automation_definition(block_document_id: UUID) -> dict:
    """The YAML definition with the notification block's id filled in."""
    definition = yaml.safe_load(DEFINITION.read_text())
    for action in definition["actions"]:
        if action["type"] == "send-notification":
            action["block_document_id"] = str(block_document_id)
    return definition


def install(webhook_url: str, block_name: str = BLOCK_NAME) -> tuple[UUID, UUID]:
    """Save the block (overwriting one of that name), create or update the automation; return (block id, automation id)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import AutomationSort
    from prefect.events.filters import AutomationFilter, AutomationFilterName
    from prefect.events.schemas.automations import AutomationCore

    block_id = notification_block(webhook_url, block_name).save(block_name, overwrite=True)
    automation = AutomationCore.model_validate(automation_definition(block_id))
    with get_client(sync_client=True) as client:
        existing = client.read_automations(automations=AutomationFilter(name=AutomationFilterName(any_=[automation.name])),
                                           sort=AutomationSort.CREATED_DESC)
        if not existing:
            return block_id, client.create_automation(automation)
        *duplicates, keep = existing  # the oldest keeps its id across reinstalls
        # Two automations of one name would send every alert twice.
        for duplicate in duplicates:
            client.delete_automation(duplicate.id)
        client.update_automation(keep.id, automation)
        return block_id, keep.id


def main(argv: list[str] | None = None) -> int:
    """Command line: install with the webhook URL from --webhook-url or the environment, print the ids."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhook-url", default=os.environ.get(WEBHOOK_URL_ENV),
                        help=f"where alerts are POSTed (default: ${WEBHOOK_URL_ENV})")
    parser.add_argument("--block-name", default=BLOCK_NAME, help="notification block name (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.webhook_url:
        parser.error(f"give --webhook-url or set {WEBHOOK_URL_ENV}")
    block_id, automation_id = install(args.webhook_url, args.block_name)
    print(f"notification block {args.block_name}: {block_id}")
    print(f"automation alert-failed-nightly-runs: {automation_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
