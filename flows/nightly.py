"""The nightly campaign flow: catalog -> prompts -> images -> scores -> policy -> S3 -> manifest."""

import hashlib
from collections import Counter
from pathlib import Path

import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from prefect.utilities.hashing import file_hash

from catalog.content_digest import catalog_content_sha256
from catalog.schema import catalog_row_hash
from catalog.validate import CatalogRejectedError
from catalog_concepts.engine.generate import SamplingSettings
from catalog_concepts.engine.guidance import parse_interval
from catalog_concepts.engine.load import read_defaults, weights_sha256
from catalog_concepts.prompts.requests import plan_images, shard
from catalog_concepts.provenance.precommit import ImagesNotVerifiedError, PrecommitVerification, not_verified_message
from catalog_concepts.provenance.verify import RunNotIntactError, not_intact_message
from catalog_concepts.reports.contact_sheet import DEFAULT_MAX_THUMBNAILS, thumbnail_order, thumbnail_rank
from catalog_concepts.reports.progress import terminal_bar
from catalog_concepts.scoring.select import DEFAULT_SELECTION_PATH
from catalog_concepts.scoring.thresholds import DEFAULT_THRESHOLDS_PATH
from catalog_concepts.shards.shard import RunSpec
from catalog_concepts.shards.stage_clock import StageClock, add_seconds
from catalog_concepts.storage.bucket import ensure_bucket
from catalog_concepts.storage.keys import manifest_key, quarantine_key
from catalog_concepts.storage.lease import LeaseKeeper
from catalog_concepts.storage.manifest import manifest_exists
from catalog_concepts.storage.settings import boto3_client
from flows.fanout import run_on_fleet
from flows.flat_parameters import flat_parameters
from flows.params import MODEL_DEFAULT, REGISTRY, NightlyParams, derive_run_id
from flows.registry import DEFAULT_MODEL, locate
from flows.resources import (
    SAMPLE_CATALOG,
    default_catalog_uri,
    default_model_dir,
    report_link_seconds,
    s3_settings,
    scorer_models,
    signing_paths,
    trust_anchor_pem,
)
from tasks.catalog_tasks import read_catalog_task, validate_catalog_task, write_quarantine_task
from tasks.manifest_tasks import commit_manifest_task, confirm_objects_task, verify_run_task
from tasks.report_tasks import publish_run_report_task, report_from_manifest_task, start_progress, update_progress
from tasks.shard_tasks import render_shard_task


