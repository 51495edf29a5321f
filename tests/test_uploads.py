"""File uploads: multipart parsing with non-ASCII names, spooling, and FileField in a Formlet (limits, types)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import chromium, parse_response, raw_request, running_server

from kali.forms import CSRF_FIELD, REQUIRED, Entry, FileField, Formlet, csrf_token
from kali.multipart import SPOOL_SIZE, UploadedFile
from kali.request import Request
from kali.response import Response
from kali.testing import Client


def describe_upload(request: Request) -> Response:
    """Echo what the request's form and files decoded to, as JSON."""
    return Response.json({
        "fields": request.POST.pairs(),
        "files": [{"field": name, "filename": f.filename, "type": f.content_type, "size": f.size,
                   "data": f.read().decode("utf-8", "replace")} for name, f in request.files.pairs()],
    })


def test_non_ascii_field_names_values_and_filenames_through_the_client() -> None:
    client = Client(describe_upload)
    r = client.post("/up", data={"prénom": "Zoë \"the\" 王", "note": "line 1\r\nline 2"},
                    files={"pièce": ("résumé 2024 \"final\".txt", "Grüße".encode(), "text/plain; charset=utf-8")})
    assert r.status == 200
    body = r.json()
    assert body["fields"] == [["prénom", "Zoë \"the\" 王"], ["note", "line 1\r\nline 2"]]
    assert body["files"] == [{"field": "pièce", "filename": "résumé 2024 \"final\".txt",
                              "type": "text/plain; charset=utf-8", "size": 7, "data": "Grüße"}]


