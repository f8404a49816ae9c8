"""docs/review_log.md is generated from the review log's schema and the asset_status view, and must match them."""

import re
from pathlib import Path

from pyarrow import fs

from catalog_concepts.provenance.query import ASSET_STATUS_COLUMNS, ASSET_STATUS_SQL, ASSET_STATUSES, query_at
from catalog_concepts.provenance.review_log_doc import render_review_log_doc
from catalog_concepts.review.log import REVIEW_LOG_DOCS, REVIEW_LOG_SCHEMA

DOC = Path(__file__).resolve().parents[2] / "docs" / "review_log.md"


def test_docs_review_log_md_is_up_to_date():
    assert DOC.read_text() == render_review_log_doc(), "regenerate: python -m catalog_concepts.provenance.review_log_doc > docs/review_log.md"


def test_every_field_status_and_view_column_is_documented(tmp_path):
    assert REVIEW_LOG_SCHEMA.names == list(REVIEW_LOG_DOCS)
    text = render_review_log_doc()
    assert all(f"| `{name}` |" in text for name in REVIEW_LOG_SCHEMA.names)
    assert all(f"| `{status}` |" in text for status in ASSET_STATUSES)
    # The view's real columns (an empty local root: no files at all) are the documented ones, in order.
    columns = query_at(fs.LocalFileSystem(), str(tmp_path), "SELECT * FROM asset_status").column_names
    assert columns == list(ASSET_STATUS_COLUMNS)
    # Every status the view can produce is documented.
    produced = set(re.findall(r"THEN '(\w+)'|ELSE '(\w+)'", ASSET_STATUS_SQL.split("END AS status")[0]))
    assert {a or b for a, b in produced} == set(ASSET_STATUSES)
