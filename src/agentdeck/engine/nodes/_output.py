"""Parse and validate structured model output."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from agentdeck.engine.errors import NodeError
from agentdeck.engine.ports import ChatResult
from agentdeck.kit import jsonschemas


def structured_output(result: ChatResult, schema: dict[str, Any] | None) -> Any:
    """The node output: text without a schema, else the parsed value checked against it.

    Raises NodeError(kind="invalid_output") when the reply is not JSON or fails the schema.
    """
    if schema is None:
        return result.text
    value = result.parsed
    if value is None:
        try:
            value = json.loads(result.text)
        except json.JSONDecodeError as exc:
            raise NodeError("invalid_output", f"model reply is not JSON: {exc}") from exc
    try:
        jsonschemas.validate(value, schema)
    except jsonschema.ValidationError as exc:
        message = f"model reply fails output_schema: {exc.message}"
        raise NodeError("invalid_output", message) from exc
    return value
