"""NUL characters are refused in document titles, file names and metadata, in JSON and in
multipart uploads, with a 422 naming the field (issue 11 item 14); nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx

from tests.knowledge.support import KB


def _refused(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == field, resp.json()


async def _documents(kb: KB) -> list[Any]:
    resp = await kb.client.get(f"{kb.url}/documents", headers=kb.tenant.headers)
    return list(resp.json()["items"])


async def _raw_upload(kb: KB, filename: bytes, data: bytes) -> httpx.Response:
    """A multipart upload whose file name holds bytes httpx would percent-encode."""
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + data
        + b"\r\n--b0undary--\r\n"
    )
    headers = {**kb.tenant.headers, "Content-Type": "multipart/form-data; boundary=b0undary"}
    return await kb.client.post(f"{kb.url}/documents", content=body, headers=headers)


async def test_json_documents_with_nul_are_refused(kb: KB) -> None:
    _refused(await kb.add_text("Hand\x00book", "Fire exits are green."), "title")
    _refused(await kb.add_text("Handbook", "x", metadata={"team": "h\x00r"}), "metadata.team")
    assert await _documents(kb) == []


async def test_uploads_with_nul_in_the_title_file_name_or_metadata_are_refused(kb: KB) -> None:
    data = b"Fire exits are green."
    _refused(await kb.upload("notes.txt", data, "text/plain", title="No\x00tes"), "title")
    _refused(await _raw_upload(kb, b"no\x00tes.txt", data), "file")
    _refused(
        await kb.upload("notes.txt", data, "text/plain", metadata='{"team": "h\\u0000r"}'),
        "metadata.team",
    )
    assert await _documents(kb) == []


async def test_nul_inside_an_uploaded_file_is_content_not_a_field(kb: KB) -> None:
    resp = await kb.upload("notes.txt", b"Fire exits\x00 are green.", "text/plain", title="Notes")
    assert resp.status_code in (201, 202), resp.text
    assert resp.json()["title"] == "Notes"
