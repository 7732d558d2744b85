"""Business-agnostic building blocks: ids, database, crypto, pagination, tenancy."""

from __future__ import annotations
