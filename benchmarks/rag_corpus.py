"""A realistic bulk corpus for the RAG latency benchmark, built from text on this machine.

Chunks are ~200 words of real English prose: consecutive docstring sentences of installed
Python packages (the standard library, numpy, scipy, scikit-learn, sympy, torch,
transformers, networkx...). Each package is one knowledge base, so kbs differ in vocabulary
the way real document collections do, and term frequencies follow the usual Zipf curve
(a handful of words in most chunks, most words in very few). Nothing is shipped: the text is
read from installed code at run time (cached in ``~/.cache/agentdeck``), used only to
measure latency.
"""

from __future__ import annotations

import ast
import json
import random
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CACHE = Path.home() / ".cache" / "agentdeck" / "bench-sentences-v2.json"
PACKAGES = [
    "stdlib", "numpy", "scipy", "sklearn", "sympy", "torch", "transformers", "networkx",
    "pandas", "sqlalchemy", "pydantic", "fastapi", "setuptools", "pip", "huggingface_hub",
]  # fmt: skip


@dataclass(frozen=True)
class BulkChunk:
    kb_id: str
    doc_id: str
    text: str


def _prose(docstring: str) -> list[str]:
    out = []
    for sentence in _SENTENCE_END.split(" ".join(docstring.split())):
        words = sentence.split()
        if 6 <= len(words) <= 45 and sum(w.isalpha() for w in words) >= 0.75 * len(words):
            out.append(sentence)
    return out


def _package_sentences(root: Path, limit: int, *, stdlib: bool = False) -> list[str]:
    sentences: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if {"tests", "test", "idlelib"} & set(path.parts) or (
            stdlib and "site-packages" in path.parts
        ):
            continue
        try:
            tree = ast.parse(path.read_text(errors="ignore"))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(
                node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            ) and (doc := ast.get_docstring(node)):
                sentences.extend(_prose(doc))
        if len(sentences) >= limit:
            break
    return sentences


def sentence_pools(per_package: int = 60_000) -> dict[str, list[str]]:
    """Prose sentences per installed package (cached)."""
    if _CACHE.exists():
        pools: dict[str, list[str]] = json.loads(_CACHE.read_text())
        return pools
    site = Path(sysconfig.get_paths()["purelib"])
    pools = {}
    for name in PACKAGES:
        root = Path(sysconfig.get_paths()["stdlib"]) if name == "stdlib" else site / name
        if root.is_dir():
            found = _package_sentences(root, per_package, stdlib=name == "stdlib")
            if len(found) >= 500:
                pools[name] = found
    _CACHE.parent.mkdir(parents=True, exist_ok=True)
    _CACHE.write_text(json.dumps(pools))
    return pools


def bulk_corpus(n: int, kbs: int = 8, words: int = 200, seed: int = 7) -> list[BulkChunk]:
    """`n` chunks of ~`words` words spread over `kbs` knowledge bases (one per package).

    A kb's chunks are consecutive windows over its package's sentences, as windows over real
    documents would be; once a package's text is used up, the next pass walks its sentences
    in a new random order, so no two chunks are the same. Documents hold 20 chunks.
    """
    rng = random.Random(seed)
    pools = sentence_pools()
    names = sorted(pools, key=lambda k: -len(pools[k]))[:kbs]
    streams = {name: _stream(pools[name], rng) for name in names}
    out: list[BulkChunk] = []
    for i in range(n):
        name = names[i % len(names)]
        parts, count = [], 0
        while count < words:
            sentence = next(streams[name])
            parts.append(sentence)
            count += len(sentence.split())
        doc = i // (len(names) * 20)
        out.append(BulkChunk(f"kb-{name}", f"{name}-{doc}", " ".join(parts)))
    return out


def _stream(sentences: list[str], rng: random.Random) -> Iterator[str]:
    order = list(sentences)
    yield from order
    while True:
        rng.shuffle(order)
        yield from order
