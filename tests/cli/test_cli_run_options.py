"""`run` and `demo` take their defaults and help from NightlyParams: one source for the flow's parameters."""

import pytest
import typer

from catalog_concepts.cli.main import app
from flows.params import NightlyParams

COMMANDS = typer.main.get_command(app).commands
# option (click's parameter name) -> NightlyParams field; the rest of run's options are the command line's own.
RUN_OPTIONS = {
    "limit": "limit", "variants": "variants_per_sku", "model": "model", "scheduler": "scheduler", "steps": "steps",
    "guidance": "guidance_scale", "guidance_interval": "guidance_interval",
    "seed": "seed", "batch_size": "batch_size", "skus_per_shard": "skus_per_shard",
    "max_bad_fraction": "max_bad_fraction", "policy": "policy",
}


def _param(command: str, name: str):
    return next(p for p in COMMANDS[command].params if p.name == name)


@pytest.mark.parametrize(("option", "field"), sorted(RUN_OPTIONS.items()))
def test_run_option_defaults_are_the_flows(option: str, field: str) -> None:
    assert _param("run", option).default == NightlyParams.model_fields[field].default


@pytest.mark.parametrize(
    "option", ["limit", "steps", "guidance", "guidance_interval", "seed", "batch_size", "skus_per_shard", "max_bad_fraction", "variants"],
)
def test_run_option_help_is_the_fields_description(option: str) -> None:
    assert _param("run", option).help == NightlyParams.model_fields[RUN_OPTIONS[option]].description


def test_run_defaults_validate_as_the_flows_parameters() -> None:
    """What `run` passes when no option is given is a valid NightlyParams (the sample catalog allowed, as run says)."""
    given = {field: _param("run", option).default for option, field in RUN_OPTIONS.items()}
    params = NightlyParams(**given, run_date=_param("run", "run_date").default, catalog_uri=_param("run", "catalog").default,
                           allow_sample_catalog=True)
    left_out = {"run_date", "allow_sample_catalog"}
    assert params.model_dump(exclude=left_out) == NightlyParams().model_dump(exclude=left_out)


def test_demo_variants_default_is_the_flows() -> None:
    assert _param("demo", "variants").default == NightlyParams.model_fields["variants_per_sku"].default
