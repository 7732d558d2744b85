"""thread feature."""

from __future__ import annotations
