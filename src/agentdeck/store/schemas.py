"""Store shapes, as `langgraph_sdk`'s `client.store` sends and reads them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Label = Annotated[str, Field(min_length=1, max_length=200)]


def _no_dots(labels: list[str]) -> list[str]:
    for label in labels:
        if "." in label:
            raise ValueError(f"namespace labels cannot contain '.': {label!r}")
    return labels


class ItemPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "namespace": ["users", "ada"],
                "key": "prefs",
                "value": {"theme": "dark"},
                "index": ["theme"],
                "ttl": 60,
            }
        },
    )

    namespace: list[Label] = Field(min_length=1, max_length=20)
    key: str = Field(min_length=1, max_length=500)
    value: dict[str, Any]
    index: (
        Literal[False]
        | Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=20)]
        | None
    ) = Field(
        default=None,
        description="Fields embedded for semantic `query` (`$` is the whole value); "
        "false or absent: not indexed.",
    )
    ttl: float | None = Field(default=None, gt=0, le=10_000_000, description="Minutes.")

    _labels = field_validator("namespace")(_no_dots)


class ItemDelete(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"namespace": ["users", "ada"], "key": "prefs"}},
    )

    namespace: list[Label] = Field(min_length=1, max_length=20)
    key: str = Field(min_length=1, max_length=500)

    _labels = field_validator("namespace")(_no_dots)


class ItemSearch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"namespace_prefix": ["users"], "query": "dark theme", "limit": 5}
        },
    )

    namespace_prefix: list[Label] = Field(default_factory=list, max_length=20)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=100_000)
    query: str | None = Field(default=None, max_length=10_000)
    refresh_ttl: bool | None = None

    _labels = field_validator("namespace_prefix")(_no_dots)


class NamespaceSearch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"prefix": ["users"], "max_depth": 2, "limit": 100}},
    )

    prefix: list[Label] | None = Field(default=None, max_length=20)
    suffix: list[Label] | None = Field(default=None, max_length=20)
    max_depth: int | None = Field(default=None, ge=1, le=20)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=100_000)


class ItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "namespace": ["users", "ada"],
                "key": "prefs",
                "value": {"theme": "dark"},
                "created_at": "2026-12-03T10:00:00Z",
                "updated_at": "2026-12-03T10:00:00Z",
            }
        }
    )

    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class SearchItemOut(ItemOut):
    score: float | None = None


class SearchItemsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[SearchItemOut]


class NamespacesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"namespaces": [["users", "ada"], ["users", "bob"]]}}
    )

    namespaces: list[list[str]]
