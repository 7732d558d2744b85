"""Credentials per organisation or space: encrypted secrets, auth headers, OAuth2 refresh."""

from __future__ import annotations
