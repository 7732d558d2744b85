"""org feature."""

from __future__ import annotations
