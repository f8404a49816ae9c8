"""Data only: the packaged sample catalog (a package so setuptools ships its *.parquet)."""
