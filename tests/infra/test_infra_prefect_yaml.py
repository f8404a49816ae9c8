"""Every prefect.yaml deployment resolves: its entrypoint imports and its parameter schema builds."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.utilities.callables import parameter_schema
from prefect.utilities.hashing import file_hash
from pydantic import ValidationError

from catalog_concepts.storage.lease import DEFAULT_TTL
from flows.backfill import MAX_BACKFILL_DAYS, BackfillParams, backfill_dates, nightly_parameters
from flows.deployments import PREFECT_YAML, deployment_specs, load_entrypoint
from flows.params import NightlyParams, today

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS = deployment_specs()
# Deployments people start from the UI: one typed form each. The shard worker is started by the
# nightly with run_deployment, with flat parameters (the plan's S3 key and its share).
FORMS = [s for s in SPECS if s.name != "shard-worker"]


def test_the_four_deployments_and_shared_definitions():
    assert [s.name for s in SPECS] == ["nightly", "backfill", "shard-worker", "review"]
    text = PREFECT_YAML.read_text()
    # Shared values are written once and aliased; no literal credentials.
    assert "definitions:" in text and "*gpu_pool" in text and "*nightly_schedule" in text
    assert "AWS_SECRET_ACCESS_KEY" not in text and "secret_key" not in text
    raw = yaml.safe_load(text)
    pools = {d["name"]: d["work_pool"]["name"] for d in raw["deployments"]}
    assert pools == {"nightly": "gpu-pool", "backfill": "gpu-pool", "shard-worker": "gpu-pool", "review": "cpu-pool"}


def test_nightly_runs_on_a_cron_schedule_with_a_timezone():
    (nightly,) = [s for s in SPECS if s.name == "nightly"]
    assert nightly.schedules == ({"cron": "0 2 * * *", "timezone": "Europe/Berlin", "active": True},)
    assert nightly.concurrency_limit == 1


@pytest.mark.parametrize("spec", FORMS, ids=[s.name for s in FORMS])
def test_entrypoint_imports_and_its_parameter_schema_builds(spec):
    path = spec.entrypoint.split(":")[0]
    assert (REPO_ROOT / path).is_file(), "entrypoints are relative to the repository root"
    flow = load_entrypoint(spec.entrypoint)
    schema = parameter_schema(flow).model_dump()
    # Flat fields, each with a title and a description: no wrapper object, nothing nested.
    assert schema["properties"] and not schema["definitions"]
    # Its version follows its own file, as for an unwrapped flow (not the wrapper's file).
    assert flow.version == file_hash(str(REPO_ROOT / path))
    assert all(p.get("title") and p.get("description") for p in schema["properties"].values()), schema


def test_only_the_nightly_retries_as_a_flow_and_its_worker_process_sees_the_policy():
    raw = yaml.safe_load(PREFECT_YAML.read_text())
    envs = {d["name"]: d["work_pool"]["job_variables"]["env"] for d in raw["deployments"]}
    nightly = envs["nightly"]
    assert nightly["PREFECT_FLOWS_DEFAULT_RETRIES"] == "1"
    # The retry waits out a crashed attempt's lease, which would otherwise refuse it at once.
    assert int(nightly["PREFECT_FLOWS_DEFAULT_RETRY_DELAY_SECONDS"]) > DEFAULT_TTL.total_seconds()
    assert {k: v for k, v in nightly.items() if not k.startswith("PREFECT_FLOWS_DEFAULT_")} == envs["backfill"]
    # A backfill's dates, the shard workers and the review are rerun by a person or by their parent, not by Prefect.
    assert [name for name, env in envs.items() if "PREFECT_FLOWS_DEFAULT_RETRIES" in env] == ["nightly"]

    # The flow process a worker starts with that environment imports the nightly with the policy...
    policy = {k: v for k, v in nightly.items() if k.startswith("PREFECT_FLOWS_DEFAULT_")}
    probe = "from flows.nightly import nightly_campaign as f; print(f.retries, f.retry_delay_seconds)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env={**os.environ, **policy},
                         capture_output=True, text=True, timeout=600, check=True).stdout.split()
    assert out == ["1", nightly["PREFECT_FLOWS_DEFAULT_RETRY_DELAY_SECONDS"]]
    # ...and without it (the CLI, tests) a failed nightly fails at once.
    from flows.nightly import nightly_campaign

    assert nightly_campaign.retries == 0


def test_shard_worker_takes_the_plan_key_and_its_share():
    from flows.fanout import run_on_fleet  # noqa: F401  (the parent that starts it imports cleanly)
    from flows.shard_worker import DEPLOYMENT_NAME

    (spec,) = [s for s in SPECS if s.name == "shard-worker"]
    flow = load_entrypoint(spec.entrypoint)
    assert f"{flow.name}/{spec.name}" == DEPLOYMENT_NAME
    schema = parameter_schema(flow).model_dump()
    assert schema["required"] == ["plan_key"]
    assert set(schema["properties"]) == {"plan_key", "share", "shares", "bucket", "poll_seconds"}


def test_backfill_form_offers_the_marketers_choices_as_flat_typed_fields():
    schema = parameter_schema(load_entrypoint("flows/backfill.py:backfill")).model_dump()
    fields = schema["properties"]
    for name in ("start_date", "end_date", "categories", "skus", "limit", "variants_per_sku", "model",
                 "scheduler", "steps", "guidance_scale", "policy"):
        assert name in fields, name
    assert fields["start_date"]["format"] == "date" and fields["start_date"]["title"] == "First date"
    # Drop-downs, not free text, for the closed vocabularies and the registry's names; no paths asked for.
    assert "mug" in fields["categories"]["items"]["enum"]
    assert "ddim" in fields["scheduler"]["enum"] and fields["scheduler"]["default"] == "model default"
    assert fields["model"]["enum"] == ["shipped"] and fields["policy"]["enum"] == ["default", "production"]
    assert not {"model_path", "policy_file", "thresholds_file"} & set(fields)
    # Plain inputs, no "type | None" switches.
    assert not [name for name, f in fields.items() if "anyOf" in f or f.get("type") == "null"], fields
    # The nightly's fields are the nightly's own: same limits, defaults and words.
    nightly = parameter_schema(load_entrypoint("flows/nightly.py:nightly_campaign")).model_dump()["properties"]
    shared = set(fields) - {"start_date", "end_date"}
    assert {k: {**fields[k], "position": 0} for k in shared} == {k: {**nightly[k], "position": 0} for k in shared}


@pytest.mark.parametrize("entrypoint", ["flows/nightly.py:nightly_campaign", "flows/backfill.py:backfill"])
def test_no_date_is_frozen_into_a_form(entrypoint):
    # The schema a deployment stores: were a date computed at import or deploy, it would be here.
    text = str(parameter_schema(load_entrypoint(entrypoint)).model_dump())
    assert today().isoformat() not in text and (today() - dt.timedelta(days=1)).isoformat() not in text
    schema = parameter_schema(load_entrypoint(entrypoint)).model_dump()
    dates = [field for field in schema["properties"].values() if field.get("format") == "date"]
    # No default at all, not even null (the UI refuses a null date), and not required: left empty,
    # the run's parameters leave it out and the flow takes today when the run starts.
    assert dates and not [d for d in dates if "default" in d] and not schema["required"]


@pytest.mark.parametrize(
    "values, error",
    [
        ({"start_date": "2026-01-03", "end_date": "2026-01-01"}, "before start_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-03-01"}, f"at most {MAX_BACKFILL_DAYS} days"),
        ({"categories": ["spaceship"]}, "Input should be"),
        ({"scheduler": "magic"}, "Input should be"),
        ({"steps": -1}, "greater than or equal to 0"),
        ({"model": "sdxl"}, "unknown model 'sdxl'; allowed: shipped"),
    ],
)
def test_bad_backfill_forms_are_refused_before_anything_runs(values, error):
    with pytest.raises(ValidationError, match=error):
        BackfillParams(**values)


def test_backfill_expands_to_one_nightly_per_date():
    params = BackfillParams(start_date=dt.date(2026, 2, 27), end_date=dt.date(2026, 3, 1), categories=[], skus=["A"], steps=4)
    nightly = [NightlyParams(**nightly_parameters(params, d)) for d in backfill_dates(params)]
    assert [n.run_date for n in nightly] == [dt.date(2026, 2, 27), dt.date(2026, 2, 28), dt.date(2026, 3, 1)]
    assert all(n.categories == [] and n.skus == ["A"] and n.steps == 4 for n in nightly)


def test_an_empty_backfill_range_is_today_when_the_run_starts():
    params = BackfillParams()
    assert backfill_dates(params) == [today()]
