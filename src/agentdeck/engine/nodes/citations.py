"""Numbered passages and the `[n]` citations that refer to them. Pure: no I/O.

The engine must not import `agentdeck.rag` (its stores pull in the ORM), so this is the
engine's own small version of `rag.retrieval`'s citation helpers, working on the plain
passage dicts the `RetrievalPort` returns.

Numbering: passages are numbered from 1 in rank order. A `CitationBook` keeps numbers
stable across several searches (an agent's knowledge tool): a chunk seen again keeps its
number, a new chunk gets the next one.

Markers: `[1]`, `[1, 3]` and runs like `[1][2]` count, unless glued to a word or a closing
bracket (`x[1]`, `f(a)[2]` stay code). Markers naming no passage are removed from the text,
so a reader never sees a citation that points nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EXCERPT_CHARS = 500
"""Longest `text` of a citation in a node output (the full chunk is in the passages)."""

_MARKERS = re.compile(
    r"(?P<pre>[ \t]*)(?<![\w)\]])(?P<marks>(?:\[\d{1,4}(?:[ \t]*,[ \t]*\d{1,4})*\])+)"
)
_ONE = re.compile(r"\[([^\]]*)\]")
_CITATION_KEYS = (
    "n",
    "kb_id",
    "document_id",
    "document_title",
    "page",
    "heading",
    "heading_path",
    "start",
    "end",
    "source_url",
)

Passage = dict[str, Any]
Key = tuple[Any, ...]


def passage_key(passage: Mapping[str, Any]) -> Key:
    """What makes two hits the same chunk: its document and character span."""
    if passage.get("document_id") is not None and passage.get("start") is not None:
        return (
            passage.get("kb_id"),
            passage["document_id"],
            passage["start"],
            passage.get("end"),
        )
    return ("text", passage.get("text"))


def normalise(hit: Mapping[str, Any], n: int) -> Passage:
    """A port hit as a numbered passage: `n` first, the citation fields always present."""
    heading_path = hit.get("heading_path")
    heading = hit.get("heading")
    if heading is None and isinstance(heading_path, list) and heading_path:
        heading = " > ".join(str(h) for h in heading_path)
    passage: Passage = {
        "n": n,
        "text": str(hit.get("text") or ""),
        "score": hit.get("score"),
        "document_id": hit.get("document_id"),
        "document_title": hit.get("document_title"),
        "kb_id": hit.get("kb_id"),
        "page": hit.get("page"),
        "heading": heading,
        "start": hit.get("start"),
        "end": hit.get("end"),
    }
    for key, value in hit.items():
        passage.setdefault(str(key), value)
    return passage


def label(passage: Mapping[str, Any]) -> str:
    """Human-readable source: ``Handbook, p. 3, Safety > Fire``."""
    parts = [str(passage.get("document_title") or passage.get("document_id") or "source")]
    if passage.get("page") is not None:
        parts.append(f"p. {passage['page']}")
    path = passage.get("heading_path")
    if isinstance(path, list) and path:
        parts.append(" > ".join(str(h) for h in path))
    elif passage.get("heading"):
        parts.append(str(passage["heading"]))
    return ", ".join(parts)


def format_passages(passages: Iterable[Mapping[str, Any]]) -> str:
    """The sources block for a prompt: ``[n] label`` then the passage text, per passage."""
    return "\n\n".join(
        f"[{p['n']}] {label(p)}\n{str(p.get('text') or '').strip()}" for p in passages
    )


def citation(passage: Mapping[str, Any]) -> dict[str, Any]:
    """The citation of a passage in a node output: where it is, and a text excerpt."""
    out = {key: passage.get(key) for key in _CITATION_KEYS if key in passage}
    text = str(passage.get("text") or "")
    out["text"] = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    return out


class CitationBook:
    """The numbered passages one node may cite, kept stable as more are added."""

    def __init__(self, passages: Iterable[Mapping[str, Any]] = ()) -> None:
        self.by_number: dict[int, Passage] = {}
        self._by_key: dict[Key, int] = {}
        for passage in passages:
            n = passage.get("n")
            if isinstance(n, int) and not isinstance(n, bool) and n not in self.by_number:
                self.by_number[n] = dict(passage)  # the first source using a number wins
                self._by_key.setdefault(passage_key(passage), n)

    def add(self, hits: Sequence[Mapping[str, Any]]) -> list[Passage]:
        """Number `hits` (best first): known chunks keep their number, new ones continue."""
        out: list[Passage] = []
        for hit in hits:
            key = passage_key(hit)
            n = self._by_key.get(key)
            if n is None:
                n = max(self.by_number, default=0) + 1
                self._by_key[key] = n
                self.by_number[n] = normalise(hit, n)
            out.append(normalise(hit, n))
        return out

    def cite(self, answer: str) -> tuple[str, list[dict[str, Any]]]:
        """(answer without unknown markers, citations in order of first mention)."""
        found: list[int] = []

        def keep(match: re.Match[str]) -> str:
            kept: list[str] = []
            for group in _ONE.findall(match.group("marks")):
                numbers = [int(raw) for raw in group.split(",")]
                known = [n for n in numbers if n in self.by_number]
                found.extend(n for n in known if n not in found)
                if known:
                    kept.append("[" + ", ".join(str(n) for n in known) + "]")
            return match.group("pre") + "".join(kept) if kept else ""

        text = _MARKERS.sub(keep, answer)
        return text, [citation(self.by_number[n]) for n in found]


def cited_output(answer: str, sources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{text, citations}` of an answer that may cite `sources` (numbered passages)."""
    text, citations = CitationBook(sources).cite(answer)
    return {"text": text, "citations": citations}
