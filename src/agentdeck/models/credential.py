"""Credentials of an organisation (optionally limited to one space), secrets sealed at rest."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import OrgOwned
from agentdeck.models.base import Base, JSONType, OrgColumn


class Credential(OrgColumn, OrgOwned, Base):
    """One credential. ``secret_enc`` is one JSON object (every secret of the kind) sealed
    with the master key and bound to ``credential:{org_id}:{id}``; ``config`` holds the
    non-secret fields (header name, username, client id, token URL, scopes).

    Org-owned rather than space-owned: ``space_id`` is NULL for an org-wide credential, so
    the repository adds the space filter itself.
    """

    __tablename__ = "credentials"

    space_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("spaces.id", ondelete="CASCADE"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secret_enc: Mapped[str] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(String(16), default=None)
    # OAuth2: when the stored access token expires; ``token_version`` grows with every
    # change of the tokens (a refresh compares it before it writes).
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    token_version: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
