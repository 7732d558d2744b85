"""Plain text, Markdown and HTML: text with a heading path per section."""

from __future__ import annotations

import re

from agentdeck.rag.types import Section

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) of `text` so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def load_txt(text: str) -> list[Section]:
    """One section holding the whole (trimmed) text."""
    start, end = trimmed(text, 0, len(text))
    return [Section(text[start:end], [], None, start, end)] if end > start else []


def _headings(lines: list[str]) -> dict[int, tuple[int, str, bool]]:
    """Line index -> (level, title, is_setext) for every heading outside fenced code."""
    found: dict[int, tuple[int, str, bool]] = {}
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        atx = _ATX.match(line)
        if atx:
            found[i] = (len(atx.group(1)), atx.group(2).strip(), False)
        elif (
            i > 0
            and _SETEXT.match(line)
            and lines[i - 1].strip()
            and i - 1 not in found
            and not lines[i - 1].lstrip().startswith(("-", "*", ">"))
        ):
            level = 1 if line.strip().startswith("=") else 2
            found[i - 1] = (level, lines[i - 1].strip(), True)
    return found


def load_markdown(text: str) -> list[Section]:
    """Sections between headings; each keeps the path of headings above it.

    ATX (``# Title``) and setext (underlined) headings are recognised; ``#`` inside fenced
    code blocks is not a heading. Offsets point into `text`.
    """
    lines = text.splitlines(keepends=True)
    headings = _headings([line.rstrip("\r\n") for line in lines])
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body_start = 0
    skip_next = False

    def flush(until: int) -> None:
        start, end = trimmed(text, body_start, until)
        if end > start:
            sections.append(Section(text[start:end], [t for _, t in path], None, start, end))

    for i in range(len(lines)):
        if skip_next:
            skip_next = False
            body_start = offsets[i + 1]
            continue
        if i not in headings:
            continue
        flush(offsets[i])
        level, title, setext = headings[i]
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        skip_next = setext
        body_start = offsets[i + 1]
    flush(len(text))
    return sections


def load_html(html: str) -> list[Section]:
    """Main content of a web page (trafilatura), with headings kept as a Markdown path.

    Boilerplate (menus, footers) is dropped. Pages too small for trafilatura's extractor fall
    back to all visible text. Offsets point into the extracted Markdown.
    """
    import trafilatura

    extracted = trafilatura.extract(
        html,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
    )
    if not extracted:
        extracted = trafilatura.html2txt(html) or _all_text(html)
    return load_markdown(extracted)


def _all_text(html: str) -> str:
    """Every text node of the page, for fragments too small for trafilatura."""
    from lxml import html as lxml_html
    from lxml.etree import ParserError

    try:
        root = lxml_html.fromstring(html)
    except (ParserError, ValueError):
        return ""
    for element in root.xpath("//script|//style"):
        element.drop_tree()
    return str(root.text_content())
