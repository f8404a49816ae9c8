"""`catalog-concepts ops blocks ...`: the S3 credentials as prefect-aws blocks on the Prefect server."""

import os

import typer

from catalog_concepts.storage.settings import ENV_ACCESS_KEY, ENV_BUCKET, ENV_ENDPOINT, ENV_REGION, ENV_SECRET_KEY, resolve_s3_settings

app = typer.Typer(help="S3 credentials as Prefect blocks (prefect-aws AWS Credentials + S3 Bucket).", no_args_is_help=True)

# infra/prefect.yaml's deployments name the first (CONCEPTS_S3_BLOCK).
DEFAULT_BUCKET_BLOCK = "concepts-s3"
DEFAULT_CREDENTIALS_BLOCK = "concepts-aws"


@app.command("create")
def create(
    endpoint_url: str | None = typer.Option(None, envvar=ENV_ENDPOINT, help="S3 endpoint for SeaweedFS/MinIO/R2 (unset: AWS S3)"),
    bucket: str | None = typer.Option(None, envvar=ENV_BUCKET, help="Bucket the flows write to"),
    access_key_id: str | None = typer.Option(None, envvar=ENV_ACCESS_KEY, help="Access key id"),
    # No flag for the secret: a flag would leave it in the shell history and in `ps`.
    region: str | None = typer.Option(None, envvar=ENV_REGION, help="Region (default us-east-1)"),
    bucket_block: str = typer.Option(DEFAULT_BUCKET_BLOCK, help="Name of the S3 Bucket block (what CONCEPTS_S3_BLOCK names)"),
    credentials_block: str = typer.Option(DEFAULT_CREDENTIALS_BLOCK, help="Name of the AWS Credentials block it references"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace blocks of these names that hold other settings"),
) -> None:
    """Save the S3 endpoint, bucket and keys as two blocks on the server in $PREFECT_API_URL.

    Values come from the flags or from CONCEPTS_S3_ENDPOINT, CONCEPTS_S3_BUCKET, AWS_ACCESS_KEY_ID,
    AWS_REGION; the secret key only from AWS_SECRET_ACCESS_KEY. Running it again with the same values
    changes nothing. It prints the block names, never a key.
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise typer.BadParameter("set PREFECT_API_URL to your Prefect server's API: without it the blocks "
                                 "would go to a temporary local server and no worker would find them")
    values = {ENV_ENDPOINT: endpoint_url, ENV_BUCKET: bucket, ENV_ACCESS_KEY: access_key_id,
              ENV_SECRET_KEY: os.environ.get(ENV_SECRET_KEY), ENV_REGION: region}
    settings = resolve_s3_settings({k: v for k, v in values.items() if v is not None})
    from flows.s3_blocks import save_s3_blocks  # imports prefect: after the checks, so --help stays fast

    saved = save_s3_blocks(settings, bucket_block=bucket_block, credentials_block=credentials_block, overwrite=overwrite)
    where = settings.endpoint_url or "AWS S3"
    verb = "saved" if saved.changed else "unchanged"
    typer.echo(f"{verb}: S3 Bucket block {saved.bucket_block!r} (bucket {settings.bucket} at {where}) "
               f"-> AWS Credentials block {saved.credentials_block!r} (keys stored as block secrets)")
    typer.echo(f"deployments name it with CONCEPTS_S3_BLOCK={saved.bucket_block}")
