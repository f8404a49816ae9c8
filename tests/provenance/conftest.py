"""Provenance fixtures: a tiny model, real generated images, and a run published like the worker does it.

`publish_run(s3, ...)` generates images with the tiny random-weights pipeline, labels them
with `catalog_concepts.provenance.label.label_image` (XMP first, C2PA last), PUTs them with the exactly-once
`put_many`, builds manifest rows only from the PUT results and commits the manifest: the
same steps, in the same order, as `catalog_concepts/shards/shard.py` with the labelling call integrated.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from pyarrow import fs

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
from catalog_concepts.engine.load import load_model, read_defaults
from catalog_concepts.engine.seeds import image_seed
from catalog_concepts.provenance.label import label_image, load_or_create_signer
from catalog_concepts.storage import keys
from catalog_concepts.storage.manifest import commit_manifest, rows_to_table
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem, boto3_client

from example_rows import example_judgement, example_making, example_origin, example_row, stored_at

RUN_DATE = "2026-11-26"
CATEGORIES = ("bag", "chair", "lamp")
SYSTEM = "catalog-concepts"


@dataclass(frozen=True)
class PublishedRun:
    """What publish_run stored: its run id, manifest key and rows, and the signer used."""

    run_id: str
    manifest_key: str
    rows: list[dict]
    signer: object


@pytest.fixture(scope="session")
def signer(tmp_path_factory):
    return load_or_create_signer(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="session")
def sampling(tiny_model_dir) -> SamplingSettings:
    defaults = read_defaults(tiny_model_dir)
    return SamplingSettings(
        scheduler="ddim", steps=3, guidance_scale=3.0, width=defaults["width"], height=defaults["height"],
        max_sequence_length=defaults["max_sequence_length"],
    )


@pytest.fixture(scope="session")
def generated(tiny_model_dir, sampling):
    """Six real tiny-model images (3 SKUs x 2 variants), generated once per session."""
    import torch

    torch.set_num_threads(1)
    run_id = "2026-11-26-provtest"
    requests = [
        ImageRequest(
            asset_id=keys.asset_id(run_id, f"SKU-{i}", v), sku=f"SKU-{i}", variant=v,
            seed=image_seed(7, f"SKU-{i}", v), prompt=f"a {CATEGORIES[i]} on a white background",
            negative_prompt="blurry",
        )
        for i in range(3)
        for v in range(2)
    ]
    model = load_model(tiny_model_dir, choose_placement("cpu", "float32"))
    return run_id, model, generate(model, requests, sampling, batch_size=6)


@pytest.fixture
def publish_run(generated, sampling, signer):
    """Publish the session's generated images into a bucket and commit their manifest."""

    def publish(s3: S3Settings, *, run_id: str | None = None, sign: bool = True, commit: bool = True,
                sampled: SamplingSettings | None = None) -> PublishedRun:
        """sampled: make the six images again with these settings (the session's are `sampling`)."""
        base_run_id, model, images = generated
        run_id = run_id or base_run_id
        used = sampled or sampling
        if sampled is not None:
            images = generate(model, [g.request for g in images], sampled, batch_size=len(images))
        client = boto3_client(s3)
        labelled, object_keys = [], []
        for index, g in enumerate(images):
            r = g.request
            asset = keys.asset_id(run_id, r.sku, r.variant)
            parameters = {
                "model_id": model.model_id, "weights_sha256": model.weights_sha256, "seed": r.seed,
                "steps": used.steps, "guidance_scale": used.guidance_scale, "scheduler": used.scheduler,
            }
            labelled.append(label_image(
                g.pixels, asset_id=asset, prompt=r.prompt, system=SYSTEM, system_version=model.model_id,
                parameters=parameters, signer=signer if sign else None,
            ))
            # Alternate between published and review prefixes, as the policy would.
            key_of = keys.image_key if index % 2 == 0 else keys.review_key
            object_keys.append(key_of(run_id, r.sku, r.variant))
        puts = put_many(client, s3.bucket, [
            (key, item.png, "image/png", {"asset-id": keys.asset_id(run_id, g.request.sku, g.request.variant)})
            for key, item, g in zip(object_keys, labelled, images, strict=True)
        ])
        created_at = dt.datetime.now(dt.UTC)
        rows = [
            _row(run_id, model, used, g, item, put, s3.bucket, created_at, CATEGORIES[int(g.request.sku[-1])])
            for g, item, put in zip(images, labelled, puts, strict=True)
        ]
        manifest = keys.manifest_key(RUN_DATE, run_id)
        if commit:
            assert commit_manifest(client, s3.bucket, manifest, rows_to_table(rows))
        return PublishedRun(run_id=run_id, manifest_key=manifest, rows=rows, signer=signer)

    return publish


