"""The nightly campaign flow: catalog -> prompts -> images -> scores -> policy -> S3 -> manifest."""

import sys
from collections import Counter

import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from catalog.schema import catalog_row_hash
from catalog.validate import CatalogRejectedError
from engine.generate import SamplingSettings
from engine.load import read_defaults
from flows.params import NightlyParams, derive_run_id
from flows.resources import default_catalog_uri, default_model_dir, s3_settings, scorer_models, signing_paths, trust_anchor_pem
from prompts.requests import plan_images, shard
from storage.keys import manifest_key, quarantine_key
from storage.local_s3 import ensure_bucket
from storage.manifest import manifest_exists
from storage.settings import boto3_client
from tasks.catalog_tasks import read_catalog_task, validate_catalog_task, write_quarantine_task
from tasks.manifest_tasks import commit_manifest_task, verify_run_task
from tasks.report_tasks import publish_run_report_task, start_progress, update_progress
from tasks.shard_tasks import render_shard_task
from worker.shard import RunSpec


@flow(name="nightly_campaign", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
def nightly_campaign(params: NightlyParams = NightlyParams()) -> dict:
    """Turn catalog rows into labelled, scored, routed concept images and commit their manifest."""
    logger = get_run_logger()

    # 1. Resolve the run: where data goes, which model, how it samples, and the run id.
    s3 = s3_settings(params.bucket)
    ensure_bucket(s3)
    catalog_uri = params.catalog_uri or default_catalog_uri()
    model_dir = str(params.model_path or default_model_dir())
    sampling = _sampling(params, read_defaults(model_dir))
    run_id = derive_run_id(params, {"catalog_uri": catalog_uri, "model_dir": model_dir, "sampling": sampling.__dict__})
    run_date = params.run_date.isoformat()
    manifest = manifest_key(run_date, run_id)
    summary = {"run_id": run_id, "bucket": s3.bucket, "manifest_uri": f"s3://{s3.bucket}/{manifest}", "model_dir": model_dir}
    if manifest_exists(boto3_client(s3), s3.bucket, manifest):
        logger.info("run %s is already committed at %s; nothing to do", run_id, summary["manifest_uri"])
        return {**summary, "status": "already_committed", "images": 0, "quarantined": 0}

    # 2. Load and validate the catalog; bad rows are quarantined with reasons, not dropped.
    table = read_catalog_task(catalog_uri, s3, params.limit, params.skus, params.categories)
    try:
        validation = validate_catalog_task(table, params.max_bad_fraction)
    except CatalogRejectedError as error:
        # Keep the evidence: the quarantine says row by row what to fix before the rerun.
        uri = write_quarantine_task(s3, quarantine_key(run_date, run_id), error.result.quarantined)
        logger.error("catalog rejected, nothing generated; quarantined rows with reasons at %s", uri)
        raise
    logger.info("catalog: %d rows checked, %d good, %d quarantined", validation.checked, validation.good.num_rows, validation.quarantined.num_rows)

    # 3. Build prompts, seeds and asset ids; split into shards of whole SKUs.
    planned, plan_errors = plan_images(
        validation.good.to_pylist(), run_id=run_id, run_seed=params.seed,
        variants_per_sku=params.variants_per_sku, row_hash=catalog_row_hash,
    )
    quarantined = _with_plan_errors(validation, plan_errors)
    if quarantined.num_rows:
        summary["quarantine_uri"] = write_quarantine_task(s3, quarantine_key(run_date, run_id), quarantined)
    shards = shard(planned, params.skus_per_shard)
    spec = RunSpec(
        run_id=run_id, run_date=run_date, flow_run_id=flow_run.get_id(), catalog_uri=catalog_uri,
        model_dir=model_dir, device=params.device, dtype="auto", sampling=sampling,
        batch_size=params.batch_size, policy_path=params.policy_file, thresholds_path=params.thresholds_file,
        **signing_paths(),
        scorer_models=scorer_models(),
    )
    logger.info("run %s: %d images in %d shards (%s, %d steps, w=%.2f)", run_id, len(planned), len(shards), sampling.scheduler, sampling.steps, sampling.guidance_scale)

    # 4. Generate, score, route and publish each shard (one task per shard, not per image).
    futures = [render_shard_task.submit(spec, i, images, s3) for i, images in enumerate(shards)]
    outcomes = []
    progress = _progress_bar(len(planned))
    progress_artifact, done = start_progress(len(planned)), 0
    for future in as_completed(futures):
        outcome = future.result()
        outcomes.append(outcome)
        decisions = Counter(row["decision"] for row in outcome.rows)
        logger.info("shard %d %s: %d images %s", outcome.index, "resumed" if outcome.resumed else "done", len(outcome.rows), dict(decisions))
        progress.update(len(outcome.rows))
        done += len(outcome.rows)
        update_progress(progress_artifact, done, len(planned))
    progress.close()

    # 5. Commit the manifest: written last, after every image it lists is stored.
    rows = [row for outcome in sorted(outcomes, key=lambda o: o.index) for row in outcome.rows]
    committed = commit_manifest_task(s3, manifest, rows)
    decisions = Counter(row["decision"] for row in rows)

    # 6. Verify what was just published: re-download every image, check digest, XMP and C2PA.
    verified = verify_run_task(s3, manifest, trust_anchor_pem())
    if not verified["ok"]:
        raise RuntimeError(f"run {run_id}: published images failed verification: {verified['summary']}; first: {verified['failures'][:3]}")
    logger.info("run %s: %s", run_id, verified["summary"])
    logger.info("run %s %s: %d images %s", run_id, "committed" if committed else "was already committed", len(rows), dict(decisions))

    # 7. Report: contact sheet beside the manifest; decision/score tables and a 15-minute link as artifacts.
    summary.update(publish_run_report_task(s3, run_date, run_id, rows, {}, summary["manifest_uri"]))
    return {
        **summary,
        "status": "committed" if committed else "already_committed",
        "images": len(rows),
        "shards": len(shards),
        "resumed_shards": sum(outcome.resumed for outcome in outcomes),
        "decisions": dict(decisions),
        "quarantined": quarantined.num_rows,
        "images_prefix": f"s3://{s3.bucket}/images/run={run_id}/",
        "review_prefix": f"s3://{s3.bucket}/review/run={run_id}/",
        "verified": verified["summary"],
    }


def _sampling(params: NightlyParams, defaults: dict) -> SamplingSettings:
    """Explicit parameters win; otherwise the model folder's measured defaults."""
    missing = [k for k in ("scheduler", "steps", "guidance_scale", "width", "height") if getattr(params, k, None) is None and k not in defaults]
    if missing:
        raise ValueError(f"the model folder has no default for {', '.join(missing)}; pass them as parameters")
    return SamplingSettings(
        scheduler=params.scheduler or defaults["scheduler"],
        steps=params.steps or int(defaults["steps"]),
        guidance_scale=params.guidance_scale or float(defaults["guidance_scale"]),
        width=int(defaults["width"]),
        height=int(defaults["height"]),
        max_sequence_length=defaults.get("max_sequence_length"),
    )


def _with_plan_errors(validation, plan_errors) -> pa.Table:
    """Quarantined rows from validation plus good rows whose prompt could not be built."""
    if not plan_errors:
        return validation.quarantined
    reasons = {e.sku: e.reason for e in plan_errors}
    extra = [
        {**row, "reasons": [reasons[row["sku"]]], "row_index": None}
        for row in validation.good.to_pylist()
        if row["sku"] in reasons
    ]
    return pa.Table.from_pylist(validation.quarantined.to_pylist() + extra)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int):
    """A terminal progress bar when a person is watching; silent under workers and tests."""
    if not sys.stderr.isatty():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="images")
