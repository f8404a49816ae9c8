"""The backfill flow: the nightly campaign once per date of a range, as subflows (the UI form a marketer fills)."""

import datetime as dt
from typing import Literal

from prefect import flow, get_run_logger
from prefect.utilities.urls import url_for
from pydantic import BaseModel, Field, model_validator

from catalog.vocabulary import CATEGORIES
from engine.schedulers import SCHEDULERS
from flows.nightly import nightly_campaign
from flows.params import NightlyParams
from flows.resources import s3_settings
from tasks.report_tasks import manifest_decisions_task, publish_backfill_report, report_from_manifest_task

MAX_BACKFILL_DAYS = 31
# Literal types render as drop-downs in the Prefect UI's run form.
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Scheduler = Literal[tuple(SCHEDULERS)]  # type: ignore[valid-type]


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class BackfillParams(BaseModel):
    """What a backfill may choose; None means the nightly run's default."""

    start_date: dt.date = Field(default_factory=_today, description="First run date (UTC), inclusive")
    end_date: dt.date = Field(default_factory=_today, description=f"Last run date (UTC), inclusive; at most {MAX_BACKFILL_DAYS} days")
    categories: list[Category] | None = Field(None, description="Only these categories (empty: all)")
    skus: list[str] | None = Field(None, description="Only these SKUs (empty: all)")
    limit: int | None = Field(None, ge=1, description="At most this many SKUs per date")
    variants_per_sku: int = Field(2, ge=1, le=16, description="Candidate images per SKU")
    model_path: str | None = Field(None, description="Diffusers pipeline folder (default: the shipped model)")
    scheduler: Scheduler | None = Field(None, description="Sampler (default: the model's)")
    steps: int | None = Field(None, ge=1, le=1000, description="Sampling steps (default: the model's)")
    guidance_scale: float | None = Field(None, ge=1.0, le=30.0, description="CFG scale, 1 = no guidance (default: the model's)")
    policy_file: str | None = Field(None, description="Review policy YAML (default: policies/default.yaml)")
    catalog_uri: str | None = Field(None, description="Catalog Parquet: local path or s3:// URI (default: the shipped sample)")
    seed: int = Field(0, ge=0, description="Run seed")
    max_bad_fraction: float = Field(0.05, ge=0.0, le=1.0, description="Fail a date when more catalog rows than this are bad")
    shard_workers: int = Field(0, ge=0, le=256, description="0: each date's shards in the backfill's process; N: N shard workers on the GPU pool per date")

    @model_validator(mode="after")
    def _check_range(self) -> "BackfillParams":
        days = (self.end_date - self.start_date).days + 1
        if days < 1:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        if days > MAX_BACKFILL_DAYS:
            raise ValueError(f"a backfill covers at most {MAX_BACKFILL_DAYS} days; got {days}")
        return self

    def dates(self) -> list[dt.date]:
        """Every run date of the range, oldest first."""
        return [self.start_date + dt.timedelta(days=i) for i in range((self.end_date - self.start_date).days + 1)]

    def nightly_params(self, run_date: dt.date) -> NightlyParams:
        """The nightly parameters of one date of this backfill."""
        chosen = self.model_dump(exclude={"start_date", "end_date"})
        # An empty list from the UI form means "no filter", as None does.
        chosen["categories"] = chosen["categories"] or None
        chosen["skus"] = chosen["skus"] or None
        return NightlyParams(run_date=run_date, **chosen)


@flow(name="backfill", log_prints=False)
def backfill(params: BackfillParams = BackfillParams()) -> list[dict]:
    """Run the nightly campaign for each date of the range; one summary per date, failures included."""
    logger = get_run_logger()
    # 1. Expand the range into one nightly parameter set per date (validated before anything runs).
    per_date = [(day, params.nightly_params(day)) for day in params.dates()]
    logger.info("backfill of %d dates, %s .. %s", len(per_date), params.start_date, params.end_date)

    # 2. One subflow per date, oldest first; a failed date does not stop the others.
    summaries, failed = [], []
    for day, nightly in per_date:
        state = nightly_campaign(nightly, return_state=True)
        date_run = _date_run(state.state_details.flow_run_id)
        if state.is_completed():
            summary = state.result()
            # 3. Reports for runs whose flow did not publish one itself; counts for runs committed before.
            if summary.get("status") == "committed" and "report_uri" not in summary:
                summary.update(report_from_manifest_task(s3_settings(nightly.bucket), summary["manifest_uri"]))
            if "decisions" not in summary and summary.get("manifest_uri"):
                summary["decisions"] = manifest_decisions_task(s3_settings(nightly.bucket), summary["manifest_uri"])
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
