"""Builders of real test documents (PDF with a text layer, DOCX, zip bombs) in memory."""

from __future__ import annotations

import io
import zipfile


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF whose pages carry `pages` as text (Helvetica, one line each)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for text in pages:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 "
            b"/BaseFont /Helvetica >> >> >> >>" % content
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def make_docx() -> bytes:
    """A DOCX with a title, nested headings, paragraphs and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Employee Handbook", level=0)
    document.add_heading("Safety", level=1)
    document.add_paragraph("Fire exits are marked in green.")
    document.add_heading("Fire drills", level=2)
    document.add_paragraph("Drills happen every quarter.")
    document.add_heading("Holidays", level=1)
    document.add_paragraph("Staff get 25 days of leave.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Days"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "27"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb(inflated_bytes: int) -> bytes:
    """A .docx-shaped zip whose one member inflates from almost nothing to `inflated_bytes`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * inflated_bytes)
    return out.getvalue()
