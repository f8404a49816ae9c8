"""Servers for local runs and tests: the embedded S3 (SeaweedFS) and a loopback Prefect server with its workers."""
