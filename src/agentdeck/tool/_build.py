"""From stored toolsets to the `tools` library's toolsets: config, credential, snapshot.

The credential's headers are fetched through the credential feature before every request
(a refreshed OAuth2 token is picked up), in that feature's own short transactions: never
inside one of ours. Its failures reach the model as a ToolError in plain words.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.credential import service as credentials
from agentdeck.errors import AppError
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.tenancy import TenantScope
from agentdeck.models import Toolset as ToolsetRow
from agentdeck.tool.settings import ToolSettings
from agentdeck.tools.base import AuthHeaders, SigningSecret, ToolDefinition, ToolError, no_auth
from agentdeck.tools.base import Toolset as LibToolset
from agentdeck.tools.base import ToolsetConfig as StoredConfig
from agentdeck.tools.registry import RegistryOptions, ToolRegistry, build_toolset


class CredentialAccess:
    """What reading a credential's headers needs: sessions, the cipher, the guarded HTTP
    client (OAuth2 token URLs obey the network policy) and the scope acting."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: Cipher | None,
        scope: TenantScope,
        http: httpx2.AsyncClient,
    ) -> None:
        self.sessions, self.cipher, self.scope, self.http = sessions, cipher, scope, http

    def auth(self, credential_id: uuid.UUID | None) -> AuthHeaders:
        """:data:`AuthHeaders` of the credential (none without one)."""
        if credential_id is None:
            return no_auth

        async def headers() -> dict[str, str]:
            if self.cipher is None:
                raise ToolError("tool", "credentials cannot be read in this process (no key)")
            try:
                return await credentials.auth_headers(
                    self.sessions, self.cipher, self.scope, credential_id, http=self.http
                )
            except AppError as exc:  # its detail never holds a secret
                message = f"the toolset's credential cannot be used: {exc.detail}"
                raise ToolError("tool", message) from None

        return headers

    def signing_secret(self, credential_id: uuid.UUID | None) -> SigningSecret | None:
        """A webhook's signing secret: the one header value of its credential (an api_key
        or bearer credential's secret)."""
        if credential_id is None:
            return None
        headers = self.auth(credential_id)

        async def secret() -> bytes:
            values = list((await headers()).values())
            if len(values) != 1:
                raise ToolError("tool", "a webhook's credential must hold exactly one secret")
            return values[0].removeprefix("Bearer ").encode()

        return secret


def options() -> RegistryOptions:
    return RegistryOptions(allow_stdio=ToolSettings().allow_stdio)


def stored_config(row: ToolsetRow, access: CredentialAccess | None) -> StoredConfig:
    """The library's config of a stored toolset (its credential as callables)."""
    config: dict[str, Any] = dict(row.config or {})
    if access is None:
        return StoredConfig(row.name, row.kind, config)
    webhook = row.kind == "builtin" and config.get("integration") == "webhook"
    return StoredConfig(
        row.name,
        row.kind,
        config,
        auth=no_auth if webhook else access.auth(row.credential_id),
        signing_secret=access.signing_secret(row.credential_id),
    )


def build(row: ToolsetRow, access: CredentialAccess | None) -> LibToolset:
    """The toolset of a row (ToolsetConfigError naming a wrong config key)."""
    return build_toolset(stored_config(row, access), options())


def registry(rows: Sequence[ToolsetRow], access: CredentialAccess) -> ToolRegistry:
    """A registry of the space's toolsets; one that no longer builds is left out (a run
    naming it gets "unknown toolset")."""
    out = ToolRegistry()
    for row in rows:
        try:
            out.add(build(row, access))
        except ValueError:
            continue
    return out


def snapshot(definitions: Sequence[ToolDefinition]) -> tuple[list[dict[str, Any]], str]:
    """The stored tool list and its hash (SHA-256 of its canonical JSON)."""
    tools = [d.as_dict() for d in definitions]
    text = json.dumps(tools, sort_keys=True, separators=(",", ":"), default=str)
    return tools, hashlib.sha256(text.encode()).hexdigest()
