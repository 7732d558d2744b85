"""Settings: pydantic-settings, ``AGENTDECK_`` prefix, nested groups (``AGENTDECK_DB__URL``).

The JWT signing secret and the encryption master key are generated into the data
directory (mode 0600) on first start when not given. In production they must be given
and strong: start-up refuses otherwise.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """The configuration cannot be used (e.g. a weak secret in production)."""


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; defaults to SQLite in the data directory.",
    )
    echo: bool = False
    pool_size: int = 10
    sqlite_busy_timeout_ms: int = 10_000


class AuthSettings(BaseModel):
    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    invitation_ttl_s: int = 7 * 24 * 3600
    password_min_length: int = 10
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    # Failed-login throttling, per account and per client IP.
    throttle_window_s: int = 15 * 60
    throttle_slowdown_after: int = 5
    throttle_lock_after: int = 10
    throttle_lock_s: int = 15 * 60


class SecuritySettings(BaseModel):
    master_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes; encrypts secrets at rest."
    )
    old_master_keys: list[SecretStr] = Field(
        default_factory=list, description="Previous master keys, still accepted to decrypt."
    )


class ApiSettings(BaseModel):
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    trust_forwarded_for: bool = False
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description=(
            "With trust_forwarded_for: the peers (addresses or CIDR networks) whose "
            "X-Forwarded-For names the client; from any other peer it is ignored."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError: not an address or network
        return value


class NetworkSettings(BaseModel):
    """One outbound network policy for every call agentdeck makes on a user's behalf."""

    allowed_private_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Private or loopback hosts outbound calls may reach, as `host` (every port) or "
            '`host:port`, e.g. ["localhost:11434"] for a local Ollama.'
        ),
    )


class AgentSettings(BaseModel):
    max_nodes: int = Field(default=2000, description="Most nodes one agent definition may hold.")


class LLMSettings(BaseModel):
    cache_ttl_s: int = 3600
    redis_url: str | None = Field(
        default=None, description="Keep the response cache in Redis instead of the database."
    )
    warm_local_model: bool = Field(
        default=True, description="Load the offline model in the background at worker start."
    )


class ModelsSettings(BaseModel):
    """Where the offline models (the local chat model, the local embedders) run."""

    host: Literal["process", "inline"] = Field(
        default="process",
        description=(
            "`process`: `agentdeck serve` and `agentdeck worker` run them in one child process "
            "of their own, started and stopped with them; `inline`: in the serving process."
        ),
    )
    wait_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a call waits for each answer of the model host (while the "
        "model loads, or behind other generations) before it fails.",
    )
    max_queued: int = Field(
        default=64, ge=0, description="Calls per model waiting in the host beyond which it is busy."
    )


class McpSettings(BaseModel):
    """agentdeck as an MCP server at /mcp."""

    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]:*"],
        description="Host headers /mcp answers (DNS-rebinding guard); `host:*` is any port.",
    )
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        description="Origin headers /mcp accepts from browsers; `origin:*` is any port.",
    )
    public_url: str | None = Field(
        default=None,
        description="The /mcp URL clients use (RFC 9728 `resource`); default: from the request.",
    )
    call_timeout_s: float = Field(
        default=300.0, gt=0, description="How long a tools/call waits for its agent's run."
    )


class TemporalSettings(BaseModel):
    """Temporal as the run engine (``AGENTDECK_ENGINE=temporal``, `agentdeck.temporal`)."""

    address: str = Field(default="127.0.0.1:7233", description="The Temporal frontend.")
    namespace: str = "default"
    task_queue: str = "agentdeck"
    heartbeat_timeout_s: float = Field(
        default=10.0, gt=0, description="A node activity not heard from for this long is lost."
    )
    activity_timeout_s: float = Field(
        default=3600.0, gt=0, description="Start-to-close bound of a node without `timeout`."
    )
    lost_attempts: int = Field(
        default=5, ge=0, description="Extra activity attempts for workers lost mid-node."
    )
    max_history_events: int = Field(
        default=10_000, ge=100, description="A run's workflow continues as new beyond this."
    )
    interrupt_wait_s: float = Field(
        default=30 * 24 * 3600.0, gt=0, description="How long an interrupted run's workflow waits."
    )
    payload_limit_bytes: int = Field(
        default=128 * 1024,
        ge=0,
        description="Payloads (workflow inputs, activity arguments and results) of this size "
        "or more are stored in agentdeck's database (`temporal_payloads`) and only referenced "
        "from the workflow's history (0: never).",
    )
    sweep_interval_s: float = Field(
        default=15.0, gt=0, description="How often a worker looks for runs whose start was lost."
    )
    sweep_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A run still pending this long after it was created is started by a worker "
        "(idempotently: the workflow id is the run id).",
    )


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000


class Settings(BaseSettings):
    """All agentdeck settings. Read once per process through :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTDECK_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path(".agentdeck")
    database_url: str | None = Field(
        default=None, description="Shorthand for db.url (AGENTDECK_DATABASE_URL)."
    )
    log_level: str = "INFO"
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    agents: AgentSettings = Field(default_factory=AgentSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    engine: Literal["embedded", "temporal"] = Field(
        default="embedded", description="What executes runs: the journal's own loop or Temporal."
    )
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_db_url(self) -> str:
        """The database URL in force: explicit, shorthand, or SQLite in the data directory."""
        url = self.db.url or self.database_url
        if url:
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'agentdeck.db').resolve()}"


_MIN_SECRET_BYTES = 32


def _read_or_create(path: Path, make: bytes) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(make)
    return make


def _decode_master_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("security.master_key must be base64 of 32 bytes") from exc
    if len(key) != 32:
        raise ConfigError("security.master_key must be base64 of exactly 32 bytes")
    return key


def resolve_secrets(settings: Settings) -> tuple[str, bytes, list[bytes]]:
    """Return (jwt secret, master key, older master keys), generating missing ones.

    In production missing or weak secrets raise :class:`ConfigError` instead.
    """
    jwt_secret = settings.auth.jwt_secret.get_secret_value() if settings.auth.jwt_secret else None
    master = (
        settings.security.master_key.get_secret_value() if settings.security.master_key else None
    )
    if settings.is_production:
        if not jwt_secret or len(jwt_secret.encode()) < _MIN_SECRET_BYTES:
            raise ConfigError("production needs AGENTDECK_AUTH__JWT_SECRET of at least 32 bytes")
        if not master:
            raise ConfigError("production needs AGENTDECK_SECURITY__MASTER_KEY (base64, 32 bytes)")
        if jwt_secret in {"secret", "changeme", "change-me"} or len(set(jwt_secret)) < 8:
            raise ConfigError("AGENTDECK_AUTH__JWT_SECRET is too weak")
    if jwt_secret is None:
        jwt_secret = _read_or_create(
            settings.data_dir / "jwt_secret", secrets.token_urlsafe(48).encode()
        ).decode()
    if master is None:
        master = _read_or_create(
            settings.data_dir / "master.key", base64.b64encode(secrets.token_bytes(32))
        ).decode()
    key = _decode_master_key(master)
    if settings.is_production and len(set(key)) < 8:
        raise ConfigError("AGENTDECK_SECURITY__MASTER_KEY is too weak")
    older = [_decode_master_key(k.get_secret_value()) for k in settings.security.old_master_keys]
    return jwt_secret, key, older


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
