"""All ORM tables. Importing this package registers every table on ``Base.metadata``."""

from __future__ import annotations

from agentdeck.models.api_key import ApiKey
from agentdeck.models.audit import AuditLog
from agentdeck.models.base import Base
from agentdeck.models.job import Job
from agentdeck.models.org import Invitation, Organization, OrgMembership
from agentdeck.models.provider import Provider
from agentdeck.models.space import Space, SpaceMember
from agentdeck.models.user import LoginThrottle, RefreshToken, User

__all__ = [
    "ApiKey",
    "AuditLog",
    "Base",
    "Invitation",
    "Job",
    "LoginThrottle",
    "OrgMembership",
    "Organization",
    "Provider",
    "RefreshToken",
    "Space",
    "SpaceMember",
    "User",
]