def _row(run_id, model, sampling, g, item, put, bucket, created_at, category) -> dict:
    r = g.request
    made = example_making(
        model_id=model.model_id, weights_sha256=model.weights_sha256, pipeline_class=model.pipeline_class,
        scheduler_class=g.scheduler_class, scheduler_config=g.scheduler_config, steps=sampling.steps,
        guidance_scale=sampling.guidance_scale, guidance_interval=sampling.guidance_interval, dtype=model.placement.dtype,
        width=sampling.width, height=sampling.height,
        device_name=model.placement.device_name, denoiser_evals=g.denoiser_evals, compute_seconds=g.compute_seconds,
    )
    return example_row(
        origin=example_origin(run_id, r.sku, r.variant, dt.date.fromisoformat(RUN_DATE), prompt=r.prompt,
                              negative_prompt=r.negative_prompt, seed=r.seed, category=category),
        making=made,
        judgement=example_judgement("publish_labeled_preview" if put.key.startswith("images/") else "human_review",
                                    scores={"sharpness": float(np.mean(g.pixels))}),
        stored=stored_at(bucket, put, item.c2pa_manifest_label),
        created_at=created_at,
    )


# --- A cheap multi-night bucket for the readers and SQL: small stand-in bodies, real S3, real commits. ---

NIGHTS = ("2026-11-24", "2026-11-25", "2026-11-26")
# One night's candidates: three waiting for review, one published, one rejected by the policy, and one
# the policy sent to review that per-SKU selection dropped (kept = false, stored under rejected/).
NIGHT_DECISIONS = ("human_review", "human_review", "human_review", "publish_labeled_preview", "reject", "dropped")
_KEY_BY_DECISION = {"publish_labeled_preview": keys.image_key, "human_review": keys.review_key, "reject": keys.rejected_key,
                    "dropped": keys.rejected_key}
_STATUS_BY_DECISION = {"publish_labeled_preview": "not_required", "human_review": "pending", "reject": "not_applicable",
                       "dropped": "not_applicable"}


def night_row(run_id: str, run_date: str, sku: str, decision: str, put, bucket: str) -> dict:
    """A complete manifest row for a stored stand-in body (what the worker writes, values kept small)."""
    dropped = decision == "dropped"
    day = dt.date.fromisoformat(run_date)
    category = CATEGORIES[int(sku.rsplit("-", 1)[1]) % len(CATEGORIES)]
    judgement = example_judgement(
        "human_review" if dropped else decision, scores={"sharpness": 0.5}, phash="0" * 16,
        review_status=_STATUS_BY_DECISION[decision], kept=not dropped, drop_reason="below top-1 of SKU" if dropped else None,
    )
    return example_row(origin=example_origin(run_id, sku, 0, day, category=category, seed=1), judgement=judgement,
                       stored=stored_at(bucket, put), created_at=dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC))


def store_night(s3: S3Settings, run_date: str, run_id: str, decisions=NIGHT_DECISIONS) -> list[dict]:
    """PUT one stand-in body per decision (sku i, variant 0) and commit the run's manifest."""
    client = boto3_client(s3)
    plan = [(f"SKU-{run_id}-{i}", decision) for i, decision in enumerate(decisions)]
    puts = put_many(client, s3.bucket, [
        (_KEY_BY_DECISION[d](run_id, sku, 0), f"stand-in image {sku}".encode(), "image/png", {}) for sku, d in plan
    ])
    rows = [night_row(run_id, run_date, sku, d, put, s3.bucket) for (sku, d), put in zip(plan, puts, strict=True)]
    assert commit_manifest(client, s3.bucket, keys.manifest_key(run_date, run_id), rows_to_table(rows))
    return rows


@pytest.fixture
def nights_bucket(s3):
    """Three committed nights (6 candidates each) and a crashed, uncommitted run: run_id -> rows."""
    runs = {f"{night}-n": store_night(s3, night, f"{night}-n") for night in NIGHTS}
    client = boto3_client(s3)
    put_many(client, s3.bucket, [(keys.review_key("2026-11-26-crashed", "SKU-x", 0), b"x", "image/png", {})])
    return runs


class CountingHandler(fs.FileSystemHandler):
    """Delegates reads to a real pyarrow filesystem and counts the files opened, by path (read-only)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.opened: Counter[str] = Counter()

    def get_type_name(self): return "counting"
    def normalize_path(self, path): return self.inner.normalize_path(path)
    def get_file_info(self, paths): return self.inner.get_file_info(paths)
    def get_file_info_selector(self, selector): return self.inner.get_file_info(selector)
    def equals(self, other): return self is other

    def open_input_stream(self, path):
        self.opened[path] += 1
        return self.inner.open_input_stream(path)

    def open_input_file(self, path):
        self.opened[path] += 1
        return self.inner.open_input_file(path)

    def _read_only(self, *args, **kwargs):
        raise NotImplementedError("the counting filesystem only reads")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


@pytest.fixture
def counting_filesystem():
    """counting_filesystem(s3) -> (a pyarrow filesystem on the bucket's S3, its counter of opened paths)."""
    def make(s3: S3Settings):
        handler = CountingHandler(arrow_filesystem(s3))
        return fs.PyFileSystem(handler), handler.opened

    return make
