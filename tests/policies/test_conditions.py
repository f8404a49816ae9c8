"""The condition language: every op on present, missing and invalid values; Kleene combinators."""

import math

import numpy as np
import pytest

from policies.conditions import AllOf, AnyOf, Leaf, Not, evaluate, parse_condition

ROW = {
    "asset_type": "lifestyle_scene",
    "category": "lamp",
    "color": "teal",
    "brand": "",
    "claims_real_sku": False,
    "has_logo": True,
    "variant": 2,
    "duplicate_of": -1,
    "technical_failures": [],
    "scores": {"sharpness": 120.0, "std_luma": math.nan},
}


@pytest.mark.parametrize(
    "leaf, expected",
    [
        (Leaf("asset_type", "eq", "lifestyle_scene"), True),
        (Leaf("asset_type", "eq", "campaign_background"), False),
        (Leaf("asset_type", "ne", "campaign_background"), True),
        (Leaf("asset_type", "in", ("lifestyle_scene", "product_detail_view")), True),
        (Leaf("asset_type", "not_in", ("lifestyle_scene",)), False),
        (Leaf("claims_real_sku", "false"), True),
        (Leaf("claims_real_sku", "true"), False),
        (Leaf("has_logo", "true"), True),
        (Leaf("has_logo", "eq", True), True),
        (Leaf("variant", "eq", 2), True),
        (Leaf("variant", "in", (0, 1)), False),
        (Leaf("scores.sharpness", "lt", 120.0), False),
        (Leaf("scores.sharpness", "le", 120.0), True),
        (Leaf("scores.sharpness", "gt", 100), True),
        (Leaf("scores.sharpness", "ge", 121), False),
        (Leaf("duplicate_of", "ge", 0), False),
        (Leaf("technical_failures", "empty"), True),
        (Leaf("technical_failures", "nonempty"), False),
        (Leaf("brand", "empty"), True),
        (Leaf("color", "nonempty"), True),
        (Leaf("has_logo", "missing"), False),
        (Leaf("description", "missing"), True),  # absent
        (Leaf("scores.std_luma", "missing"), True),  # NaN
        (Leaf("scores.mean_saturation", "missing"), True),  # absent inside scores
    ],
)
def test_ops_on_present_values(leaf, expected):
    outcome = evaluate(leaf, ROW)
    assert (outcome.value, outcome.problems) == (expected, ())


@pytest.mark.parametrize(
    "leaf, row, problem",
    [
        (Leaf("claims_real_sku", "true"), {}, "missing input: claims_real_sku"),
        (Leaf("claims_real_sku", "false"), {"claims_real_sku": None}, "missing input: claims_real_sku"),
        (Leaf("scores.std_luma", "gt", 2.0), {"scores": {"std_luma": math.nan}}, "missing input: scores.std_luma"),
        (Leaf("scores.std_luma", "lt", 2.0), {"scores": {"std_luma": np.float32("nan")}}, "missing input: scores.std_luma"),
        (Leaf("scores.std_luma", "lt", 2.0), {"scores": None}, "missing input: scores.std_luma"),
        (Leaf("scores.std_luma", "lt", 2.0), {"scores": {"std_luma": "low"}}, "invalid input: scores.std_luma='low' (expected number)"),
        (Leaf("scores.std_luma", "lt", 2.0), {"scores": {"std_luma": True}}, "invalid input"),
        (Leaf("has_logo", "true"), {"has_logo": 1}, "invalid input: has_logo=1 (expected bool)"),
        (Leaf("technical_failures", "nonempty"), {"technical_failures": "blank"}, "invalid input: technical_failures='blank' (expected list)"),
        (Leaf("asset_type", "ne", "lifestyle_scene"), {"asset_type": "Lifestyle_Scene"}, "invalid input: asset_type='Lifestyle_Scene' (allowed:"),
        (Leaf("duplicate_of", "ge", 0), {"duplicate_of": None}, "missing input: duplicate_of"),
    ],
)
def test_missing_or_invalid_inputs_are_unknown(leaf, row, problem):
    outcome = evaluate(leaf, row)
    assert outcome.value is None
    assert len(outcome.problems) == 1 and outcome.problems[0].startswith(problem)


@pytest.mark.parametrize(
    "row, value",
    [
        ({"has_logo": np.bool_(True)}, True),
        ({"scores": [("sharpness", 3.0)], "has_logo": False}, False),  # Parquet map read-back
        ({"scores.sharpness": 3.0, "has_logo": False}, False),  # flat dotted key
        ({"technical_failures": np.array(["blank"]), "has_logo": False}, True),
    ],
)
def test_row_shapes_from_arrow_and_pandas(row, value):
    condition = AnyOf((Leaf("has_logo", "true"), Leaf("technical_failures", "nonempty"), Leaf("scores.sharpness", "gt", 5)))
    outcome = evaluate(condition, {"technical_failures": [], "scores": {"sharpness": 1.0}, **row})
    assert outcome.value is value


T, F, U = Leaf("has_logo", "true"), Leaf("claims_real_sku", "true"), Leaf("description", "nonempty")
KLEENE_ROW = {"has_logo": True, "claims_real_sku": False}  # description absent -> U is unknown


@pytest.mark.parametrize(
    "condition, expected",
    [
        (AnyOf((T, U)), True),
        (AnyOf((F, U)), None),
        (AnyOf((F, F)), False),
        (AllOf((F, U)), False),
        (AllOf((T, U)), None),
        (AllOf((T, T)), True),
        (Not(U), None),
        (Not(T), False),
        (Not(AllOf((T, F))), True),
        (AnyOf((AllOf((T, U)), F)), None),
        (AllOf((AnyOf((T, U)), Not(F))), True),
    ],
)
def test_kleene_three_valued_logic(condition, expected):
    outcome = evaluate(condition, KLEENE_ROW)
    assert outcome.value is expected
    assert outcome.problems == (("missing input: description",) if expected is None else ())


def test_unknown_problems_are_collected_once():
    condition = AllOf((U, Leaf("brand", "empty"), U, Leaf("has_logo", "true")))
    assert evaluate(condition, {"has_logo": True}).problems == ("missing input: description", "missing input: brand")


def test_parse_builds_the_tree():
    raw = {"all": [{"field": "has_logo", "op": True}, {"not": {"field": "asset_type", "op": "in", "value": ["lifestyle_scene"]}}]}
    assert parse_condition(raw) == AllOf((Leaf("has_logo", "true"), Not(Leaf("asset_type", "in", ("lifestyle_scene",)))))
