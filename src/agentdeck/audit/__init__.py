"""The audit log feature: recording changes and reading them back."""

from __future__ import annotations