# version: this file's hash, Prefect's default for a flow were its function not the flat-parameter wrapper
# (whose source file Prefect would hash instead).
@flow(name="nightly_campaign", version=file_hash(__file__), task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
@flat_parameters(NightlyParams)
def nightly_campaign(params: NightlyParams) -> dict:
    """Turn catalog rows into labelled, scored, routed concept images and commit their manifest."""
    logger = get_run_logger()
    # Wall seconds per step, returned in the summary; what no step covers is Prefect's own time.
    clock = StageClock()

    # 1. Resolve where data goes and what the run depends on, by content: the model's weights
    #    digest, the policy's and thresholds' digests, the sampler the model's defaults resolve to.
    #    The shipped sample catalog is refused unless asked for: a deployment whose catalog was
    #    never configured must not quietly publish 58 demo rows as a night's work.
    catalog_uri = params.catalog_uri or default_catalog_uri()
    refuse_sample_catalog(catalog_uri, params.allow_sample_catalog)
    s3 = s3_settings(params.bucket or None)
    ensure_bucket(s3)
    client = boto3_client(s3)
    model_dir = str(default_model_dir()) if params.model == DEFAULT_MODEL else locate(params.model, REGISTRY.models)
    policy_file = locate(params.policy, REGISTRY.policies)
    thresholds_file = params.thresholds_file or None
    sampling = _sampling(params, read_defaults(model_dir))
    weights = weights_sha256(Path(model_dir))
    clock.lap("resolve")

    # 2. Read the catalog; the digest of the rows read (after filters) names the run, not the path.
    table = read_catalog_task(catalog_uri, s3, params.limit or None, params.skus or None, params.categories or None)
    clock.lap("catalog_read")
    run_id = derive_run_id(params, {
        "catalog_sha256": catalog_content_sha256(table), "weights_sha256": weights, "sampling": _sampling_identity(sampling),
        **_config_digests(policy_file, thresholds_file), "scorer_models": repr(scorer_models()),
    })
    run_date = params.run_date.isoformat()
    manifest = manifest_key(run_date, run_id)
    summary = {"run_id": run_id, "bucket": s3.bucket, "manifest_uri": f"s3://{s3.bucket}/{manifest}", "model_dir": model_dir}
    clock.lap("run_id")

    # 3. Take the run's lease: a second process with the same run id stops here at once, not after
    #    generating everything. The lease is renewed in the background and released at the end.
    with LeaseKeeper(client, s3.bucket, run_id) as lease:
        clock.lap("lease")
        # 4. A committed run is never redone: it is verified again, and its report written if missing.
        if manifest_exists(client, s3.bucket, manifest):
            verified = _verify_or_fail(s3, run_id, manifest, summary["manifest_uri"])
            logger.info("run %s is already committed at %s; %s", run_id, summary["manifest_uri"], verified["summary"])
            clock.lap("verification")
            summary.update(report_from_manifest_task(s3, summary["manifest_uri"], link_seconds=report_link_seconds()))
            clock.lap("report")
            return {**summary, "status": "already_committed", "images": 0, "quarantined": 0, "verified": verified["summary"],
                    "stage_seconds": clock.seconds}

        # 5. Validate the catalog; bad rows are quarantined with reasons, not dropped.
        try:
            validation = validate_catalog_task(table, params.max_bad_fraction)
        except CatalogRejectedError as error:
            # Keep the evidence: the quarantine says row by row what to fix before the rerun.
            if error.result.quarantined.num_rows:
                uri = write_quarantine_task(s3, quarantine_key(run_date, run_id), error.result.quarantined)
                logger.error("catalog rejected, nothing generated; quarantined rows with reasons at %s", uri)
            raise
        clock.lap("validation")
        logger.info("catalog: %d rows checked, %d good, %d quarantined",
                    validation.checked, validation.good.num_rows, validation.quarantined.num_rows)

        # 6. Build prompts, seeds and asset ids; split into shards of whole SKUs.
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
            model_dir=model_dir, weights_sha256=weights, device=params.device, dtype="auto", sampling=sampling,
            batch_size=params.batch_size, policy_path=policy_file, thresholds_path=thresholds_file,
            **signing_paths(),
            scorer_models=scorer_models(),
        )
        logger.info("run %s: %d images in %d shards (%s, %d steps, w=%.2f, guidance at sigma in %s)",
                    run_id, len(planned), len(shards), sampling.scheduler, sampling.steps, sampling.guidance_scale,
                    f"({sampling.guidance_interval}]" if sampling.guidance_interval else "every step")
        clock.lap("planning")

        # 7. Generate, score, route and publish each shard (one task per shard, not per image), here or
        #    on the fleet's shard workers. A shard is skipped only when S3 holds its staged rows and
        #    every object they name. Each shard's stored images are re-downloaded and verified (digest,
        #    XMP, C2PA) as soon as the shard is done, beside the shards still running.
        #    Large arguments (a shard's requests, the night's rows) are quote()d: Prefect would otherwise walk
        #    every value looking for futures, 1.3 s for 1,440 manifest rows against 0.08 s quoted.
        #    Progress moves per decoded batch (the artifact at most every few seconds), not per shard;
        #    the bar closes on failure too, so an error line never starts after a half-drawn bar.
        with PrecommitVerification(s3, summary["manifest_uri"], trust_anchor_pem=trust_anchor_pem(),
                                   keep_rank=thumbnail_rank, keep_max=DEFAULT_MAX_THUMBNAILS) as verifier:
            with terminal_bar(len(planned)) as progress:
                progress_artifact = start_progress(len(planned), bar=progress)
                if params.shard_workers:
                    outcomes = run_on_fleet(
                        spec, shards, s3, workers=params.shard_workers, deployment=params.shard_worker_deployment, logger=logger,
                        stall_seconds=params.shard_timeout_minutes * 60,
                        on_progress=lambda images: update_progress(progress_artifact, images, len(planned)),
                        on_shard=lambda outcome: verifier.add(outcome.rows),
                    )
                else:
                    outcomes, done = [], 0
                    futures = [render_shard_task.submit(spec, i, quote(images), s3, progress_artifact) for i, images in enumerate(shards)]
                    for future in as_completed(futures):
                        outcome = future.result()
                        outcomes.append(outcome)
                        verifier.add(outcome.rows)
                        decisions = Counter(row["decision"] for row in outcome.rows)
                        if outcome.stale:
                            logger.warning("shard %d: staged rows named %d missing or changed objects (first: %s); made it again",
                                           outcome.index, len(outcome.stale), outcome.stale[0])
                        logger.info("shard %d %s: %d images %s",
                                    outcome.index, "resumed" if outcome.resumed else "done", len(outcome.rows), dict(decisions))
                        done += len(outcome.rows)
                        update_progress(progress_artifact, done, len(planned))
            clock.lap("shards")

            # 8. Every image stored must verify before the manifest names it: a run that does not is never committed.
            checked = verifier.result()
            if not checked.ok:
                raise ImagesNotVerifiedError(not_verified_message(run_id, checked.summary(), checked.failures))
            clock.lap("verification")

        # 9. Commit the manifest: written last, after every image it lists is stored and verified, and
        #    only while this process still holds the run.
        lease.check()
        rows = [row for outcome in sorted(outcomes, key=lambda o: o.index) for row in outcome.rows]
        committed = commit_manifest_task(s3, manifest, quote(rows))
        decisions = Counter(row["decision"] for row in rows)
        clock.lap("commit")

        # 10. Confirm what the manifest names is still what was verified: one LIST per prefix (ETag and size),
        #     since objects are written create-only. A manifest another process committed is verified in full.
        if committed:
            unconfirmed = confirm_objects_task(s3, quote(rows), {check.asset_id: check.etag for check in checked.rows})
            if unconfirmed:
                raise RunNotIntactError(not_intact_message(run_id, summary["manifest_uri"], f"{len(unconfirmed)} of "
                                                           f"{len(checked.rows)} images changed or gone after they verified", unconfirmed))
            verified = {"summary": f"{checked.summary()}; verified before the commit, every object confirmed unchanged after it",
                        "kept": checked.kept}
        else:
            verified = _verify_or_fail(s3, run_id, manifest, summary["manifest_uri"], keep=thumbnail_order(rows, DEFAULT_MAX_THUMBNAILS))
        clock.lap("confirmation")
        logger.info("run %s: %s", run_id, verified["summary"])
        logger.info("run %s %s: %d images %s", run_id, "committed" if committed else "was already committed", len(rows), dict(decisions))

    # 11. Report: contact sheet beside the manifest; decision/score tables and a link to it as artifacts.
    #     A report that fails here is written by the next rerun (step 4), so a commit never lacks one for good.
    clock.lap("lease")  # its release
    summary.update(publish_run_report_task(s3, run_date, run_id, quote(rows), {}, summary["manifest_uri"], quote(verified["kept"]),
                                           link_seconds=report_link_seconds()))
    clock.lap("report")
    return {
        **summary,
        "status": "committed" if committed else "already_committed",
        "images": len(rows),
        "shards": len(shards),
        "resumed_shards": sum(outcome.resumed for outcome in outcomes),
        "remade_shards": sum(bool(outcome.stale) for outcome in outcomes),
        "decisions": dict(decisions),
        "quarantined": quarantined.num_rows,
        "images_prefix": f"s3://{s3.bucket}/images/run={run_id}/",
        "review_prefix": f"s3://{s3.bucket}/review/run={run_id}/",
        "verified": verified["summary"],
        "stage_seconds": clock.seconds,
        # Summed over shards: with shards in flight side by side these add up to more than "shards" above.
        "shard_seconds": add_seconds(outcome.seconds for outcome in outcomes),
    }