def chromium_style_body(boundary: str) -> bytes:
    """A body the way Chromium writes it: raw UTF-8 in part headers, %22 for quotes, CRLF kept."""
    return (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="city"\r\n\r\n'
        "Zürich – Ελλάδα\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="doc"; filename="naïve %22quote%22 файл.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "a,b\r\n1,2\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="empty"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode("utf-8")


def test_browser_encoded_upload_through_a_real_server() -> None:
    boundary = "----WebKitFormBoundaryAbC123xyz"
    body = chromium_style_body(boundary)
    with running_server(describe_upload) as server:
        head = (f"POST /up HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        status, headers, raw = parse_response(raw_request(server.port, head + body, timeout=10))
    assert status == 200, raw
    result = json.loads(raw)
    assert result["fields"] == [["city", "Zürich – Ελλάδα"]]
    assert result["files"] == [{"field": "doc", "filename": 'naïve "quote" файл.csv', "type": "text/csv",
                                "size": 8, "data": "a,b\r\n1,2"}], "an empty file input is no upload"


def test_rfc8187_filename_star_wins() -> None:
    boundary = "b0undary"
    body = (f"--{boundary}\r\n"
            "Content-Disposition: form-data; name=\"f\"; filename=\"fallback.txt\"; "
            "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\n"
            f"x\r\n--{boundary}--\r\n").encode("ascii")
    request = Request("POST", "/", headers={"content-type": f"multipart/form-data; boundary={boundary}"},
                      body=body)
    assert request.files["f"].filename == "€ rates.txt"


def test_an_rfc8187_filename_in_utf8_or_latin1_is_still_decoded() -> None:
    def handler(request: Any) -> Any:
        return request.files["f"].filename

    for ext, expected in ((b"UTF-8''%E2%82%AC%20rates.txt", "€ rates.txt"), (b"iso-8859-1'en'%E9t%E9.txt", "été.txt")):
        body = (b'--zz\r\nContent-Disposition: form-data; name="f"; filename="x"; filename*=' + ext
                + b"\r\n\r\ndata\r\n--zz--\r\n")
        response = Client(handler).post("/", body=body, headers={"Content-Type": "multipart/form-data; boundary=zz"})
        assert response.text == expected


@pytest.mark.parametrize("charset", [b"unicode_escape", b"raw_unicode_escape", b"punycode", b"utf-16"])
def test_an_upload_filename_in_an_odd_charset_falls_back_to_the_plain_filename(charset: bytes) -> None:
    # filename*= named any Python codec: some made lone surrogates (a 500 when the name was shown
    # or saved), punycode raised UnicodeError while parsing (a 500 at once).
    def handler(request: Any) -> Any:
        return ["<p>", request.files["f"].filename, "</p>"]

    body = (b'--zz\r\nContent-Disposition: form-data; name="f"; filename="plain.txt"; filename*='
            + charset + b"''%5Cud800\r\n\r\ndata\r\n--zz--\r\n")
    response = Client(handler).post("/", body=body, headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert (response.status, response.text) == (200, "<p>plain.txt</p>")


def test_client_path_is_reduced_to_the_file_name() -> None:
    r = Client(describe_upload).post("/up", files={"f": ("C:\\Users\\zoë\\report.pdf", b"%PDF", "application/pdf")})
    assert r.json()["files"][0]["filename"] == "report.pdf"


def test_large_upload_is_spooled_to_disk_and_saved_intact(tmp_path: Path) -> None:
    data = os.urandom(SPOOL_SIZE + 12345)
    seen: dict[str, Any] = {}

    def handler(request: Request) -> Response:
        upload = request.files["big"]
        # SpooledTemporaryFile has no public "on disk?" flag; _rolled is how it tracks it.
        seen["rolled"] = upload.file._rolled  # type: ignore[attr-defined]
        seen["size"] = upload.size
        upload.save(tmp_path / "copy.bin")
        small = request.files["small"]
        seen["small_rolled"] = small.file._rolled  # type: ignore[attr-defined]
        return Response.plain_text("ok")

    r = Client(handler).post("/up", files={"big": ("big.bin", data, "application/octet-stream"),
                                           "small": ("small.txt", b"tiny", "text/plain")})
    assert r.status == 200
    assert seen == {"rolled": True, "size": len(data), "small_rolled": False}
    assert (tmp_path / "copy.bin").read_bytes() == data


# -- FileField in a Formlet -----------------------------------------------------------------------

class Attach(Formlet):
    """A form with a title and a limited attachment; save keeps what arrived."""

    def __init__(self, saved: list[dict[str, Any]], **file_options: Any) -> None:
        super().__init__({"title": Entry(lens=REQUIRED), "attachment": FileField(**file_options)})
        self.saved = saved

    def save(self, native: dict[str, Any], request: Any) -> Any:
        upload = native["attachment"]
        files = upload if isinstance(upload, list) else [upload] if upload else []
        self.saved.append({"title": native["title"],
                           "files": [(f.filename, f.content_type, f.size, f.read()) for f in files]})
        return Response.redirect("/done")


def submit(formlet: Formlet, files: dict[str, Any], data: dict[str, str] | None = None) -> Any:
    client = Client(formlet.handle)
    fields = {"title": "Quarterly", CSRF_FIELD: csrf_token("/attach"), **(data or {})}
    return client.post("/attach", data=fields, files=files)


def test_form_with_file_field_is_multipart() -> None:
    r = Client(Attach([]).handle).get("/attach")
    assert 'enctype="multipart/form-data"' in r.text
    assert '<input name="attachment" id="attachment" type="file">' in r.text


def test_upload_is_given_to_save() -> None:
    saved: list[dict[str, Any]] = []
    r = submit(Attach(saved, max_size=100), {"attachment": ("naïve.txt", b"hello", "text/plain")},
               data={"title": "Überblick"})
    assert r.status == 303
    assert saved == [{"title": "Überblick", "files": [("naïve.txt", "text/plain", 5, b"hello")]}]


def test_upload_over_the_limit_is_a_validation_error_keeping_other_input() -> None:
    saved: list[dict[str, Any]] = []
    r = submit(Attach(saved, max_size=1024), {"attachment": ("photo.jpg", b"x" * 1536, "image/jpeg")},
               data={"title": "Holiday <2024>"})
    assert r.status == 422
    assert saved == []
    assert ('<span class="field-error" id="attachment-error">The file photo.jpg is 1.5 KB; '
            'the largest accepted is 1 KB.</span>') in r.text
    assert 'value="Holiday &lt;2024&gt;"' in r.text


def test_big_spooled_upload_over_the_limit() -> None:
    r = submit(Attach([], max_size=1 << 20), {"attachment": ("video.mp4", b"\0" * (3 << 20), "video/mp4")})
    assert r.status == 422
    assert "The file video.mp4 is 3 MB; the largest accepted is 1 MB." in r.text


def test_file_chosen_before_a_failed_submission_is_mentioned() -> None:
    r = submit(Attach([]), {"attachment": ("plan.pdf", b"%PDF", "application/pdf")}, data={"title": " "})
    assert r.status == 422
    assert "Choose plan.pdf again" in r.text


def test_accept_is_checked_on_the_server() -> None:
    saved: list[dict[str, Any]] = []
    formlet = Attach(saved, accept=".pdf,image/*")
    r = submit(formlet, {"attachment": ("notes.txt", b"hi", "text/plain")})
    assert r.status == 422
    assert "The file notes.txt (text/plain) is not of an accepted type (.pdf,image/*)." in r.text
    assert submit(formlet, {"attachment": ("scan.PDF", b"%PDF", "application/octet-stream")}).status == 303
    assert submit(formlet, {"attachment": ("cat.webp", b"RIFF", "image/webp")}).status == 303
    assert [s["files"][0][0] for s in saved] == ["scan.PDF", "cat.webp"]


def test_required_file_and_optional_file() -> None:
    r = submit(Attach([], required=True), {"other": ("x.txt", b"x", "text/plain")})
    assert r.status == 422
    assert "Choose a file." in r.text
    saved: list[dict[str, Any]] = []
    assert submit(Attach(saved), {"other": ("x.txt", b"x", "text/plain")}).status == 303
    assert saved == [{"title": "Quarterly", "files": []}]


def test_multiple_files() -> None:
    saved: list[dict[str, Any]] = []
    r = submit(Attach(saved, multiple=True, max_size=10),
               {"attachment": [("a.txt", b"A", "text/plain"), ("b.txt", b"BB", "text/plain")]})
    assert r.status == 303
    assert saved[0]["files"] == [("a.txt", "text/plain", 1, b"A"), ("b.txt", "text/plain", 2, b"BB")]


def test_form_without_multipart_encoding_says_so() -> None:
    client = Client(Attach([]).handle)
    r = client.post("/attach", data={"title": "x", "attachment": "report.pdf", CSRF_FIELD: csrf_token("/attach")})
    assert r.status == 422
    assert 'the &lt;form&gt; needs enctype=&quot;multipart/form-data&quot;' in r.text


def test_uploaded_file_repr_and_close() -> None:
    seen: list[UploadedFile] = []

    def keep(request: Request) -> str:
        seen.append(request.files["f"])
        return "ok"

    Client(keep).post("/", files={"f": ("ü.txt", b"abc", "text/plain")})
    assert repr(seen[0]) == "<UploadedFile f='ü.txt' text/plain 3 bytes>"
    assert seen[0].file.closed, "the request's temporary files are released after the response"
    assert (seen[0].name, seen[0].filename, seen[0].size) == ("f", "ü.txt", 3)


@pytest.mark.parametrize("size,limit,status", [(2000, 1000, 413), (500, 1000, 200)])
def test_server_body_limit(size: int, limit: int, status: int) -> None:
    body = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n"
            + b"x" * size + b"\r\n--b--\r\n")
    with running_server(describe_upload, max_body_size=limit) as server:
        head = (f"POST /up HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        got, _, _ = parse_response(raw_request(server.port, head + body, timeout=10))
    assert got == status


def test_chromium_submits_empty_and_quoted_name_multipart_forms(tmp_path: Path) -> None:
    # Chromium writes a multipart form without fields as the close delimiter alone, and a
    # file input left empty as a part with filename="": both must arrive as an (empty) form.
    seen: list[Any] = []

    def app(request: Request) -> Response | str:
        if request.method == "POST":
            seen.append((request.headers["content-type"].startswith("multipart/form-data"),
                         request.POST.pairs(), [(n, f.filename) for n, f in request.files.pairs()]))
            return "saved"
        return ('<form id="empty" method="post" enctype="multipart/form-data"></form>'
                '<form id="file" method="post" enctype="multipart/form-data">'
                '<input type="file" name="f"><input name="t" value=\'say "hi"\'></form>')

    with running_server(app) as server, chromium(tmp_path) as context:
        page = context.new_page()
        for form in ("empty", "file"):
            page.goto(server.url)
            with page.expect_navigation():
                page.evaluate(f"document.getElementById('{form}').submit()")
            assert page.text_content("body") == "saved"
    assert seen == [(True, [], []), (True, [("t", 'say "hi"')], [])]
