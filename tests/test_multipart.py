"""kali.multipart: the outside conformance suite, and the rules that keep every part or refuse the body."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import multipart_form_data_conformance as conformance
import pytest

from kali.http import HTTPError
from kali.multipart import parse_header_params, parse_multipart
from kali.request import Request

# -- the multipart-form-data-conformance suite (PyPI), run against kali.multipart ---------------

CASES = sorted(path.parent for path in conformance.get_tests_dir().glob("*/*/test.json"))

#: Cases where kali gives another answer than the suite's on purpose, and why.
DIFFERENT_ON_PURPOSE = {
    # obs-fold in a part header: refused, as in an HTTP head (RFC 9112 5.2); no browser folds.
    "085-header-folding": "refused",
    # Two Content-Disposition fields name two different fields: refused rather than guessing
    # (the suite's notes: "implementations that reject duplicates are also correct").
    "208-duplicate-headers": "refused",
}


def load(case: Path) -> tuple[dict[str, Any], str, bytes]:
    """(test.json, the Content-Type header, the raw body) of one suite case, read the way the suite says."""
    spec = json.loads((case / "test.json").read_text(encoding="utf-8"))
    inputs = spec.get("input", {})
    headers = json.loads((case / inputs.get("headers_file", "headers.json")).read_text(encoding="utf-8"))
    body = (case / inputs.get("body_file", "input.raw")).read_bytes()
    if inputs.get("body_encoding") == "base64":
        body = base64.b64decode(body)
    content_type = next(v for k, v in headers.items() if k.lower() == "content-type")
    return spec, content_type, body


def body_of(part: dict[str, Any]) -> tuple[str, Any]:
    """What the suite says a part's body is: its text, bytes or digest."""
    if part.get("body_text") is not None:
        return "bytes", part["body_text"].encode("utf-8")
    if part.get("body_base64") is not None:
        return "bytes", base64.b64decode(part["body_base64"])
    return "sha256", part["body_sha256"]


def kali_view(part: dict[str, Any]) -> dict[str, Any] | None:
    """The suite's expected part as kali presents it (None: kali leaves it out). Each rule is documented
    kali behaviour (docs/responses.md): fields are text and files are UploadedFiles, split apart;
    a file input left empty is no upload; a filename is its base name, filename* wins; a file without
    Content-Type is application/octet-stream."""
    if part.get("filename") is None and part.get("filename_star") is None:
        return {"kind": "field", "name": part["name"], "body": body_of(part)}
    filename = part.get("filename_star") or part["filename"]
    if filename == "" and part.get("body_size") == 0:
        return None
    return {"kind": "file", "name": part["name"], "filename": filename.replace("\\", "/").rsplit("/", 1)[-1],
            "content_type": part.get("content_type") or "application/octet-stream", "body": body_of(part),
            "headers": part.get("headers") or {}}


def test_the_suite_is_there_and_covers_the_cases_that_matter() -> None:
    names = {case.name for case in CASES}
    assert len(CASES) >= 50
    assert {"025-filename-with-quotes", "107-preamble-content", "201-wrong-boundary"} <= names
    assert set(DIFFERENT_ON_PURPOSE) <= names


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_conformance_case(case: Path) -> None:
    spec, content_type, body = load(case)
    expected = spec["expected"]
    # kali's multipart parser is strict about line ends; a case for lenient parsers is a body a strict one refuses.
    valid = expected["valid"] and spec.get("parser_options", {}).get("strict_line_endings", True)
    if DIFFERENT_ON_PURPOSE.get(case.name) == "refused":
        valid = False
    request = Request("POST", "/", headers={"Content-Type": content_type}, body=body)
    if not valid:
        with pytest.raises(HTTPError) as info:
            request.POST
        assert info.value.status == 400
        return
    wanted = [view for view in map(kali_view, expected["parts"]) if view is not None]
    fields = request.POST.pairs()
    files = request.files.pairs()
    assert [(p["name"], p["body"]) for p in wanted if p["kind"] == "field"] == \
        [(name, ("bytes", value.encode("utf-8"))) for name, value in fields]
    wanted_files = [p for p in wanted if p["kind"] == "file"]
    assert len(files) == len(wanted_files)
    for want, (name, upload) in zip(wanted_files, files):
        data = upload.read()
        kind, value = want["body"]
        assert (name, upload.filename, upload.content_type) == (want["name"], want["filename"], want["content_type"])
        assert (data if kind == "bytes" else hashlib.sha256(data).hexdigest()) == value
        for header, text in want["headers"].items():
            assert upload.headers[header] == text
    request.close()


