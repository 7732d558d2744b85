"""gateway feature."""

from __future__ import annotations
