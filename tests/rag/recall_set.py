"""The labelled retrieval set in `tests/rag/data/recall/` and its recall@k evaluation.

The passages are original writing made for this project (CC0): 17 Markdown documents of short
factual sections on everyday and workplace topics, with near neighbours on purpose (coffee and
tea, dogs and cats, plumbing and garden watering, IT, travel and leave policies, bicycle
maintenance and cycling safety), so sections compete with similar ones. Each question names
the document and the section heading that answer it. ``paraphrase`` questions use other words
than their section, so dense vectors matter; ``keyword`` questions hinge on a rare name, code
or number, so full text matters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentdeck.rag import Embedder, SourceDocument, ingest_documents, retrieve
from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.types import SearchMode

DATA = Path(__file__).parent / "data" / "recall"
MODES: tuple[SearchMode, ...] = ("vector", "fulltext", "hybrid")


@dataclass(frozen=True)
class Question:
    text: str
    doc_id: str
    heading: str
    kind: str  # "paraphrase" or "keyword"


@dataclass(frozen=True)
class Document:
    doc_id: str
    filename: str
    title: str
    data: bytes


@dataclass(frozen=True)
class RecallSet:
    documents: list[Document]
    questions: list[Question]


def load_recall_set() -> RecallSet:
    documents = []
    for path in sorted(DATA.glob("*.md")):
        text = path.read_text()
        title = text.splitlines()[0].lstrip("# ").strip()
        documents.append(Document(path.stem, path.name, title, text.encode()))
    raw = json.loads((DATA / "questions.json").read_text())
    questions = [Question(q["q"], q["doc"], q["heading"], q["kind"]) for q in raw]
    return RecallSet(documents, questions)


async def recall_at_k(
    store: VectorStore, embedder: Embedder, recall_set: RecallSet, *, k: int = 5, kb: str = "recall"
) -> Mapping[str, float]:
    """Ingest the set into `kb` of `store` and return recall@k per mode, also split by kind
    (keys ``"hybrid"``, ``"hybrid/paraphrase"``, ...), and recall@1 (``"hybrid@1"``). A
    question counts as found when one of the top k chunks comes from its document under its
    heading."""
    sources = [
        SourceDocument(d.doc_id, d.data, d.filename, title=d.title) for d in recall_set.documents
    ]
    await ingest_documents(store, embedder, kb, sources)
    found: dict[str, int] = {}
    totals: dict[str, int] = {}
    for mode in MODES:
        for q in recall_set.questions:
            hits = await retrieve(store, embedder, [kb], q.text, top_k=k, mode=mode)
            right = [h.document_id == q.doc_id and q.heading in h.heading_path for h in hits]
            for key, ok in (
                (mode, any(right)),
                (f"{mode}/{q.kind}", any(right)),
                (f"{mode}@1", bool(right) and right[0]),
            ):
                found[key] = found.get(key, 0) + ok
                totals[key] = totals.get(key, 0) + 1
    return {key: found[key] / totals[key] for key in totals}
