"""One shard of a run, start to finish: generate, score, route, label, publish, stage its rows.

Images are scored and encoded in the process that generated them, so nothing is decoded
twice, and the shard's manifest rows are staged in S3 so a rerun never regenerates it.
"""

import datetime as dt
import hashlib
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import GeneratedImage, SamplingSettings, generate, pipeline_turn
from catalog_concepts.engine.load import LoadedModel, load_model
from catalog_concepts.engine.request_identity import request_sha256
from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.provenance.c2pa_sign import active_manifest_label
from catalog_concepts.provenance.label import LabelledImage, load_or_create_signer
from catalog_concepts.provenance.manifest_row import Judgement, Making, Origin, Stored, manifest_row
from catalog_concepts.scoring import duplicates, technical
from catalog_concepts.scoring.base import ScorerModels
from catalog_concepts.scoring.select import load_selection_config, select_variants
from catalog_concepts.scoring.suite import default_scorers, run_scorers
from catalog_concepts.scoring.thresholds import load_thresholds
from catalog_concepts.shards.finish import Finisher, finish_batch, image_context
from catalog_concepts.shards.stage_clock import StageClock
from catalog_concepts.storage import keys, staging
from catalog_concepts.storage.publish import IDENTITY_METADATA_KEY, put_many
from catalog_concepts.storage.settings import S3Settings, boto3_client
from policies.decide import Decision, decide
from policies.load import Policy, load_policy
from policies.routing import Route, route


@dataclass(frozen=True)
class RunSpec:
    """What every shard of one run shares."""

    run_id: str
    run_date: str
    flow_run_id: str | None
    catalog_uri: str
    model_dir: str
    weights_sha256: str  # of the weights the run was planned with; part of every image's request identity
    device: str
    dtype: str
    sampling: SamplingSettings
    batch_size: int
    policy_path: str | None = None
    thresholds_path: str | None = None
    put_threads: int = 8
    signing_dir: str | None = None  # local C2PA chain folder; None: images carry XMP only, no C2PA
    signing_cert: str | None = None  # production chain PEM (leaf first); with signing_key
    signing_key: str | None = None
    scorer_models: ScorerModels | None = None
    selection_path: str | None = None


@dataclass(frozen=True)
class ShardOutcome:
    """The manifest rows of one shard and whether they were made now or found staged."""

    index: int
    rows: list[dict]
    resumed: bool
    stale: tuple[str, ...] = ()  # why earlier staged rows were not trusted (their objects were gone or changed)
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage of this shard (StageClock)


