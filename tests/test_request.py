"""kali.request.Request as a handler sees it: path, segments, query and form bags, headers, cookies, JSON."""

from __future__ import annotations

from typing import Any

import pytest

from kali.request import MissingField
from kali.testing import Client


def echo_json(request: Any) -> Any:
    return {"got": request.json()}


def test_request_fields() -> None:
    seen: dict[str, Any] = {}

    def handler(request: Any) -> Any:
        seen.update(
            method=request.method, target=request.target, path=request.path, segments=request.segments,
            a=request.GET["a"], all_a=request.GET.get_list("a"), none=request.GET.get_list("zz"),
            header=request.headers["X-MIXED-case"], cookies=request.cookies,
            name=request.POST["name"], names=request.POST.get_list("name"))
        with pytest.raises(MissingField) as info:
            request.GET["absent"]
        seen["missing"] = (info.value.status, str(info.value))
        return "ok"

    response = Client(handler).post(
        "/caf%C3%A9/a%2Fb/?a=1&a=%C3%BC&b", data={"name": ["Zoë", "second"]},
        headers={"x-Mixed-Case": "v", "Cookie": 'sid=abc; theme="dark"; broken; sid=second'})
    assert response.status == 200
    assert seen == {
        "method": "POST", "target": "/caf%C3%A9/a%2Fb/?a=1&a=%C3%BC&b", "path": "/café/a/b/",
        "segments": ["café", "a/b", ""], "a": "1", "all_a": ["1", "ü"], "none": [],
        "header": "v", "cookies": {"sid": "abc", "theme": "dark"},
        "name": "Zoë", "names": ["Zoë", "second"],
        "missing": (400, "The query field 'absent' is missing."),
    }
    # Wrong content type and malformed JSON are 400s, not 500s.
    client = Client(echo_json)
    assert client.post("/", body=b'{"a": 1}', headers={"Content-Type": "text/plain"}).status == 400
    assert client.post("/", body=b'{"a": ', headers={"Content-Type": "application/json"}).status == 400
    assert client.post("/", json={"a": [1, "é"]}).json() == {"got": {"a": [1, "é"]}}


# -- JSON bodies --------------------------------------------------------------------------------

def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    client = Client(echo_json)
    response = client.post("/", body=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "nested too deeply" in response.text
    # A reasonable nesting still decodes.
    response = client.post("/", body=b"[" * 50 + b"]" * 50, headers={"Content-Type": "application/json"})
    assert response.status == 200


@pytest.mark.parametrize("body", [b'"\\ud800"', b'{"\\udc00": 1}', b'["ok", {"t": "a\\uDBFFb"}]'])
def test_a_lone_surrogate_in_json_is_a_400(body: bytes) -> None:
    # json.loads accepts "\ud800", but the string cannot be UTF-8 encoded: echoed back (as the
    # json_api example does with a stored note) or stored in SQLite it failed later as a 500.
    response = Client(echo_json).post("/", body=body, headers={"Content-Type": "application/json"})
    assert response.status == 400 and "lone surrogate" in response.text


def test_json_with_paired_surrogates_and_other_escapes_still_decodes() -> None:
    body = b'{"emoji": "\\ud83d\\ude00", "e": "\\u00e9", "raw": "\xc3\xa9"}'
    response = Client(echo_json).post("/", body=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert response.json() == {"got": {"emoji": "\U0001F600", "e": "é", "raw": "é"}}
