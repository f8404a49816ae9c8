"""The nightly's parameters: plain defaults a form can show, dates resolved at run time, run ids that do not move."""

import datetime as dt
import re
from pathlib import Path

import pytest
from pydantic import MISSING, ValidationError

from flows.params import NightlyParams, derive_run_id, today
from flows.registry import DEFAULT_MODEL, DEFAULT_POLICY

RESOLVED = {"catalog_sha256": "c" * 64, "weights_sha256": "w" * 64, "sampling": {"scheduler": "ddim", "steps": 20}}


@pytest.mark.parametrize(
    "chosen, run_id",
    [
        # Computed by the code before the form had plain defaults (None for "the model's default"):
        # the same inputs keep naming the same run, so reruns of those runs still resume them.
        ({"run_date": dt.date(2026, 10, 1)}, "2026-10-01-c5dddef9035c"),
        ({"run_date": dt.date(2026, 10, 1), "scheduler": "euler", "steps": 7, "guidance_scale": 3.5, "seed": 5,
          "variants_per_sku": 3, "limit": 4, "skus": ["A"], "categories": ["mug"], "model": "/x", "policy": "/p",
          "bucket": "b", "device": "cpu", "batch_size": 4}, "2026-10-01-1b8c3aaaa077"),
        ({"run_date": dt.date(2026, 10, 1), "run_id": "explicit"}, "explicit"),
    ],
)
def test_run_ids_are_those_of_the_same_inputs_before(chosen, run_id):
    assert derive_run_id(NightlyParams(**chosen), RESOLVED) == run_id


def test_choices_that_resolve_to_content_do_not_name_the_run():
    base = derive_run_id(NightlyParams(run_date="2026-10-01"), RESOLVED)
    for other in ({"allow_sample_catalog": True}, {"model": "shipped"}, {"policy": "production"}, {"catalog_uri": "s3://b/c.parquet"}):
        assert derive_run_id(NightlyParams(run_date="2026-10-01", **other), RESOLVED) == base, other
    assert derive_run_id(NightlyParams(run_date="2026-10-01", steps=5), RESOLVED) != base


@pytest.mark.parametrize("empty", [MISSING, None, "", "today"])
def test_an_empty_run_date_is_today_when_the_parameters_are_read(empty):
    assert NightlyParams(run_date=empty).run_date == today()
    assert NightlyParams().run_date == today()


def test_defaults_are_plain_values_a_form_can_show():
    params = NightlyParams()
    assert (params.model, params.policy, params.scheduler) == (DEFAULT_MODEL, DEFAULT_POLICY, "model default")
    assert (params.limit, params.steps, params.guidance_scale, params.skus, params.categories) == (0, 0, 0.0, [], [])
    assert params.allow_sample_catalog is False and params.catalog_uri == ""
    # A missing Prefect Variable templates to "": the registry's default, not an unknown name.
    assert NightlyParams(model="", policy="").model_dump(include={"model", "policy"}) == {"model": DEFAULT_MODEL, "policy": DEFAULT_POLICY}


@pytest.mark.parametrize(
    "values, error",
    [
        ({"model": "sdxl"}, "unknown model 'sdxl'; allowed: shipped"),
        ({"policy": "lenient"}, "unknown policy 'lenient'; allowed: default, production"),
        ({"scheduler": "magic"}, "Input should be"),
        ({"categories": ["spaceship"]}, "Input should be"),
        ({"device": "tpu"}, "Input should be"),
        ({"guidance_scale": 0.5}, "0 \\(the model's default\\) or between 1 and 30"),
        ({"limit": -1}, "greater than or equal to 0"),
        ({"guidance_interval": "5,0"}, "0 <= sigma_low < sigma_high"),
        ({"guidance_interval": "noisy"}, "'all' or 'sigma_low,sigma_high'"),
    ],
)
def test_bad_choices_are_refused_naming_what_is_allowed(values, error):
    with pytest.raises(ValidationError, match=error):
        NightlyParams(**values)


def test_the_cli_and_tests_may_still_name_a_model_or_policy_by_path():
    params = NightlyParams(model="/models/tiny", policy="policies/production.yaml")
    assert (params.model, params.policy) == ("/models/tiny", "policies/production.yaml")


def test_no_default_is_computed_when_the_module_is_imported():
    # A default date would be frozen into a deployment's schema: the run date has none to freeze,
    # and no null either (the Prefect UI refuses a null date: "None is not of type 'string'").
    assert NightlyParams.model_fields["run_date"].default is MISSING
    assert all(f.default_factory is None for f in NightlyParams.model_fields.values())
    schema = NightlyParams.model_json_schema()
    assert schema["properties"]["run_date"] == {"type": "string", "format": "date", "title": "Run date",
                                                "description": NightlyParams.model_fields["run_date"].description}
    assert "run_date" not in schema.get("required", [])


def test_the_readme_table_lists_every_field_with_its_title():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Flow parameters"):]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section[: section.index("\n\n", section.index("| parameter"))], re.M)
    assert [(name, title.strip()) for name, title in rows] == [(n, f.title) for n, f in NightlyParams.model_fields.items()]


@pytest.mark.parametrize(("given", "kept"), [("", ""), ("ALL", "all"), ("0.30, 5.0", "0.3,5"), ("0,inf", "0,inf")])
def test_the_guidance_interval_is_kept_in_one_spelling(given, kept):
    assert NightlyParams(guidance_interval=given).guidance_interval == kept


def test_the_guidance_interval_names_the_run_through_the_resolved_sampling_only():
    """The parameter is left out of the run id; the sampling settings it resolves to (with the interval) are in."""
    base = derive_run_id(NightlyParams(run_date="2026-10-01"), RESOLVED)
    assert derive_run_id(NightlyParams(run_date="2026-10-01", guidance_interval="0,5"), RESOLVED) == base
    limited = {**RESOLVED, "sampling": {**RESOLVED["sampling"], "guidance_interval": "0,5"}}
    assert derive_run_id(NightlyParams(run_date="2026-10-01"), limited) != base
