"""S3 credentials the Prefect way: an `S3Bucket` block that references an `AwsCredentials` block.

`save_s3_blocks` writes them (`catalog-concepts ops blocks create`); `load_s3_block` reads them back as
the `S3Settings` every other module takes. The secret key lives only in the credentials block, where
the Prefect API stores it encrypted and the UI masks it; deployments carry the S3Bucket block's name.
"""

from dataclasses import dataclass

from prefect import get_client
from prefect.exceptions import ObjectNotFound
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters

from catalog_concepts.storage.settings import DEFAULT_REGION, S3Settings


class S3BlockError(ValueError):
    """An S3 block that is missing, unusable, or holds other settings than the ones being saved."""


@dataclass(frozen=True)
class SavedBlocks:
    """What `save_s3_blocks` did: the two block names and whether it wrote them."""

    bucket_block: str
    credentials_block: str
    changed: bool


def load_s3_block(name: str) -> S3Settings:
    """The S3Settings held by the S3Bucket block `name` and the AwsCredentials block it references."""
    if not _block_exists(name, S3Bucket):
        raise S3BlockError(
            f"no S3 Bucket block named {name!r} on the Prefect server: create it with "
            f"`catalog-concepts ops blocks create --bucket-block {name}`"
        )
    return block_settings(S3Bucket.load(name))


def block_settings(block: S3Bucket) -> S3Settings:
    """An S3Bucket block (with AwsCredentials) as S3Settings; S3Settings validates the values."""
    credentials = block.credentials
    if not isinstance(credentials, AwsCredentials):
        raise S3BlockError(f"S3 Bucket block {block.bucket_name!r}: use AWS Credentials (with endpoint_url for "
                           f"SeaweedFS/MinIO/R2), not {type(credentials).__name__}")
    if block.bucket_folder:
        # Our keys (images/, manifests/, leases/...) start at the bucket's root; a folder would split a
        # deployment's view of S3 from the CLI's.
        raise S3BlockError(f"S3 Bucket block {block.bucket_name!r} sets bucket_folder {block.bucket_folder!r}: "
                           f"leave it empty (use a bucket per environment)")
    secret = credentials.aws_secret_access_key
    return S3Settings(
        endpoint_url=credentials.aws_client_parameters.endpoint_url,
        bucket=block.bucket_name,
        access_key=credentials.aws_access_key_id,
        secret_key=secret.get_secret_value() if secret is not None else None,
        region=credentials.region_name or DEFAULT_REGION,
    )


def save_s3_blocks(settings: S3Settings, bucket_block: str, credentials_block: str, overwrite: bool = False) -> SavedBlocks:
    """Save `settings` as an AwsCredentials block and an S3Bucket block referencing it.

    Idempotent: blocks that already hold these settings are left as they are. Blocks that hold other
    settings are replaced only with overwrite=True.
    """
    if _block_exists(bucket_block, S3Bucket) or _block_exists(credentials_block, AwsCredentials):
        if _same_settings(bucket_block, settings):
            return SavedBlocks(bucket_block, credentials_block, changed=False)
        if not overwrite:
            raise S3BlockError(f"the blocks {bucket_block!r}/{credentials_block!r} already exist with other "
                               f"settings: pass --overwrite to replace them")
    credentials = AwsCredentials(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        # Path-style addressing: SeaweedFS, MinIO and most S3s on a custom endpoint have no
        # wildcard DNS for bucket hosts, so S3Bucket's own methods would fail without it.
        aws_client_parameters=AwsClientParameters(
            endpoint_url=settings.endpoint_url,
            config={"s3": {"addressing_style": "path"}} if settings.endpoint_url else None,
        ),
    )
    credentials.save(credentials_block, overwrite=True)
    # Saved after its credentials, the bucket block references that named block instead of a copy.
    S3Bucket(bucket_name=settings.bucket, credentials=credentials).save(bucket_block, overwrite=True)
    return SavedBlocks(bucket_block, credentials_block, changed=True)


def _block_exists(name: str, block_class: type) -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_block_document_by_name(name, block_class.get_block_type_slug(), include_secrets=False)
        except ObjectNotFound:
            return False
    return True


def _same_settings(bucket_block: str, settings: S3Settings) -> bool:
    """Whether the S3Bucket block exists and holds exactly `settings` (an unusable block does not)."""
    try:
        return block_settings(S3Bucket.load(bucket_block)) == settings
    except ValueError:
        return False
