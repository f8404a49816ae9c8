"""The one manifest-row builder: every column of the schema, values the schema accepts, nothing stored -> nulls."""

import json
import math

from catalog_concepts.storage.manifest import FIELD_DOCS, rows_to_table

from example_rows import example_judgement, example_row


def test_a_built_row_has_exactly_the_schemas_columns_and_commits():
    row = example_row()
    assert list(row) == list(FIELD_DOCS)
    table = rows_to_table([row, example_row(variant=1)])
    assert table.num_rows == 2 and table.column("asset_id")[0].as_py() != table.column("asset_id")[1].as_py()


def test_the_process_columns_are_filled_from_this_process():
    row = example_row()
    assert row["torch_version"].startswith("2.13.0") and row["diffusers_version"] and row["transformers_version"]
    assert row["worker_host"] and isinstance(row["worker_pid"], int)
    assert row["digital_source_type"].endswith("/trainedAlgorithmicMedia")


def test_an_unstored_image_has_null_object_columns():
    row = example_row(stored=None)
    assert [row[c] for c in ("s3_uri", "sha256", "bytes", "c2pa_manifest_label")] == [None] * 4


def test_non_finite_scores_are_left_out_and_policy_inputs_are_json_without_nan():
    judgement = example_judgement(scores={"a": 0.5, "b": math.nan, "c": None, "d": math.inf},
                                  policy_inputs={"scores.b": math.nan, "sku": "S"})
    row = example_row(judgement=judgement)
    assert row["scores"] == {"a": 0.5}
    assert json.loads(row["policy_inputs"]) == {"scores.b": None, "sku": "S"}
