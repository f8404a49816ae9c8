"""A flow that takes one pydantic model, called and shown with the model's fields as its own flat parameters.

Prefect builds a run form from a flow's signature: a flow taking one model shows every field
nested under that one parameter, and `--param limit=4` is refused. `flat_parameters(Model)` gives
the decorated function a signature of the model's fields (keyword-only, same types, constraints,
titles and descriptions, same defaults), so the form lists them one by one, and builds the model
from the keywords it is called with: the model stays the one place where the fields are written.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

R = TypeVar("R")


def flat_signature(model: type[BaseModel]) -> inspect.Signature:
    """Keyword-only parameters for the model's fields, in the model's order."""
    parameters = []
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            # A factory's value is made when the model is built; in a signature it would be frozen
            # into the deployment's schema at deploy time.
            raise ValueError(f"{model.__name__}.{name}: a flat flow parameter needs a plain default, not a default_factory")
        # Prefect's form keeps the default and description of a Field given as the default, and
        # titles every parameter by its name unless the Field's schema extra says otherwise; the
        # constraints (ge, le, validators) travel in the annotation so the schema shows them too.
        extra = {"title": info.title or name.replace("_", " ").capitalize(), **(info.json_schema_extra or {})}
        default = Field(info.default, description=info.description, json_schema_extra=extra)
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return inspect.Signature(parameters)


def flat_parameters(model: type[BaseModel]) -> Callable[[Callable[[Any], R]], Callable[..., R]]:
    """Decorate `fn(params: model)` into `fn(*, field=..., ...)`: the model's fields as flat keyword parameters."""
    signature = flat_signature(model)
    names = set(signature.parameters)

    def decorate(fn: Callable[[Any], R]) -> Callable[..., R]:
        def flat(**chosen: Any) -> R:
            unknown = sorted(set(chosen) - names)
            if unknown:
                raise TypeError(f"{fn.__name__}() got unknown parameters {unknown}; allowed: {', '.join(signature.parameters)}")
            # Prefect passes every parameter, the defaults too: a default it did not resolve is
            # still the signature's Field, whose default the model gets.
            return fn(model(**{k: _value(v) for k, v in chosen.items()}))

        # Name, docstring and module of fn, but not __wrapped__: Prefect and inspect must see the
        # flat signature, not fn's one model parameter.
        functools.update_wrapper(flat, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        flat.__signature__ = signature  # type: ignore[attr-defined]
        return flat

    return decorate


def _value(value: Any) -> Any:
    """A default left as the signature's Field is the Field's default; any other value is itself."""
    return value.default if isinstance(value, FieldInfo) else value
