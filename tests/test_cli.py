from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdeck import __version__
from agentdeck.cli import app
from agentdeck.config import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTDECK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AGENTDECK_DB__URL", raising=False)
    monkeypatch.delenv("AGENTDECK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.strip() == __version__


def test_migrate_create_user_and_rotate_key(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert (data_dir / "agentdeck.db").exists()
    created = runner.invoke(
        app,
        [
            "admin",
            "create-user",
            "--email",
            "Root@Example.org",
            "--name",
            "Root",
            "--org-name",
            "Ops",
            "--password",
            "a long enough password",
        ],
    )
    assert created.exit_code == 0, created.output
    assert "root@example.org" in created.output and "Ops" in created.output
    assert (data_dir / "master.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(
        app,
        [
            "admin",
            "create-user",
            "--email",
            "root@example.org",
            "--name",
            "Root",
            "--password",
            "a long enough password",
        ],
    )
    assert again.exit_code == 1 and "already exists" in again.output

    old_key = (data_dir / "master.key").read_text().strip()
    monkeypatch.setenv("AGENTDECK_SECURITY__MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("AGENTDECK_SECURITY__OLD_MASTER_KEYS", f'["{old_key}"]')
    get_settings.cache_clear()
    rotated = runner.invoke(app, ["admin", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 0 credential(s)" in rotated.output
