"""assistant queries."""

from __future__ import annotations
