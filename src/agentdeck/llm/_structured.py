"""Structured output: how it is requested per mode, extracted, validated and re-asked.

Validation uses `jsonschema` (Draft 2020-12), whatever the provider promises, so a weak model
or a prompted mode cannot hand the caller something that does not match the schema.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.output import OutputObjectDefinition
from pydantic_ai.tools import ToolDefinition

from agentdeck.llm._messages import OUTPUT_TOOL_NAME, text_of
from agentdeck.llm.providers import StructuredMode
from agentdeck.llm.types import ToolSpec

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_MAX_ERRORS = 5


def unwrap_schema(response_format: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Name and JSON Schema from either a bare schema or OpenAI's `json_schema` wrapper."""
    inner = response_format.get("json_schema")
    if isinstance(inner, dict) and isinstance(inner.get("schema"), dict):
        return str(inner.get("name") or "result"), inner["schema"]
    return "result", response_format


def request_parameters(
    tools: list[ToolSpec], response_format: dict[str, Any] | None, mode: StructuredMode
) -> ModelRequestParameters:
    """pydantic-ai request parameters for the caller's tools and structured-output mode."""
    function_tools = [
        ToolDefinition(
            name=t.name, description=t.description, parameters_json_schema=t.parameters_json_schema
        )
        for t in tools
    ]
    if response_format is None:
        return ModelRequestParameters(function_tools=function_tools)
    name, schema = unwrap_schema(response_format)
    if mode == "tool":
        output_tool = ToolDefinition(
            name=OUTPUT_TOOL_NAME,
            description="Return the final answer as " + name,
            parameters_json_schema=schema,
            kind="output",
        )
        return ModelRequestParameters(
            function_tools=function_tools,
            output_mode="tool",
            output_tools=[output_tool],
            allow_text_output=False,
        )
    return ModelRequestParameters(
        function_tools=function_tools,
        output_mode=mode,
        output_object=OutputObjectDefinition(json_schema=schema, name=name),
        allow_text_output=True,
    )


def _output_tool_call(response: ModelResponse) -> ToolCallPart | None:
    for part in response.parts:
        if isinstance(part, ToolCallPart) and part.tool_name == OUTPUT_TOOL_NAME:
            return part
    return None


def extract(response: ModelResponse, mode: StructuredMode) -> tuple[Any, list[str]]:
    """The JSON value the model produced, or the reasons none could be read."""
    if mode == "tool":
        call = _output_tool_call(response)
        if call is None:
            return None, ["Call the " + OUTPUT_TOOL_NAME + " tool with the answer."]
        try:
            return call.args_as_dict(), []
        except ValueError as exc:
            return None, ["The tool arguments are not valid JSON: " + str(exc)]
    text = text_of(response).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, ["The answer is not valid JSON: " + exc.msg + " at position " + str(exc.pos)]


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def validate(value: Any, response_format: dict[str, Any]) -> list[str]:
    """Schema violations of `value` (empty when valid), as short human-readable lines."""
    _, schema = unwrap_schema(response_format)
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        "/".join(str(p) for p in e.absolute_path) + ": " + e.message
        if e.absolute_path
        else e.message
        for e in errors[:_MAX_ERRORS]
    ]


def reask(response: ModelResponse, mode: StructuredMode, errors: list[str]) -> ModelRequest:
    """The follow-up request telling the model what was wrong with `response`."""
    feedback = (
        "Your answer did not match the required JSON schema:\n- "
        + "\n- ".join(errors)
        + "\nAnswer again with only the corrected JSON."
    )
    call = _output_tool_call(response) if mode == "tool" else None
    if call is not None:
        return ModelRequest(
            parts=[
                ToolReturnPart(
                    tool_name=call.tool_name, content=feedback, tool_call_id=call.tool_call_id
                )
            ]
        )
    return ModelRequest(parts=[UserPromptPart(content=feedback)])


def answered_response(response: ModelResponse) -> ModelResponse:
    """`response` as history: a response with no parts would be rejected by most APIs."""
    if response.parts:
        return response
    return ModelResponse(parts=[TextPart(content="")])
