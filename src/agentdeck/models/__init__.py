"""All ORM tables. Importing this package registers every table on ``Base.metadata``."""

from __future__ import annotations

from agentdeck.models.agent import Agent, AgentVersion, Assistant, AssistantVersion
from agentdeck.models.api_key import ApiKey
from agentdeck.models.audit import AuditLog
from agentdeck.models.base import Base
from agentdeck.models.credential import Credential
from agentdeck.models.job import Job
from agentdeck.models.knowledge import KnowledgeBase, KnowledgeDocument, KnowledgeDocumentContent
from agentdeck.models.knowledge_source import CrawlRun, KnowledgeSource, KnowledgeSourcePage
from agentdeck.models.llm import Budget, LLMCacheEntry, ModelAlias, ModelOverride, UsageRecord
from agentdeck.models.memory import ThreadMemory
from agentdeck.models.org import Invitation, Organization, OrgMembership
from agentdeck.models.prompt import Prompt, PromptVersion
from agentdeck.models.provider import Provider
from agentdeck.models.run import Run, RunEvent, RunStep, Thread
from agentdeck.models.space import Space, SpaceMember
from agentdeck.models.store import StoreItem
from agentdeck.models.temporal_payload import TemporalPayload
from agentdeck.models.toolset import ToolCallRecord, Toolset
from agentdeck.models.user import LoginThrottle, RefreshToken, User

__all__ = [
    "Agent",
    "AgentVersion",
    "ApiKey",
    "Assistant",
    "AssistantVersion",
    "AuditLog",
    "Base",
    "Budget",
    "CrawlRun",
    "Credential",
    "Invitation",
    "Job",
    "KnowledgeBase",
    "KnowledgeDocument",
    "KnowledgeDocumentContent",
    "KnowledgeSource",
    "KnowledgeSourcePage",
    "LLMCacheEntry",
    "LoginThrottle",
    "ModelAlias",
    "ModelOverride",
    "OrgMembership",
    "Organization",
    "Prompt",
    "PromptVersion",
    "Provider",
    "RefreshToken",
    "Run",
    "RunEvent",
    "RunStep",
    "Space",
    "SpaceMember",
    "StoreItem",
    "TemporalPayload",
    "Thread",
    "ThreadMemory",
    "ToolCallRecord",
    "Toolset",
    "UsageRecord",
    "User",
]
