"""A flow taking one model is called, validated and shown with the model's fields as flat parameters."""

import inspect
from typing import Literal

import pytest
from prefect import flow
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema
from pydantic import BaseModel, Field

from flows.flat_parameters import flat_parameters, flat_signature


class Choice(BaseModel):
    """Two fields, one constrained, one closed."""

    limit: int = Field(0, ge=0, description="At most this many (0: all)")
    colour: Literal["red", "blue"] = Field("red", title="Colour", description="Which colour")


@flow(name="flat-example")
@flat_parameters(Choice)
def example(params: Choice) -> dict:
    """Return what it was given."""
    return params.model_dump()


def test_the_signature_is_the_models_fields_as_keywords():
    signature = inspect.signature(example)
    assert list(signature.parameters) == ["limit", "colour"]
    assert {p.kind for p in signature.parameters.values()} == {inspect.Parameter.KEYWORD_ONLY}
    assert example.__doc__ == "Return what it was given." and example.name == "flat-example"


def test_the_form_has_titles_descriptions_limits_and_drop_downs():
    properties = parameter_schema(example).model_dump()["properties"]
    assert properties["limit"] == {"default": 0, "description": "At most this many (0: all)", "minimum": 0,
                                   "position": 0, "title": "Limit", "type": "integer"}
    assert properties["colour"]["enum"] == ["red", "blue"] and properties["colour"]["title"] == "Colour"


def test_prefect_validates_flat_values_as_a_deployment_run_sends_them():
    # `prefect deployment run --param limit=4` and the UI's form send each field on its own.
    assert example.validate_parameters({"limit": "4"})["limit"] == 4
    with pytest.raises(ParameterTypeError):
        example.validate_parameters({"limit": -1})
    with pytest.raises(ParameterTypeError):
        example.validate_parameters({"colour": "green"})


def test_the_function_builds_the_model_and_refuses_unknown_names():
    assert example.fn(limit=3) == {"limit": 3, "colour": "red"}
    with pytest.raises(TypeError, match=r"unknown parameters \['params'\]; allowed: limit, colour"):
        example.fn(params={"limit": 3})


def test_a_default_factory_cannot_become_a_flat_parameter():
    class Dated(BaseModel):
        day: str = Field(default_factory=lambda: "2026-01-01")

    with pytest.raises(ValueError, match="needs a plain default"):
        flat_signature(Dated)