def process_shard(spec: RunSpec, index: int, planned: Sequence[PlannedImage], s3: S3Settings) -> ShardOutcome:
    """Make, judge and publish one shard's images, or return its rows when S3 confirms an earlier attempt finished it."""
    clock = StageClock()
    client = boto3_client(s3)
    stage_key = staging.shard_key(spec.run_id, index, image_identities(spec, planned))
    # 0. A shard is done only when S3 says so: its staged rows AND every object they name, with the
    #    digests they name. Rows whose objects are gone (deleted, cleaned up, another bucket) are
    #    discarded and the shard is made again.
    staged = staging.read_rows(client, s3.bucket, stage_key)
    stale: list[str] = []
    if staged is not None:
        stale = staging.missing_objects(client, s3.bucket, staged)
        if not stale:
            clock.lap("resume_check")
            return ShardOutcome(index=index, rows=staged, resumed=True, seconds=clock.seconds)
        staging.discard(client, s3.bucket, stage_key)
    clock.lap("resume_check")

    # 1. Generate (the pipeline is loaded once per worker process and reused). Each decoded batch is
    #    scored (scorers that look at one image), hashed and labelled (XMP first, C2PA signed last).
    model = load_model(spec.model_dir, choose_placement(spec.device, spec.dtype))
    if model.weights_sha256 != spec.weights_sha256:
        raise RuntimeError(
            f"the weights in {spec.model_dir} changed during run {spec.run_id} (sha256 {model.weights_sha256[:12]}, "
            f"the run was planned with {spec.weights_sha256[:12]}); rerun: the new weights make a new run"
        )
    scorers = default_scorers(spec.scorer_models)
    signer = load_or_create_signer(spec.signing_dir, spec.signing_cert, spec.signing_key) if spec.signing_dir else None
    by_asset = {p.request.asset_id: p for p in planned}
    clock.lap("model_load")
    # On an accelerator, batches are finished on a second thread while the next batch generates, and
    # the next shard generates while this one is judged and published. On a CPU, work beside a
    # generation slows it more than it saves (2-core box: generation 5.6x slower while PUTs ran beside
    # it; batches finished beside it 19.0 s vs inline 18.1 s for 128 images), so there a shard holds
    # the pipeline from its first batch to its staged rows and finishes each batch inline.
    beside = model.on_accelerator
    with nullcontext() if beside else pipeline_turn():
        with Finisher(lambda batch: finish_batch(
            [by_asset[g.request.asset_id] for g in batch], batch, [s for s in scorers if not s.compares_images], signer,
            system_version=model.model_id, c2pa_parameters=lambda p: _c2pa_parameters(spec, model, p),
        ), background=beside) as finisher:
            generated = generate(model, [p.request for p in planned], spec.sampling, spec.batch_size, on_batch=finisher.add)
            finished = finisher.results()
        # The rest is waiting: for another shard's turn on the pipeline, or for the last batch's finishing.
        inline = {} if beside else finished.seconds
        clock.lap_parts({"generation": sum(g.compute_seconds for g in generated), **inline}, rest="waiting")

        # 2. Scores that compare images with each other see the whole shard (a shard holds whole SKUs).
        pixels = np.stack([g.pixels for g in generated])  # (N, H, W, 3) uint8
        tech_scores, scorer_versions = run_scorers(
            [s for s in scorers if s.compares_images], pixels, image_context(planned), scored=finished.scores
        )
        scorer_versions = {**finished.scorer_versions, **scorer_versions, "phash": duplicates.SCORER_VERSION}
        hashes, labelled = finished.hashes, finished.labelled
        thresholds = load_thresholds(spec.thresholds_path)
        duplicate_of = duplicates.duplicates_within_sku(
            [p.request.sku for p in planned], [p.request.variant for p in planned], hashes,
            thresholds["duplicates"]["within_sku_max_distance"],
        )
        clock.lap("scoring")

        # 3. Route every candidate through the review policy.
        policy = load_policy(spec.policy_path)
        # The model's card, not the catalog, says whether its training domain is closed (SAFE-002).
        closed_domain = model.defaults.get("closed_domain")
        judged, policy_rows = [], []
        for p, scores, dup in zip(planned, tech_scores, duplicate_of, strict=True):
            # Near-duplicates travel as duplicate_of; the policy decides what they cost.
            failures = technical.technical_failures(scores, thresholds, p.background)
            row = _policy_row(p, scores, failures, dup, closed_domain)
            policy_rows.append(row)
            judged.append((failures, decide(policy, row)))

        # 3b. Keep the best variants of each SKU (a shard holds whole SKUs); the rest are stored unpublished.
        selections = select_variants(
            [
                {"sku": p.request.sku, "variant": p.request.variant, "decision": d.action, "scores": s,
                 "technical_failures": f, "phash": h}
                for p, s, (f, d), h in zip(planned, tech_scores, judged, hashes, strict=True)
            ],
            keep=None,
            config=load_selection_config(spec.selection_path),
        )
        clock.lap("policy")

        # 4. Publish the labelled images (idempotent PUTs: a retry of the same bytes is a no-op) where
        #    policies/routing.py sends them.
        bodies = [item.png for item in labelled]
        routes = [route(decision.action, sel.kept) for (_, decision), sel in zip(judged, selections, strict=True)]
        object_keys = [keys.asset_key(r.area, spec.run_id, p.request.sku, p.request.variant) for r, p in zip(routes, planned, strict=True)]
        puts = put_many(
            client,
            s3.bucket,
            [
                (key, body, "image/png", {"asset-id": p.request.asset_id, IDENTITY_METADATA_KEY: _pixel_identity(p, g)})
                for key, body, p, g in zip(object_keys, bodies, planned, generated, strict=True)
            ],
            threads=spec.put_threads,
        )
        labelled = _as_stored(client, s3.bucket, puts, labelled)
        clock.lap("puts")

        # 5. Build the manifest rows from the successful PUTs and stage them.
        created_at = dt.datetime.now(dt.UTC)
        made = _making(model, spec.sampling)
        rows = [
            manifest_row(
                _origin(spec, p), made(g), _judgement(scores, scorer_versions, h, decision, r, policy, sel, policy_row),
                Stored(bucket=s3.bucket, key=put.key, sha256=put.sha256_hex, bytes=put.bytes, c2pa_manifest_label=item.c2pa_manifest_label),
                created_at,
            )
            for p, g, scores, (_, decision), r, put, h, sel, policy_row, item
            in zip(planned, generated, tech_scores, judged, routes, puts, hashes, selections, policy_rows, labelled, strict=True)
        ]
        staging.write_rows(client, s3.bucket, stage_key, rows)
        clock.lap("staging")
        # The finishing thread's seconds ran beside generation: they are reported, not added to its wall time.
        beside_seconds = finished.seconds if beside else {}
        seconds = {**clock.seconds, **{f"{stage} (beside generation)": s for stage, s in beside_seconds.items()}}
        return ShardOutcome(index=index, rows=rows, resumed=False, stale=tuple(stale), seconds=seconds)


