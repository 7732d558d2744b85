"""JSON Schema validation with validators built once per schema.

`jsonschema.validate` checks the schema itself and builds a new validator on every call,
which cost more than the rest of a quick run. Schemas here come from agent versions and
node specs, which live as long as the process keeps them: a validator is kept per schema
object (by identity; the cache holds the schema, so its id cannot be reused meanwhile).
"""

from __future__ import annotations

from typing import Any

import jsonschema

_CACHE: dict[int, tuple[Any, jsonschema.Draft202012Validator]] = {}
_MAX = 2048


def validator_for(schema: Any) -> jsonschema.Draft202012Validator:
    """The (Draft 2020-12) validator of ``schema``; raises `jsonschema.SchemaError` for an
    invalid schema (checked once, when the validator is built)."""
    known = _CACHE.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    if len(_CACHE) >= _MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(schema)] = (schema, validator)
    return validator


def first_error(instance: Any, schema: Any) -> jsonschema.ValidationError | None:
    """The error `jsonschema.validate` would raise (its best match), or None."""
    error: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(
        validator_for(schema).iter_errors(instance)
    )
    return error


def validate(instance: Any, schema: Any) -> None:
    """`jsonschema.validate(instance, schema, Draft202012Validator)`, with a kept validator."""
    error = first_error(instance, schema)
    if error is not None:
        raise error


__all__ = ["first_error", "validate", "validator_for"]
