"""Loaders extract structured text from every format and turn bad input into LoadError."""

from __future__ import annotations

import json

import pytest

from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders import LoadLimits, detect_format, load_document
from tests.rag.docs import make_docx, make_pdf, make_zip_bomb

MARKDOWN = """Preface text.

# Guide
Welcome to the guide.

## Install
Run the installer.

```sh
# not a heading
make install
```

Setext Title
============
Under setext.
"""


async def test_txt_is_one_trimmed_section() -> None:
    sections = await load_document(b"\n  Hello there.\n\n", filename="a.txt")
    assert [(s.text, s.start, s.end) for s in sections] == [("Hello there.", 3, 15)]


async def test_markdown_keeps_heading_paths_and_offsets() -> None:
    sections = await load_document(MARKDOWN.encode(), filename="guide.md")
    assert [s.heading_path for s in sections] == [
        [],
        ["Guide"],
        ["Guide", "Install"],
        ["Setext Title"],
    ]
    assert "# not a heading" in sections[2].text
    for section in sections:
        assert MARKDOWN[section.start : section.end] == section.text


async def test_html_drops_boilerplate_and_keeps_headings() -> None:
    body = "Rivers carry sediment to the sea and shape valleys. " * 6
    html = (
        "<html><body><nav><a href='/'>Home</a> <a href='/about'>About</a></nav><article>"
        f"<h1>Rivers</h1><p>{body}</p><h2>Deltas</h2><p>{'Deltas form at river mouths. ' * 5}</p>"
        "</article><footer>Copyright footer</footer></body></html>"
    )
    sections = await load_document(html.encode(), content_type="text/html; charset=utf-8")
    assert sections[0].heading_path == ["Rivers"] and "sediment" in sections[0].text
    assert sections[-1].heading_path == ["Rivers", "Deltas"]
    assert not any("Copyright" in s.text or "About" in s.text for s in sections)


async def test_pdf_keeps_page_numbers() -> None:
    data = make_pdf(["First page about rivers.", "", "Third page about volcanoes."])
    sections = await load_document(data, filename="x.pdf")
    assert [(s.page, s.text) for s in sections] == [
        (1, "First page about rivers."),
        (3, "Third page about volcanoes."),
    ]
    joined = "\n\n".join(s.text for s in sections)
    assert all(joined[s.start : s.end] == s.text for s in sections)


async def test_docx_keeps_headings_and_tables() -> None:
    sections = await load_document(make_docx(), filename="handbook.docx")
    assert [(s.heading_path, s.text) for s in sections] == [
        (["Employee Handbook", "Safety"], "Fire exits are marked in green."),
        (["Employee Handbook", "Safety", "Fire drills"], "Drills happen every quarter."),
        (
            ["Employee Handbook", "Holidays"],
            "Staff get 25 days of leave.\nRegion | Days\nNorth | 27",
        ),
    ]


async def test_csv_rows_become_records_with_offsets() -> None:
    text = 'name;city\nAda;London\n"Grace, H";"New\nYork"\n'
    sections = await load_document(text.encode(), filename="people.csv")
    assert [s.text for s in sections] == [
        "name: Ada\ncity: London",
        "name: Grace, H\ncity: New\nYork",
    ]
    assert text[sections[1].start : sections[1].end].startswith('"Grace')


async def test_json_records_arrays_objects_and_lines() -> None:
    doc = {"items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "meta": {"x": "y"}}], "name": "set"}
    text = json.dumps(doc, indent=1)
    sections = await load_document(text.encode(), filename="d.json")
    assert [(s.heading_path, s.text) for s in sections] == [
        (["items"], "id: 1\ntags: a, b"),
        (["items"], "id: 2\nmeta.x: y"),
        ([], "name: set"),
    ]
    assert json.loads(text[sections[0].start : sections[0].end]) == doc["items"][0]
    lines = await load_document(b'{"q": 1}\n\n{"q": 2}\n', filename="d.jsonl")
    assert [s.text for s in lines] == ["q: 1", "q: 2"]


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"", "a.txt", "empty"),
        (b"   \n", "a.md", "empty"),
        (b"hello", "a.exe", "unsupported_type"),
        (b"%PDF-1.4 garbage \x00\x01 not really", "a.pdf", "corrupt"),
        (b"just text", "a.pdf", "wrong_type"),
        (b"just text", "a.docx", "wrong_type"),
        (b"PK\x03\x04 truncated zip", "a.docx", "corrupt"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "a.txt", "wrong_type"),
        (b'{"a": ', "a.json", "corrupt"),
        (make_zip_bomb(5 * 1024 * 1024), "bomb.docx", "zip_bomb"),
        (make_pdf([""]), "scan.pdf", "no_text"),
    ],
)
async def test_bad_input_is_a_load_error(data: bytes, filename: str, reason: str) -> None:
    with pytest.raises(LoadError) as caught:
        await load_document(data, filename=filename)
    assert caught.value.reason == reason
    assert caught.value.detail


async def test_limits_are_enforced_before_parsing() -> None:
    with pytest.raises(LoadError, match="too_large"):
        await load_document(b"x" * 2000, filename="a.txt", limits=LoadLimits(max_bytes=1000))
    bomb = make_zip_bomb(3 * 1024 * 1024)
    strict = LoadLimits(max_uncompressed_bytes=1024 * 1024, max_compression_ratio=1e9)
    with pytest.raises(LoadError, match="inflate"):
        await load_document(bomb, filename="a.docx", limits=strict)
    two_pages = make_pdf(["a", "b"])
    with pytest.raises(LoadError, match="too_large"):
        await load_document(two_pages, filename="a.pdf", limits=LoadLimits(max_pages=1))


def test_format_detection() -> None:
    assert detect_format("Report.PDF") == "pdf"
    assert detect_format(None, "text/markdown; charset=utf-8") == "md"
    assert detect_format("noext", "application/json") == "json"
    with pytest.raises(LoadError):
        detect_format("x.xlsx")


async def test_cp1252_text_is_decoded() -> None:
    sections = await load_document("Café crème".encode("cp1252"), filename="a.txt")
    assert sections[0].text == "Café crème"
