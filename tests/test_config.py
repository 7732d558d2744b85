"""Settings: generated secrets, production refusals and nested environment variables."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from agentdeck.app import create_app
from agentdeck.config import AuthSettings, ConfigError, SecuritySettings, Settings, resolve_secrets

STRONG_JWT = "k7Qm2vX9pL4sT8wZ1nB6cR3yH5jD0fGa"
STRONG_MASTER = base64.b64encode(bytes(range(32))).decode()


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path / "data")
    jwt_secret, master, older = resolve_secrets(settings)
    assert len(jwt_secret) >= 32 and len(master) == 32 and older == []
    for name in ("jwt_secret", "master.key"):
        path = tmp_path / "data" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secrets(settings) == (jwt_secret, master, [])
    other = Settings(env="development", data_dir=tmp_path / "elsewhere")
    assert resolve_secrets(other)[0] != jwt_secret


def test_given_secrets_are_used_and_not_written(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        auth=AuthSettings(jwt_secret=SecretStr(STRONG_JWT)),
        security=SecuritySettings(master_key=SecretStr(STRONG_MASTER)),
    )
    assert resolve_secrets(settings)[:2] == (STRONG_JWT, bytes(range(32)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("jwt_secret", "master_key"),
    [
        (None, None),
        (None, STRONG_MASTER),
        (STRONG_JWT, None),
        ("short", STRONG_MASTER),
        ("a" * 64, STRONG_MASTER),
        (STRONG_JWT, base64.b64encode(bytes(32)).decode()),
        (STRONG_JWT, base64.b64encode(b"16 bytes only!!!").decode()),
        (STRONG_JWT, "not base64 !!"),
    ],
)
def test_production_refuses_missing_or_weak_secrets(
    tmp_path: Path, jwt_secret: str | None, master_key: str | None
) -> None:
    settings = Settings(
        env="production",
        data_dir=tmp_path,
        auth=AuthSettings(jwt_secret=SecretStr(jwt_secret) if jwt_secret else None),
        security=SecuritySettings(master_key=SecretStr(master_key) if master_key else None),
    )
    with pytest.raises(ConfigError):
        resolve_secrets(settings)
    with pytest.raises(ConfigError):
        create_app(settings, configure_logs=False)
    assert not (tmp_path / "jwt_secret").exists()


def test_production_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_ENV", "production")
    monkeypatch.setenv("AGENTDECK_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError):
        resolve_secrets(Settings())
    monkeypatch.setenv("AGENTDECK_AUTH__JWT_SECRET", STRONG_JWT)
    monkeypatch.setenv("AGENTDECK_SECURITY__MASTER_KEY", STRONG_MASTER)
    settings = Settings()
    assert settings.is_production
    assert resolve_secrets(settings)[0] == STRONG_JWT


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("AGENTDECK_DB__URL", url)
    monkeypatch.setenv("AGENTDECK_AUTH__ACCESS_TOKEN_TTL_S", "123")
    monkeypatch.setenv("AGENTDECK_API__CORS_ORIGINS", '["https://app.example"]')
    settings = Settings()
    assert settings.db.url == url
    assert settings.resolved_db_url == url
    assert settings.auth.access_token_ttl_s == 123
    assert settings.auth.refresh_token_ttl_s == AuthSettings().refresh_token_ttl_s
    assert settings.api.cors_origins == ["https://app.example"]


def test_the_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_db_url == f"sqlite+aiosqlite:///{(tmp_path / 'agentdeck.db')}"
    assert Settings(data_dir=tmp_path, database_url="sqlite://").resolved_db_url == "sqlite://"
