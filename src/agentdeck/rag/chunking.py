"""Token-aware chunking with overlap.

Two strategies:

- ``structure`` (default) never lets a chunk cross a heading or a page break (so a citation's
  page and heading are exact): consecutive small sections under the same heading path on the
  same page are packed together, long sections are windowed on their own.
- ``fixed`` windows the whole document as one token stream, ignoring headings; each chunk takes
  the heading path and page where it starts.

Token counts come from `default_tokenizer()` (MiniLM's WordPiece tokenizer, or its regex
approximation). Every chunk keeps its position in the document, heading path, page and
character offsets (see `Section` for what offsets point into).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agentdeck.rag.tokenizer import Tokenizer, default_tokenizer
from agentdeck.rag.types import Chunk, Section

ChunkStrategy = Literal["fixed", "structure"]
_JOIN = "\n\n"


@dataclass(frozen=True, slots=True)
class ChunkOptions:
    """How to cut. `max_tokens` stays below MiniLM's 256-token window by default."""

    max_tokens: int = 200
    overlap: int = 40
    strategy: ChunkStrategy = "structure"

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        if not 0 <= self.overlap < self.max_tokens // 2 + 1:
            raise ValueError("overlap must be >= 0 and at most half of max_tokens")


@dataclass(frozen=True, slots=True)
class _Token:
    section: int
    start: int  # in the section's text
    end: int


class _Builder:
    """Turns token runs into `Chunk`s with consistent offsets and positions."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self.sections = sections
        self.chunks: list[Chunk] = []

    def _offset(self, index: int, local: int) -> int:
        section = self.sections[index]
        if section.end - section.start == len(section.text):
            return section.start + local
        # Record loaders reformat text: offsets can only point at the whole record.
        return section.start if local < len(section.text) else section.end

    def add(self, tokens: Sequence[_Token]) -> None:
        pieces: list[str] = []
        run_start = 0
        for i, token in enumerate(tokens):
            last = i + 1 == len(tokens) or tokens[i + 1].section != token.section
            if last:
                text = self.sections[token.section].text
                pieces.append(text[tokens[run_start].start : token.end])
                run_start = i + 1
        first, final = tokens[0], tokens[-1]
        head = self.sections[first.section]
        self.chunks.append(
            Chunk(
                text=_JOIN.join(pieces),
                position=len(self.chunks),
                heading_path=list(head.heading_path),
                page=head.page,
                start=self._offset(first.section, first.start),
                end=self._offset(final.section, final.end),
                token_count=len(tokens),
            )
        )

    def window(self, tokens: Sequence[_Token], options: ChunkOptions) -> None:
        step = options.max_tokens - options.overlap
        for begin in range(0, len(tokens), step):
            self.add(tokens[begin : begin + options.max_tokens])
            if begin + options.max_tokens >= len(tokens):
                break


def _tokens(sections: Sequence[Section], tokenizer: Tokenizer) -> list[list[_Token]]:
    return [
        [_Token(i, s, e) for s, e in tokenizer.spans(section.text)]
        for i, section in enumerate(sections)
    ]


def chunk_sections(
    sections: Sequence[Section],
    options: ChunkOptions | None = None,
    tokenizer: Tokenizer | None = None,
) -> list[Chunk]:
    """Cut loader sections into chunks of at most `options.max_tokens` tokens.

    Windows over long text overlap by `options.overlap` tokens. Pure and deterministic;
    raises `ValueError` only for invalid options (checked by `ChunkOptions`).
    """
    options = options or ChunkOptions()
    per_section = _tokens(sections, tokenizer or default_tokenizer())
    builder = _Builder(sections)
    if options.strategy == "fixed":
        stream = [token for tokens in per_section for token in tokens]
        if stream:
            builder.window(stream, options)
        return builder.chunks
    group: list[_Token] = []
    group_path: list[str] | None = None
    group_page: int | None = None
    for section, tokens in zip(sections, per_section, strict=True):
        if not tokens:
            continue
        fits = len(group) + len(tokens) <= options.max_tokens
        moved = section.heading_path != group_path or section.page != group_page
        if group and (moved or not fits):
            builder.add(group)
            group = []
        if len(tokens) > options.max_tokens:
            builder.window(tokens, options)
            continue
        group.extend(tokens)
        group_path, group_page = section.heading_path, section.page
    if group:
        builder.add(group)
    return builder.chunks


async def chunk_document(
    sections: Sequence[Section],
    options: ChunkOptions | None = None,
    tokenizer: Tokenizer | None = None,
) -> list[Chunk]:
    """`chunk_sections` in a worker thread (tokenizing long documents is CPU work)."""
    return await asyncio.to_thread(chunk_sections, sections, options, tokenizer)


def embedding_text(chunk: Chunk) -> str:
    """The text to embed for a chunk: its heading path as context, then its text."""
    if not chunk.heading_path:
        return chunk.text
    return " > ".join(chunk.heading_path) + "\n" + chunk.text
