"""`agentdeck worker` as a child process of the reliability tests (settings from env)."""

from __future__ import annotations

from agentdeck.cli import app

if __name__ == "__main__":
    app(["worker"])
