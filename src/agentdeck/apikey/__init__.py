"""Organisation API keys: create (shown once), list, revoke."""

from __future__ import annotations
