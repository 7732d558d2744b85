"""`agentdeck run FILE`: exit codes 0 completed, 2 invalid definition, 3 interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OK = """
name: hello
inputs: {type: object, properties: {who: {type: string}}, required: [who]}
nodes:
  - {id: greet, type: transform, value: "hi {{ inputs.who }}"}
  - {id: shout, type: transform, value: "{{ steps.greet.output | upper }}", needs: [greet]}
"""
HUMAN = "name: ask\nnodes:\n  - {id: q, type: human, message: 'ok?'}\n"
BAD = "name: bad\nnodes:\n  - {id: a, type: transform, value: 1, needs: [zzz]}\n"


def _run(tmp: Path, name: str, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDECK_")}
    env["AGENTDECK_DATA_DIR"] = str(tmp / "data")
    code = "from agentdeck.cli import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, "run", str(path), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_exit_codes(tmp_path: Path) -> None:
    ok = _run(tmp_path, "ok", OK, "--input", "who=ada")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "HI ADA" in ok.stdout + ok.stderr
    bad = _run(tmp_path, "bad", BAD)
    assert bad.returncode == 2 and "unknown node 'zzz'" in bad.stdout + bad.stderr
    assert _run(tmp_path, "ask", HUMAN).returncode == 3
