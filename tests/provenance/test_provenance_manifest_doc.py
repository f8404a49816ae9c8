"""docs/manifest.md is generated from the pinned schema and must match it."""

from pathlib import Path

from catalog_concepts.provenance.manifest_doc import render_manifest_doc
from catalog_concepts.provenance.query import EXAMPLES
from catalog_concepts.storage.manifest import MANIFEST_SCHEMA

DOC = Path(__file__).resolve().parents[2] / "docs" / "manifest.md"


def test_docs_manifest_md_is_up_to_date():
    assert DOC.read_text() == render_manifest_doc(), "regenerate: python -m catalog_concepts.provenance.manifest_doc > docs/manifest.md"


def test_every_field_and_example_is_documented():
    text = render_manifest_doc()
    assert all(f"| `{name}` |" in text for name in MANIFEST_SCHEMA.names)
    assert all(f"### {name}" in text for name in EXAMPLES)
