"""Audit log shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
                "org_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
                "actor_type": "user",
                "actor_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
                "actor_user_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
                "action": "space.created",
                "target_type": "space",
                "target_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e14",
                "changes": {"name": "Research"},
                "ip": "127.0.0.1",
                "user_agent": "curl/8.5",
                "created_at": "2026-11-21T10:00:00Z",
            }
        },
    )

    id: uuid.UUID
    org_id: uuid.UUID
    actor_type: str
    actor_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str | None
    changes: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    created_at: dt.datetime


class AuditPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": [], "next_cursor": None}})

    items: list[AuditEntryOut]
    next_cursor: str | None
