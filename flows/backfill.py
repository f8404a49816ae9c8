"""The backfill flow: the nightly campaign once per date of a range, as subflows (the UI form a marketer fills)."""

import datetime as dt

from prefect import flow, get_run_logger
from prefect.utilities.hashing import file_hash
from prefect.utilities.urls import url_for
from pydantic import MISSING, Field, create_model, model_validator

from flows.flat_parameters import flat_parameters
from flows.nightly import nightly_campaign
from flows.params import NightlyParams, RunDay
from flows.resources import s3_settings
from tasks.report_tasks import manifest_decisions_task, publish_backfill_report

MAX_BACKFILL_DAYS = 31
# The nightly's fields a backfill form offers, in the form's order; their types, limits, defaults and
# descriptions are the nightly's own (flows/params.py). The others keep the nightly's defaults.
NIGHTLY_FIELDS = (
    "categories", "skus", "limit", "variants_per_sku", "model", "policy", "scheduler", "steps", "guidance_scale",
    "guidance_interval", "seed", "catalog_uri", "allow_sample_catalog", "bucket", "max_bad_fraction", "shard_workers",
)


def _check_range(params):
    days = (params.end_date - params.start_date).days + 1
    if days < 1:
        raise ValueError(f"end_date {params.end_date} is before start_date {params.start_date}")
    if days > MAX_BACKFILL_DAYS:
        raise ValueError(f"a backfill covers at most {MAX_BACKFILL_DAYS} days; got {days}")
    return params


BackfillParams = create_model(
    "BackfillParams",
    __doc__="What a backfill may choose: a date range, and the nightly's choices for every date of it.",
    __validators__={"check_range": model_validator(mode="after")(_check_range)},
    start_date=(RunDay, Field(MISSING, validate_default=True, title="First date",
                              description="First run date, UTC, inclusive (empty: today, when the run starts)")),
    end_date=(RunDay, Field(MISSING, validate_default=True, title="Last date",
                            description=f"Last run date, UTC, inclusive; at most {MAX_BACKFILL_DAYS} days (empty: today, when the run starts)")),
    **{name: (NightlyParams.model_fields[name].annotation, NightlyParams.model_fields[name]) for name in NIGHTLY_FIELDS},
)


def backfill_dates(params) -> list[dt.date]:
    """Every run date of the range, oldest first."""
    return [params.start_date + dt.timedelta(days=i) for i in range((params.end_date - params.start_date).days + 1)]


def nightly_parameters(params, run_date: dt.date) -> dict:
    """The nightly's flat parameters for one date of this backfill."""
    return {"run_date": run_date, **params.model_dump(include=set(NIGHTLY_FIELDS))}


# version: this file's hash, Prefect's default for a flow were its function not the flat-parameter wrapper
# (whose source file Prefect would hash instead).
@flow(name="backfill", version=file_hash(__file__), log_prints=False)
@flat_parameters(BackfillParams)
def backfill(params: BackfillParams) -> list[dict]:
    """Run the nightly campaign for each date of the range; one summary per date, failures included."""
    logger = get_run_logger()
    # 1. Expand the range into one nightly parameter set per date (validated before anything runs).
    per_date = [(day, nightly_parameters(params, day)) for day in backfill_dates(params)]
    logger.info("backfill of %d dates, %s .. %s", len(per_date), params.start_date, params.end_date)

    # 2. One subflow per date, oldest first; a failed date does not stop the others.
    summaries, failed = [], []
    for day, nightly in per_date:
        state = nightly_campaign(**nightly, return_state=True)
        date_run = _date_run(state.state_details.flow_run_id)
        if state.is_completed():
            summary = state.result()
            # 3. Counts for runs committed before (the nightly reports a committed run, new or not, itself).
            if "decisions" not in summary and summary.get("manifest_uri"):
                summary["decisions"] = manifest_decisions_task(s3_settings(nightly["bucket"] or None), summary["manifest_uri"])
            summaries.append({"run_date": day.isoformat(), **date_run, **summary})
        else:
            failed.append(day.isoformat())
            summaries.append({"run_date": day.isoformat(), **date_run, "status": "failed", "error": state.message})
            logger.error("backfill date %s failed: %s", day, state.message)

    # 4. The backfill's own artifacts: each date's run id, status, images by decision and contact
    #    sheet, so its run page tells the whole story (each date's details sit on its subflow run).
    publish_backfill_report(summaries, params.start_date.isoformat(), params.end_date.isoformat())

    # 5. Fail loudly when any date failed, after every date had its chance.
    if failed:
        raise RuntimeError(f"backfill: {len(failed)} of {len(per_date)} dates failed: {', '.join(failed)}")
    return summaries


def _date_run(flow_run_id) -> dict:
    """The date's subflow run: its id, and its UI page when the API has a UI."""
    if flow_run_id is None:
        return {}
    url = url_for("flow-run", obj_id=str(flow_run_id))
    return {"flow_run_id": str(flow_run_id), **({"flow_run_url": url} if url else {})}
