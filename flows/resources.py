"""The one place that chooses local or production resources: S3, state folder, default model and catalog."""

import os
from pathlib import Path

from catalog_concepts.assets import packaged, shipped_model_dir
from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS
from catalog_concepts.storage.settings import S3Settings, resolve_s3_settings

SHIPPED_MODEL_DIR = shipped_model_dir()
SAMPLE_CATALOG = packaged("catalog", "samples", "sample_catalog.parquet")
ENV_STATE_DIR = "CONCEPTS_HOME"
ENV_S3_BLOCK = "CONCEPTS_S3_BLOCK"
ENV_C2PA_CERT = "CONCEPTS_C2PA_CERT"  # production C2PA chain PEM (leaf first)
ENV_C2PA_KEY = "CONCEPTS_C2PA_KEY"  # its private key PEM
ENV_C2PA_TRUST_ANCHOR = "CONCEPTS_C2PA_TRUST_ANCHOR"  # root CA PEM the flow's verify requires
ENV_SAFETY_CHECKER = "CONCEPTS_SAFETY_CHECKER"
ENV_CLIP_MODEL = "CONCEPTS_CLIP_MODEL"
ENV_TRAIN_INDEX = "CONCEPTS_TRAIN_INDEX"
ENV_REPORT_LINK_HOURS = "CONCEPTS_REPORT_LINK_HOURS"  # lifetime of the contact-sheet links runs print


def state_dir() -> Path:
    """Local state (embedded S3 data, built models, signing keys): $CONCEPTS_HOME or ~/.catalog-concepts."""
    path = Path(os.environ.get(ENV_STATE_DIR, Path.home() / ".catalog-concepts")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def s3_settings(bucket: str | None = None) -> S3Settings:
    """S3 settings from the prefect-aws S3 Bucket block named by $CONCEPTS_S3_BLOCK, else from the environment.

    Deployments set only the block's name (infra/prefect.yaml); its AWS Credentials block holds the keys
    and the endpoint (`catalog-concepts ops blocks create` saves both). Without the variable, the
    CONCEPTS_S3_* / AWS_* variables (catalog_concepts.storage.settings) apply: the CLI, the local stack and the tests.
    """
    block_name = os.environ.get(ENV_S3_BLOCK, "").strip()
    if block_name:
        # Imported here, not at the top: the CLI imports this module before it sets PREFECT_HOME and
        # PREFECT_API_URL, and prefect reads its settings when first imported.
        from flows.s3_blocks import load_s3_block

        settings = load_s3_block(block_name)
    else:
        settings = resolve_s3_settings()
    if bucket:
        settings = S3Settings(
            endpoint_url=settings.endpoint_url,
            bucket=bucket,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            region=settings.region,
        )
    return settings


def report_link_seconds() -> int:
    """Lifetime of presigned contact-sheet links: $CONCEPTS_REPORT_LINK_HOURS (1..168), else 24 hours."""
    text = os.environ.get(ENV_REPORT_LINK_HOURS, "").strip()
    if not text:
        return DEFAULT_LINK_SECONDS
    if not text.isdigit() or not 1 <= int(text) * 3600 <= MAX_LINK_SECONDS:
        raise ValueError(f"{ENV_REPORT_LINK_HOURS}={text!r}: set a whole number of hours from 1 to "
                         f"{MAX_LINK_SECONDS // 3600} (S3 presigned links live at most 7 days), or unset it for 24")
    return int(text) * 3600


def default_model_dir() -> Path:
    """The shipped model when present; otherwise a tiny random-weights pipeline built once in the state folder."""
    if (SHIPPED_MODEL_DIR / "model_index.json").exists():
        return SHIPPED_MODEL_DIR
    from catalog_concepts.engine.tiny import build_tiny_pipeline

    tiny = state_dir() / "models" / "tiny-random-pixart"
    if not (tiny / "model_index.json").exists():
        build_tiny_pipeline(tiny)
    return tiny


def default_catalog_uri() -> str:
    """The small sample catalog shipped in the catalog package."""
    return str(SAMPLE_CATALOG)


def scorer_models():
    """Local model files for the model-backed scorers: the shipped classifier, plus any set in the environment.

    $CONCEPTS_SAFETY_CHECKER (StableDiffusionSafetyChecker folder), $CONCEPTS_CLIP_MODEL (CLIP folder),
    $CONCEPTS_TRAIN_INDEX (memorisation index .npz, catalog_concepts.scoring.memorisation.ensure_train_index). Unset: that
    scorer does not run and its scores are absent (the policy never reads absent as safe).
    """
    from catalog_concepts.scoring.suite import ScorerModels

    def path(name: str) -> Path | None:
        value = os.environ.get(name)
        return Path(value).expanduser() if value else None

    return ScorerModels(safety_checker=path(ENV_SAFETY_CHECKER), clip=path(ENV_CLIP_MODEL), train_index=path(ENV_TRAIN_INDEX))


def signing_paths() -> dict:
    """C2PA signing: production chain and key from $CONCEPTS_C2PA_CERT/_KEY, else a local chain in the state folder."""
    cert, key = os.environ.get(ENV_C2PA_CERT) or None, os.environ.get(ENV_C2PA_KEY) or None
    if (cert is None) != (key is None):
        raise ValueError(f"set both {ENV_C2PA_CERT} and {ENV_C2PA_KEY}, or neither (local chain)")
    return {"signing_dir": str(state_dir() / "signing"), "signing_cert": cert, "signing_key": key}


def trust_anchor_pem() -> bytes | None:
    """Root CA PEM published images must chain to ($CONCEPTS_C2PA_TRUST_ANCHOR); None checks signature validity only."""
    # Not the local root by default: a resumed run may hold shards signed on another machine's local chain.
    path = os.environ.get(ENV_C2PA_TRUST_ANCHOR)
    return Path(path).read_bytes() if path else None