# -- kali's own rules -----------------------------------------------------------------------------

def parse(body: bytes, boundary: str = "b") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    fields, files = parse_multipart(io.BytesIO(body), boundary)
    return fields, [(name, upload.filename) for name, upload in files]


def status(body: bytes, boundary: str = "b") -> int:
    with pytest.raises(HTTPError) as info:
        parse_multipart(io.BytesIO(body), boundary)
    return info.value.status


PART = b'Content-Disposition: form-data; name="a"\r\n\r\n1\r\n'


def test_the_first_boundary_opens_the_body_or_follows_a_preamble_line() -> None:
    assert parse(b"--b\r\n" + PART + b"--b--\r\n") == ([("a", "1")], [])
    # RFC 2046 5.1.1: text before the first boundary line is a preamble, ignored.
    assert parse(b"This is a preamble.\r\nsecond line\r\n--b\r\n" + PART + b"--b--\r\n") == ([("a", "1")], [])
    # The boundary must start a line; 'junk--b' would make the first part a preamble: refused.
    assert status(b"junk--b\r\n" + PART + b"--b--\r\n") == 400
    assert status(b"junk\r\n" + PART + b"--b--\r\n") == 400          # no boundary line at all


def test_a_part_under_another_boundary_is_refused_not_dropped() -> None:
    # The declared boundary appears only later: the part before it would be lost without a word.
    body = b'--other\r\nContent-Disposition: form-data; name="lost"\r\n\r\nx\r\n--b\r\n' + PART + b"--b--\r\n"
    assert status(body) == 400
    assert status(b"preamble\r\n--other\r\n\r\n--b\r\n" + PART + b"--b--\r\n") == 400


def test_a_closing_boundary_first_is_an_empty_form_only_when_nothing_follows() -> None:
    # Chromium sends exactly this for a multipart form without fields (tested in test_uploads.py).
    assert parse(b"--b--\r\n") == ([], [])
    assert parse(b"--b--") == ([], [])
    # A part after the close delimiter would be dropped: refused.
    assert status(b"--b--\r\n--b\r\n" + PART + b"--b--\r\n") == 400
    assert status(b"--b\r\n" + PART + b"--b--\r\n--b\r\n" + PART + b"--b--\r\n") == 400
    # An epilogue without a boundary is ignored (RFC 2046).
    assert parse(b"--b\r\n" + PART + b"--b--\r\nepilogue text\r\n") == ([("a", "1")], [])


def test_escaped_quotes_in_a_filename() -> None:
    def upload(disposition: bytes) -> list[tuple[str, str]]:
        return parse(b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\nx\r\n--b--\r\n")[1]

    assert upload(b'name="f"; filename="a\\"b.txt"') == [("f", 'a"b.txt')]
    assert upload(b'name="f"; filename="a;b \\"c\\".txt"') == [("f", 'a;b "c".txt')]
    # An old browser's Windows path keeps its backslashes (then only the base name is kept).
    assert upload(b'name="f"; filename="C:\\Users\\me\\notes.txt"') == [("f", "notes.txt")]
    assert upload(b'name="f"; filename="%22quoted%22.txt"') == [("f", '"quoted".txt')]


def test_a_part_with_two_content_dispositions_is_refused() -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"\r\n'
            b"\r\nx\r\n--b--\r\n")
    assert status(body) == 400


def test_parameters_are_separated_by_sp_and_htab_only() -> None:
    assert parse_header_params('multipart/form-data;\t boundary= "x y" ') == ("multipart/form-data",
                                                                              {"boundary": "x y"})
    # U+00A0 and U+0085 are obs-text, not whitespace: they stay part of the value.
    assert parse_header_params("text/plain; charset=utf-8\xa0")[1] == {"charset": "utf-8\xa0"}
    assert parse_header_params("\x85text/plain")[0] == "\x85text/plain"