def image_identities(spec: RunSpec, planned: Sequence[PlannedImage]) -> list[str]:
    """"<asset_id>:<request_sha256>" per image: where it goes and exactly what was asked of the model."""
    return [f"{p.request.asset_id}:{request_sha256(p.request, spec.sampling, spec.weights_sha256)}" for p in planned]


def _as_stored(client, bucket: str, puts, labelled: list[LabelledImage]) -> list[LabelledImage]:
    """The labels of what is really stored: a re-signed image accepted as an earlier stored copy
    (same pixels, another signature, e.g. after a crash between PUT and staging) keeps that copy's
    C2PA manifest label, so its manifest row verifies against the bytes in S3."""
    result = []
    for put, item in zip(puts, labelled, strict=True):
        if not put.by_identity:  # our own bytes are stored: nothing to read back
            result.append(item)
            continue
        stored = client.get_object(Bucket=bucket, Key=put.key)["Body"].read()
        if hashlib.sha256(stored).hexdigest() != put.sha256_hex:
            raise RuntimeError(f"s3://{bucket}/{put.key} changed while this shard read it back")
        label = active_manifest_label(stored) if item.c2pa_manifest_label is not None else None
        result.append(LabelledImage(png=stored, c2pa_manifest_label=label))
    return result


def _pixel_identity(p: PlannedImage, g: GeneratedImage) -> str:
    """What makes a regenerated image the same image: its asset id and exact pixels (not its signature)."""
    digest = hashlib.sha256(p.request.asset_id.encode())
    digest.update(g.pixels.tobytes())
    return digest.hexdigest()


def _policy_row(p: PlannedImage, scores: dict, failures: list[str], duplicate_of: int, closed_domain) -> dict:
    row = dict(p.attributes)
    row["sku"] = p.request.sku
    row["variant"] = p.request.variant
    row.update({f"scores.{name}": value for name, value in scores.items()})
    row["technical_failures"] = failures
    row["duplicate_of"] = duplicate_of
    row["model_closed_domain"] = closed_domain if isinstance(closed_domain, bool) else None
    return row


def _origin(spec: RunSpec, p: PlannedImage) -> Origin:
    return Origin(
        run_id=spec.run_id, flow_run_id=spec.flow_run_id, run_date=dt.date.fromisoformat(spec.run_date),
        sku=p.request.sku, variant=p.request.variant, catalog_row_hash=p.catalog_row_hash, catalog_uri=spec.catalog_uri,
        category=p.attributes.get("category"), prompt=p.request.prompt, negative_prompt=p.request.negative_prompt,
        template_id=p.template_id, template_version=p.template_version, seed=p.request.seed,
        request_sha256=request_sha256(p.request, spec.sampling, spec.weights_sha256),
    )


def _making(model: LoadedModel, sampling: SamplingSettings):
    """Per generated image, how this process's model made it."""
    def made(g: GeneratedImage) -> Making:
        return Making(
            model_id=model.model_id, weights_sha256=model.weights_sha256, pipeline_class=model.pipeline_class,
            scheduler_class=g.scheduler_class, scheduler_config=g.scheduler_config, steps=sampling.steps,
            guidance_scale=sampling.guidance_scale, guidance_interval=sampling.guidance_interval, dtype=model.placement.dtype,
            width=sampling.width, height=sampling.height,
            device_name=model.placement.device_name, denoiser_evals=g.denoiser_evals, compute_seconds=g.compute_seconds,
        )
    return made


def _judgement(scores: dict, scorer_versions: dict, phash: str, decision: Decision, destination: Route, policy: Policy,
               sel, policy_row: dict) -> Judgement:
    return Judgement(
        scores=scores, scorer_versions=scorer_versions, phash=phash, decision=decision.action, rule_ids=tuple(decision.rule_ids),
        decision_reasons=(*decision.reasons, *(f"audit rule {r} matched" for r in decision.audit_rule_ids)),
        policy_sha256=policy.sha256, review_status=destination.review_status, policy_inputs=policy_row,
        kept=sel.kept, selection_rank=sel.rank, selection_composite=sel.composite, drop_reason=sel.drop_reason,
    )


def _c2pa_parameters(spec: RunSpec, model: LoadedModel, p: PlannedImage) -> dict:
    """What the C2PA created action records: enough to regenerate the image."""
    return {
        "model_id": model.model_id, "weights_sha256": model.weights_sha256, "seed": p.request.seed,
        "steps": spec.sampling.steps, "guidance_scale": spec.sampling.guidance_scale, "scheduler": spec.sampling.scheduler,
        "width": spec.sampling.width, "height": spec.sampling.height, "dtype": model.placement.dtype,
        # Only when set, as in the request identity: an image guided at every step says nothing new.
        **({"guidance_interval": spec.sampling.guidance_interval} if spec.sampling.guidance_interval is not None else {}),
    }
