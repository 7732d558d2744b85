"""Approval shapes (`/api/v1/approvals`): a waiting run, the inbox, and its stream's events."""

from __future__ import annotations

import uuid
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from agentdeck.run.schemas import RunOut

_RUN = cast("dict[str, Any]", RunOut.model_config.get("json_schema_extra"))["example"]
_EXAMPLE: dict[str, Any] = {
    **_RUN,
    "thread_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e14",
    "status": "interrupted",
    "output": None,
    "interrupt": {"node": "review", "message": "Send this answer?", "schema": None},
    "agent_name": "helper",
}


class ApprovalOut(RunOut):
    """A run that waits for an answer (its `interrupt` says at which step and what to ask),
    with its agent's name. Answer it with a new run on its thread: `command.resume`."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _EXAMPLE})

    agent_name: str

    @classmethod
    def of(cls, run: object, agent_name: str) -> ApprovalOut:
        """The entry of a run row (read as `RunOut` reads it) and its agent's name."""
        return cls.model_construct(**dict(RunOut.model_validate(run)), agent_name=agent_name)


class ApprovalList(BaseModel):
    """The inbox: waiting runs of the caller's spaces, newest first."""

    model_config = ConfigDict(json_schema_extra={"example": {"items": [_EXAMPLE]}})

    items: list[ApprovalOut]


class ApprovalRemoved(BaseModel):
    """A run that no longer waits (answered, or gone)."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"run_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11"}}
    )

    run_id: uuid.UUID
