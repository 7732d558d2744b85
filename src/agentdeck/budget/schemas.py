"""Budget shapes: a monthly limit in USD and a warning threshold, with this month's spend."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_SPACE: dict[str, Any] = {
    "space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
    "monthly_usd": 20.0,
    "warn_at": 0.8,
    "spent_usd": 4.25,
    "remaining_usd": 15.75,
    "period": "2026-11",
}


class BudgetSet(BaseModel):
    """Set (create or replace) a monthly limit."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"monthly_usd": 100.0, "warn_at": 0.8}}
    )

    monthly_usd: float = Field(ge=0, le=1_000_000_000, allow_inf_nan=False)
    warn_at: float = Field(
        default=0.8,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of the limit at which one warning per month is recorded.",
    )


class SpaceBudgetOut(BaseModel):
    """A space's limit (``null`` when none is set) and its spend this month."""

    model_config = ConfigDict(json_schema_extra={"example": _SPACE})

    space_id: uuid.UUID
    monthly_usd: float | None
    warn_at: float | None
    spent_usd: float
    remaining_usd: float | None
    period: str = Field(description="The UTC calendar month, YYYY-MM.")


class BudgetOut(BaseModel):
    """The organisation's limit (``null`` when none is set), its spend this month and the
    limits of the spaces the caller can see."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "monthly_usd": 100.0,
                "warn_at": 0.8,
                "spent_usd": 12.5,
                "remaining_usd": 87.5,
                "period": "2026-11",
                "spaces": [_SPACE],
            }
        }
    )

    monthly_usd: float | None
    warn_at: float | None
    spent_usd: float
    remaining_usd: float | None
    period: str = Field(description="The UTC calendar month, YYYY-MM.")
    spaces: list[SpaceBudgetOut]
