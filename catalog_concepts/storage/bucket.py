"""The destination bucket: created when it is missing (the embedded S3 starts empty; production buckets exist)."""

from catalog_concepts.storage.settings import S3Settings, boto3_client


def ensure_bucket(settings: S3Settings) -> None:
    """Create settings.bucket if it does not exist yet (idempotent)."""
    from botocore.exceptions import ClientError

    client = boto3_client(settings)
    try:
        client.head_bucket(Bucket=settings.bucket)
        return
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise
    kwargs: dict[str, object] = {"Bucket": settings.bucket}
    if settings.region != "us-east-1":  # AWS rejects an explicit us-east-1 constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise  # BucketAlreadyExists means someone else owns the name: fail loudly
