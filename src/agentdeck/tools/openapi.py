"""``openapi`` toolsets: an OpenAPI 3 document becomes one tool per operation.

A tool is named by the operation's ``operationId`` (``<method>_<path>`` when it has none);
its input schema has one property per path, query and header parameter and ``body`` for a
JSON request body. Local ``$ref``s are inlined. Calls go to the ``base_url`` of the config
or the document's first server, through the guarded HTTP caller (netguard, auth headers,
``Idempotency-Key``, timeout, capped body).

Config: ``document`` (a dict, or JSON or YAML text; the feature fetches a URL with
:func:`fetch_document`), ``base_url`` (optional override), ``document_url`` (where it was
fetched, to resolve a relative server URL), ``timeout``, ``max_result_bytes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import jsonschema
import yaml

from agentdeck.kit import yamlsafe
from agentdeck.tools.base import (
    CallLimits,
    ToolDefinition,
    ToolError,
    ToolsetConfig,
    ToolsetConfigError,
    cap_result,
    fit_body,
)
from agentdeck.tools.outbound import HttpCaller, raise_for_status
from agentdeck.tools.toolset_config import http_url, limits

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
MAX_DOCUMENT_BYTES = 5_000_000
_MAX_REF_DEPTH = 32
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def load_document(source: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The OpenAPI document of a dict or of JSON or YAML text. Raises ToolsetConfigError
    (``document``) when it does not parse or is not OpenAPI 3."""
    if isinstance(source, Mapping):
        doc: Any = dict(source)
    else:
        text = source.decode(errors="replace") if isinstance(source, bytes) else source
        if len(text) > MAX_DOCUMENT_BYTES:
            raise ToolsetConfigError("document", f"is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):  # YAML is read with bounds on depth and aliases
            try:
                doc = yamlsafe.load(text, max_nodes=MAX_DOCUMENT_BYTES // 4)
            except yaml.YAMLError as exc:
                raise ToolsetConfigError("document", f"is neither JSON nor YAML ({exc})") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise ToolsetConfigError("document", "must be an OpenAPI 3 document (openapi: 3.x)")
    if not isinstance(doc.get("paths"), dict):
        raise ToolsetConfigError("document", "has no paths")
    return doc


async def fetch_document(
    url: str, *, limits: CallLimits | None = None, max_bytes: int = MAX_DOCUMENT_BYTES
) -> dict[str, Any]:
    """Fetch and load the document at ``url`` through netguard (the network policy applies,
    redirects included). Raises ToolError for a failed fetch and ToolsetConfigError for a
    document that is not OpenAPI 3."""
    timeout = (limits or CallLimits()).timeout
    http = HttpCaller(limits=CallLimits(timeout, max_bytes), follow_redirects=True)
    try:
        result = await http.request("openapi", "GET", http_url({"url": url}, "url"))
    finally:
        await http.aclose()
    raise_for_status(result, "openapi")
    if result.truncated:
        raise ToolsetConfigError("document", f"is larger than {max_bytes} bytes")
    return load_document(result.content)


def _resolve(doc: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with local ``$ref``s inlined; a cycle or a remote ref becomes ``{}``."""
    if isinstance(node, list):
        return [_resolve(doc, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/") or ref in seen or len(seen) >= _MAX_REF_DEPTH:
            return {}
        target: Any = doc
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        return {} if target is None else _resolve(doc, target, (*seen, ref))
    return {key: _resolve(doc, value, seen) for key, value in node.items()}


@dataclass(frozen=True, slots=True)
class Param:
    name: str  # as sent
    prop: str  # as the model names it
    location: str  # path, query, header
    required: bool


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: the tool it becomes and how to send it."""

    tool: ToolDefinition
    method: str
    path: str
    params: tuple[Param, ...]
    has_body: bool


def _tool_name(method: str, path: str, op: dict[str, Any]) -> str:
    raw = op.get("operationId") or f"{method}_{path.strip('/')}"
    return _UNSAFE.sub("_", str(raw)).strip("_")[:64] or method


def _operation(doc: dict[str, Any], path: str, method: str, item: dict[str, Any]) -> Operation:
    op = _resolve(doc, item[method])
    shared = {(p.get("name"), p.get("in")): p for p in _resolve(doc, item.get("parameters", []))}
    own = {(p.get("name"), p.get("in")): p for p in op.get("parameters", [])}
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[Param] = []
    for (name, location), spec in {**shared, **own}.items():
        if location not in ("path", "query", "header") or not isinstance(name, str):
            continue
        prop = name if name not in properties else f"{location}_{name}"
        param_schema = dict(spec.get("schema") or {"type": "string"})
        if spec.get("description"):
            param_schema["description"] = spec["description"]
        properties[prop] = param_schema
        is_required = location == "path" or bool(spec.get("required"))
        if is_required:
            required.append(prop)
        params.append(Param(name, prop, location, is_required))
    body = (op.get("requestBody") or {}).get("content", {})
    json_body = next((v for k, v in body.items() if "json" in k), None)
    if json_body is not None:
        properties["body"] = json_body.get("schema") or {}
        if op["requestBody"].get("required"):
            required.append("body")
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    description = op.get("description") or op.get("summary") or f"{method.upper()} {path}"
    definition = ToolDefinition(_tool_name(method, path, op), str(description), schema)
    return Operation(definition, method.upper(), path, tuple(params), json_body is not None)


def operations(doc: dict[str, Any]) -> list[Operation]:
    """The operations of the document, in its order. Raises ToolsetConfigError
    (``document``) when two operations get the same tool name."""
    out: dict[str, Operation] = {}
    for path, raw in doc["paths"].items():
        if not isinstance(raw, dict):
            continue
        item = {**raw, **_resolve(doc, raw)} if "$ref" in raw else raw
        for method in METHODS:
            if isinstance(item.get(method), dict):
                operation = _operation(doc, str(path), method, item)
                if operation.tool.name in out:
                    raise ToolsetConfigError(
                        "document", f"two operations are named {operation.tool.name!r}"
                    )
                out[operation.tool.name] = operation
    return list(out.values())


def _base_url(doc: dict[str, Any], config: Mapping[str, Any]) -> str:
    if config.get("base_url") is not None:
        return http_url(config, "base_url")
    servers = doc.get("servers") or []
    url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
    if not isinstance(url, str):
        raise ToolsetConfigError("base_url", "is required: the document names no server")
    for name, variable in (servers[0].get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    if isinstance(config.get("document_url"), str):
        url = urljoin(config["document_url"], url)
    return http_url({"base_url": url}, "base_url")


class OpenApiToolset:
    """The tools of one OpenAPI document."""

    kind = "openapi"

    def __init__(self, name: str, ops: list[Operation], http: HttpCaller) -> None:
        self._name, self.http = name, http
        self._ops = {op.tool.name: op for op in ops}
        self._validators = {
            op.tool.name: jsonschema.Draft202012Validator(op.tool.input_schema) for op in ops
        }

    @property
    def name(self) -> str:
        return self._name

    async def list_tools(self) -> list[ToolDefinition]:
        return [op.tool for op in self._ops.values()]

    async def refresh(self) -> list[ToolDefinition]:
        return await self.list_tools()

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """Send the operation. Raises ToolError: ``tool`` for an unknown operation,
        ``invalid_input`` for arguments that do not match its schema, or the call's own."""
        op = self._ops.get(tool)
        qualified = f"{self._name}.{tool}"
        if op is None:
            raise ToolError("tool", f"the toolset {self._name!r} has no tool {tool!r}")
        problems = sorted(self._validators[tool].iter_errors(dict(arguments)), key=str)
        if problems:
            where = "/".join(str(p) for p in problems[0].absolute_path) or "arguments"
            raise ToolError(
                "invalid_input",
                f"invalid arguments: {where}: {problems[0].message}",
                tool=qualified,
            )
        path, query, headers = op.path, {}, {}
        for param in op.params:
            if param.prop not in arguments:
                continue
            value = arguments[param.prop]
            text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
            if param.location == "path":
                if text in (".", ".."):
                    raise ToolError("invalid_input", f"{param.prop}: {text!r}", tool=qualified)
                path = path.replace("{" + param.name + "}", quote(text, safe=""))
            elif param.location == "query":
                query[param.name] = text
            else:
                headers[param.name] = text
        result = await self.http.request(
            qualified,
            op.method,
            path,
            params=query,
            json_body=arguments.get("body") if op.has_body else None,
            headers=headers,
            idempotency_key=idempotency_key,
        )
        raise_for_status(result, qualified)
        if result.truncated:
            note = f"the response was truncated after {len(result.content)} bytes"
            out = {"truncated": True, "note": note, "body": result.text}
            return fit_body(out, self.http.limits.max_result_bytes)
        return cap_result(result.body(), self.http.limits.max_result_bytes)

    async def aclose(self) -> None:
        await self.http.aclose()


def build_openapi(stored: ToolsetConfig) -> OpenApiToolset:
    """The ``openapi`` toolset of the stored config (ToolsetConfigError naming
    ``document``, ``base_url`` or a limit)."""
    config = stored.config
    if config.get("document") is None:
        raise ToolsetConfigError("document", "is required (the OpenAPI 3 document)")
    doc = load_document(config["document"])
    ops = operations(doc)
    http = HttpCaller(base_url=_base_url(doc, config), auth=stored.auth, limits=limits(config))
    return OpenApiToolset(stored.name, ops, http)