def _verify_or_fail(s3, run_id: str, manifest: str, manifest_uri: str, keep: frozenset[str] = frozenset()) -> dict:
    """Verify every image the committed manifest names (keeping the bytes of keep); a run that does not verify fails loudly."""
    verified = verify_run_task(s3, manifest, trust_anchor_pem(), frozenset(keep))
    if not verified["ok"]:
        raise RunNotIntactError(not_intact_message(run_id, manifest_uri, verified["summary"], verified["failures"]))
    return verified


def refuse_sample_catalog(catalog_uri: str, allowed: bool) -> None:
    """Fail unless the catalog is not the shipped sample or the sample was asked for."""
    if not allowed and not catalog_uri.startswith("s3://") and Path(catalog_uri).resolve() == SAMPLE_CATALOG.resolve():
        raise ValueError(
            "the catalog is the shipped 58-row sample (catalog_uri is empty or names it): set catalog_uri "
            "(for a deployment, the Prefect Variable concepts_catalog_uri, then deploy again), or set "
            "allow_sample_catalog to run on the sample on purpose"
        )


def _config_digests(policy_file: str, thresholds_file: str | None) -> dict:
    """SHA-256 of the files that decide where images go: policy, thresholds, selection (packaged defaults when None)."""
    files = {
        "policy_sha256": Path(policy_file),
        "thresholds_sha256": Path(thresholds_file) if thresholds_file else DEFAULT_THRESHOLDS_PATH,
        "selection_sha256": DEFAULT_SELECTION_PATH,
    }
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def _sampling(params: NightlyParams, defaults: dict) -> SamplingSettings:
    """Explicit parameters win; otherwise (the form's "model default", 0) the model folder's measured defaults."""
    chosen = {"scheduler": None if params.scheduler == MODEL_DEFAULT else params.scheduler,
              "steps": params.steps or None, "guidance_scale": params.guidance_scale or None}
    missing = [k for k in ("scheduler", "steps", "guidance_scale", "width", "height") if chosen.get(k) is None and k not in defaults]
    if missing:
        raise ValueError(f"the model folder has no default for {', '.join(missing)}; pass them as parameters")
    # The run's interval, else the model folder's measured one, else guidance at every step.
    interval = parse_interval(params.guidance_interval or defaults.get("guidance_interval") or "all")
    return SamplingSettings(
        guidance_interval=None if interval is None else interval.text(),
        scheduler=chosen["scheduler"] or defaults["scheduler"],
        steps=params.steps or int(defaults["steps"]),
        guidance_scale=params.guidance_scale or float(defaults["guidance_scale"]),
        width=int(defaults["width"]),
        height=int(defaults["height"]),
        max_sequence_length=defaults.get("max_sequence_length"),
    )


def _sampling_identity(sampling: SamplingSettings) -> dict:
    """The sampling settings as the run id covers them: an unset guidance interval is left out, so runs
    made before intervals existed keep their ids."""
    fields = dict(sampling.__dict__)
    if fields["guidance_interval"] is None:
        del fields["guidance_interval"]
    return fields


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

