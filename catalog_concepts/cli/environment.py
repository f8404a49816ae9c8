"""The environment every command sets up before Prefect is imported: state folders, offline switches, embedded S3.

Prefect reads its settings once, when it is first imported, so nothing here imports it.
"""

import os

import typer

from catalog_concepts.local_services.s3_server import find_running, start_local_s3
from flows.resources import state_dir


def quiet_prefect_home() -> None:
    """Keep Prefect's local database in our state folder unless the user chose one; stay offline."""
    os.environ.setdefault("PREFECT_HOME", str(state_dir() / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_embedded_s3(bucket: str) -> None:
    """Start (or reuse) the embedded S3 and point this process's S3 settings at it."""
    data_dir = state_dir() / "s3"
    local = find_running(data_dir) or start_local_s3(data_dir)
    os.environ["CONCEPTS_S3_ENDPOINT"] = local.endpoint_url
    os.environ["CONCEPTS_S3_BUCKET"] = bucket
    os.environ["AWS_ACCESS_KEY_ID"] = local.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = local.secret_key
    typer.echo(f"embedded S3: {local.endpoint_url} (pid {local.pid}, data in {data_dir})")
