"""Authentication: users, passwords, JWT, refresh tokens, API keys; the only TenantScope minter."""

from __future__ import annotations
