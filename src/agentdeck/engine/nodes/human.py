"""`human`: pause the run until a person answers."""

from __future__ import annotations

from typing import Any

import jsonschema

from agentdeck.engine.errors import Interrupt, ResumeError
from agentdeck.engine.nodes.context import NodeContext, NodeResult
from agentdeck.engine.spec import HumanNode
from agentdeck.kit import jsonschemas


async def run_human(ctx: NodeContext) -> NodeResult:
    """Always raises Interrupt with the payload `{node, message, schema}`."""
    node = ctx.node
    assert isinstance(node, HumanNode)
    raise Interrupt(
        {"node": node.id, "message": ctx.config["message"], "schema": node.response_schema}
    )


def check_answer(node: HumanNode, value: Any) -> None:
    """Validate a resume value against the node's schema; raises ResumeError."""
    if node.response_schema is None:
        return
    try:
        jsonschemas.validate(value, node.response_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ResumeError(f"answer to {node.id!r} is invalid at {where}: {exc.message}") from exc
