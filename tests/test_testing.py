"""kali.testing.Client: raw requests through the real parser, responses as the browser gets them."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from kali.http import HTTPError
from kali.request import Request
from kali.response import FileBody, Pause, Response
from kali.security import secure
from kali.testing import Client, TestResponse
from support import parse_response, raw_request, running_server


def echo(request: Request) -> dict[str, Any]:
    """Everything a handler can see of a request, as JSON."""
    files = {name: [[f.filename, f.content_type, f.read().decode("utf-8", "replace")]
                    for f in request.files.get_list(name)] for name in request.files}
    return {
        "method": request.method, "target": request.target, "path": request.path,
        "query": request.GET.pairs(), "form": request.POST.pairs(), "files": files,
        "cookies": request.cookies, "headers": request.headers.items(),
        "body": request.body.decode("utf-8", "replace") if not files else "",
        "server": list(request.server), "client": list(request.client), "scheme": request.scheme,
    }


# -- the raw request -----------------------------------------------------------------

def test_raw_get_is_what_a_browser_sends() -> None:
    raw = Client(echo).build_request("GET", "/a b/é?x=1#frag", query={"tag": ["a", "b c"], "n": 3})
    assert raw == (b"GET /a%20b/%C3%A9?x=1&tag=a&tag=b+c&n=3 HTTP/1.1\r\n"
                   b"Host: 127.0.0.1:8080\r\n\r\n")


def test_query_as_pairs_and_repeated_values_reach_the_handler() -> None:
    r = Client(echo).get("/q", query=[("k", "1"), ("k", "2"), ("ü", "ß & =")])
    assert r.json()["query"] == [["k", "1"], ["k", "2"], ["ü", "ß & ="]]


def test_header_names_merge_case_insensitively_and_none_leaves_one_out() -> None:
    client = Client(echo, headers={"X-Default": "d", "Accept": "text/html"})
    raw = client.build_request("GET", "/", headers={"host": "other:1", "accept": None, "X-Extra": "e"})
    head = raw.decode("latin-1")
    assert head.count("ost:") == 1 and "host: other:1\r\n" in head
    assert "ccept" not in head and "X-Default: d\r\n" in head and "X-Extra: e\r\n" in head
    # An HTTP/1.1 request without Host is what the server refuses, so the client answers 400 too.
    assert client.get("/", headers={"Host": None}).status == 400


def test_header_values_must_be_latin1_and_single_line() -> None:
    client = Client(echo)
    with pytest.raises(ValueError, match="Latin-1"):
        client.get("/", headers={"X-Name": "zoë ☃"})
    with pytest.raises(ValueError, match="line break"):
        client.get("/", headers={"X-Name": "a\r\nInjected: 1"})
    assert client.get("/", headers={"X-Name": "zoë"}).json()["headers"][-1] == ["X-Name", "zoë"]


def test_bad_paths_and_conflicting_bodies_are_refused() -> None:
    client = Client(echo)
    with pytest.raises(ValueError, match="starting with '/'"):
        client.get("relative")
    with pytest.raises(ValueError, match="data="):
        client.post("/", data={"a": "1"}, json={"a": 1})
    with pytest.raises(ValueError, match="None"):
        client.post("/", data={"a": None})
    with pytest.raises(TypeError, match="bytes"):
        client.post("/", body="text")


def test_form_post_with_repeated_and_non_ascii_fields() -> None:
    r = Client(echo).post("/f", data={"tag": ["x", "y"], "name": "Zoë & co", "n": 5})
    assert r.json()["form"] == [["tag", "x"], ["tag", "y"], ["name", "Zoë & co"], ["n", "5"]]
    raw = Client(echo).build_request("POST", "/f", data=[("name", "Zoë & co")])
    assert raw.endswith(b"\r\n\r\nname=Zo%C3%AB+%26+co")
    assert b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n" in raw


def test_post_without_a_body_sends_content_length_zero() -> None:
    raw = Client(echo).build_request("POST", "/")
    assert b"Content-Length: 0\r\n" in raw
    assert Client(echo).post("/").json()["body"] == ""


def test_json_and_raw_bodies() -> None:
    def handler(request: Request) -> Any:
        return {"got": request.json(), "type": request.content_type}
    assert Client(handler).post("/", json={"a": [1, "é"]}).json() == {"got": {"a": [1, "é"]},
                                                                      "type": "application/json"}
    r = Client(echo).put("/", body=b"\x00\xffraw", headers={"Content-Type": "application/octet-stream"})
    assert r.json()["body"] == "\x00\ufffdraw"
    # A body that is not JSON is the handler's 400, as from a browser.
    assert Client(handler).post("/", body=b"{", headers={"Content-Type": "application/json"}).status == 400


def test_several_files_per_field_with_text_fields_and_guessed_types() -> None:
    notes = io.BytesIO(b"from a file object")
    notes.name = "/somewhere/notes.md"
    files = {"docs": [("résumé.txt", "Grüße"), ("scan.pdf", b"%PDF-1.4", "application/x-custom"), notes],
             "one": b"bare bytes"}
    r = Client(echo).post("/up", data={"title": "Two", "tags": ["a", "b"]}, files=files)
    got = r.json()
    assert got["form"] == [["title", "Two"], ["tags", "a"], ["tags", "b"]]
    assert got["files"]["docs"] == [["résumé.txt", "text/plain", "Grüße"],
                                    ["scan.pdf", "application/x-custom", "%PDF-1.4"],
                                    ["notes.md", "text/markdown", "from a file object"]]
    assert got["files"]["one"] == [["upload.bin", "application/octet-stream", "bare bytes"]]
    # Files as (field, file) pairs, like a form with two inputs of the same name.
    r = Client(echo).post("/up", files=[("f", ("a.txt", b"1")), ("f", ("b.txt", b"2"))])
    assert [f[0] for f in r.json()["files"]["f"]] == ["a.txt", "b.txt"]


def test_bad_file_specs_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="filename, content"):
        Client(echo).post("/", files={"f": ("only-a-name",)})
    with pytest.raises(TypeError, match="'x.txt'"):
        Client(echo).post("/", files={"f": ("x.txt", 42)})


def test_large_bodies_are_spooled_like_the_server_does() -> None:
    seen: dict[str, Any] = {}

    def handler(request: Request) -> str:
        seen["small"] = isinstance(request._body, bytes)
        seen["size"] = len(request.body)
        seen["file"] = request.body_file
        return "ok"
    client = Client(handler)
    client.put("/", body=b"x" * 1000)
    assert seen == {"small": True, "size": 1000, "file": seen["file"]}
    client.put("/", body=b"x" * (3 << 20))
    assert seen["small"] is False and seen["size"] == 3 << 20
    assert isinstance(seen["file"], tempfile.SpooledTemporaryFile) and seen["file"].closed   # closed after


def test_chunked_raw_request_through_send_raw() -> None:
    raw = (b"POST /c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert Client(echo).send_raw(raw).json()["body"] == "hello world"


def test_protocol_errors_are_answered_like_the_server() -> None:
    client = Client(echo)
    assert client.send_raw(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").status == 505
    r = client.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert r.status == 400 and "more than one Host" in r.text
    with pytest.raises(ValueError, match="incomplete"):
        client.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")


def test_the_handler_sees_what_a_live_server_gives_it() -> None:
    """The same raw bytes, through Client and through a real socket, produce the same Request."""
    client = Client(echo, host="127.0.0.1:0")
    seen_live: list[dict[str, Any]] = []

    def live(request: Request) -> dict[str, Any]:
        result = echo(request)
        seen_live.append(result)
        return result

    with running_server(live) as server:
        client.host = f"127.0.0.1:{server.port}"
        client.cookies["sid"] = "abc"
        cases = [
            client.build_request("GET", "/p/ä b?x=%2F&y=1", query={"z": ["1", "2"]}),
            client.build_request("POST", "/form", data={"a": "1 2", "b": ["é", ""]}),
            client.build_request("POST", "/up", data={"t": "x"}, files={"f": [("ü.txt", b"1"), ("b.bin", b"\x00")]}),
            client.build_request("PATCH", "/j", json={"k": "v"}, headers={"X-A": "b"}),
        ]
        for raw in cases:
            in_process = client.send_raw(raw).json()
            status, _, body = parse_response(raw_request(server.port, raw))
            assert status == 200
            live_view = json.loads(body)
            in_process["client"] = live_view["client"] = None    # the socket's port differs
            assert in_process == live_view


# -- the response --------------------------------------------------------------------

def test_response_fields() -> None:
    def handler(request: Request) -> Response:
        return Response.json({"a": "é"}, 201, headers={"X-Y": "z"})
    r = Client(handler).get("/")
    assert isinstance(r, TestResponse) and repr(r) == f"<TestResponse 201 {len(r.body)} bytes>"
    assert (r.status, r.json(), r.text, r.content_type) == (201, {"a": "é"}, '{"a":"é"}', "application/json")
    assert r.headers["x-y"] == "z" and r.headers["Content-Length"] == str(len(r.body))
    assert r.location is None and r.request.path == "/" and r.response.code == 201 and r.history == []


def test_content_length_is_the_real_length_even_for_generators() -> None:
    def handler(request: Request) -> Response:
        return Response((part for part in ["<p>", "é", b"\xff", 42, None]), headers={"Content-Length": "999"})
    r = Client(handler).get("/")
    assert r.body == "<p>é".encode() + b"\xff42"
    assert r.headers.get_all("content-length") == [str(len(r.body))]


def test_no_content_length_for_204_304_and_streams() -> None:
    assert "content-length" not in Client(lambda r: None).get("/").headers
    assert "content-length" not in Client(lambda r: Response(code=304)).get("/").headers
    r = Client(lambda r: Response.stream(["a", "b"])).get("/")
    assert r.body == b"ab" and "content-length" not in r.headers


def test_head_keeps_headers_drops_the_body_and_releases_resources(tmp_path: Path) -> None:
    class Pieces:
        """A streamed body that records whether it was pulled or closed."""
        def __init__(self) -> None:
            self.pulled = 0
            self.closed = False

        def __iter__(self) -> "Pieces":
            return self

        def __next__(self) -> str:
            self.pulled += 1
            if self.pulled > 2:
                raise StopIteration
            return "piece"

        def close(self) -> None:
            self.closed = True
    pieces: list[Pieces] = []
    opened = open(tmp_path / "f.bin", "wb+")
    opened.write(b"12345")
    opened.flush()

    def handler(request: Request) -> Any:
        if request.path == "/stream":
            pieces.append(Pieces())
            return Response.stream(pieces[-1])
        if request.path == "/file":
            return Response(FileBody(file=opened))
        return "<p>hello</p>"
    client = Client(handler)
    get, head = client.get("/page"), client.head("/page")
    assert head.status == 200 and head.body == b"" and get.body == b"<p>hello</p>"
    assert head.headers["content-length"] == get.headers["content-length"] == "12"
    assert client.head("/stream").body == b""
    assert pieces[0].pulled == 0 and pieces[0].closed
    assert client.get("/stream").body == b"piecepiece" and pieces[1].closed
    r = client.head("/file")
    assert r.headers["content-length"] == "5" and r.body == b"" and opened.closed


def test_file_bodies_respect_offset_and_length(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"0123456789")
    client = Client(lambda r: Response(FileBody(path, offset=2, length=5), content_type="text/plain"))
    r = client.get("/")
    assert r.body == b"23456" and r.headers["content-length"] == "5"
    assert Client(lambda r: Response.file(path)).get("/").body == b"0123456789"


def test_streams_skip_pauses_and_stop_after_max_items() -> None:
    closed: list[bool] = []

    def endless() -> Iterator[Any]:
        try:
            n = 0
            while True:
                yield Pause(3600)        # would hang a test if it were waited for
                yield f"{n},"
                n += 1
        finally:
            closed.append(True)
    r = Client(lambda r: Response.stream(endless()), max_stream_items=10).get("/")
    assert r.body == b"0,1,2,3,4," and closed == [True]
    events = Client(lambda r: Response.events([{"event": "x", "data": {"a": 1}}, "hi"])).get("/").text
    assert events == 'event: x\ndata: {"a": 1}\n\ndata: hi\n\n'


def test_a_failing_stream_raises_in_the_test() -> None:
    def broken() -> Iterator[str]:
        yield "start"
        raise RuntimeError("the stream broke")
    with pytest.raises(RuntimeError, match="the stream broke"):
        Client(lambda r: Response.stream(broken())).get("/")


def test_unsendable_responses_become_a_500_like_on_the_server() -> None:
    def bad_header(request: Request) -> Response:
        return Response("x", headers={"X-Bad": "a\nb"})

    def bad_iolist(request: Request) -> Any:
        return ["ok", {"not": "an iolist item"}]
    for handler in (bad_header, bad_iolist, lambda r: Response("x", headers={"X-Name": "☃"})):
        r = Client(handler).get("/")
        assert r.status == 500 and "Traceback" in r.text


def test_errors_and_tracebacks_follow_the_server_rules() -> None:
    def handler(request: Request) -> str:
        if request.path == "/missing":
            raise HTTPError(404, "No such note.")
        raise KeyError("boom")
    assert Client(handler).get("/missing").status == 404
    assert "No such note." in Client(handler).get("/missing").text
    local = Client(handler).get("/")
    assert local.status == 500 and "KeyError" in local.text
    # A traceback is only shown to a browser on this machine, and only in debug mode.
    assert "KeyError" not in Client(handler, client_address=("192.0.2.7", 5000)).get("/").text
    assert "KeyError" not in Client(handler, debug=False).get("/").text


def test_request_server_and_scheme_come_from_the_client_host() -> None:
    assert Client(echo, host="[::1]:9000").get("/").json()["server"] == ["::1", 9000]
    got = Client(echo, host="example.test", scheme="https").get("/").json()
    assert got["server"] == ["example.test", 443] and got["scheme"] == "https"


def test_absolute_urls_set_host_and_scheme() -> None:
    got = Client(echo, scheme="https").get("https://box.local:8443/x?y=1#f").json()
    assert got["target"] == "/x?y=1" and ["Host", "box.local:8443"] in got["headers"]
    assert got["scheme"] == "https"
    with pytest.raises(ValueError, match="scheme='https'"):
        Client(echo).get("https://box.local/")


# -- cookies -------------------------------------------------------------------------

def cookie_app(request: Request) -> Response:
    response = Response.plain_text(json.dumps(request.cookies))
    if request.path == "/login":
        response.set_cookie("sid", "s1")
        response.set_cookie("admin", "a1", path="/admin")
        response.headers.add("Set-Cookie", "nopath=n1")            # default path: /login's folder, '/'
        response.headers.add("Set-Cookie", "deep=d1")
    elif request.path == "/admin/settings/save":
        response.headers.add("Set-Cookie", "deep=d2")               # default path: /admin/settings
    elif request.path == "/logout":
        response.delete_cookie("sid")
        response.headers.add("Set-Cookie", "nopath=; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    return response


def test_cookies_are_kept_sent_by_path_and_deleted_like_a_browser() -> None:
    client = Client(cookie_app)
    client.get("/login")
    assert client.cookies == {"sid": "s1", "admin": "a1", "nopath": "n1", "deep": "d1"}
    assert json.loads(client.get("/").text) == {"sid": "s1", "nopath": "n1", "deep": "d1"}
    assert json.loads(client.get("/admin/x").text)["admin"] == "a1"
    assert "admin" not in json.loads(client.get("/administrator").text)
    client.get("/admin/settings/save")
    assert json.loads(client.get("/admin/settings/page").text)["deep"] == "d2"
    assert "deep" not in json.loads(client.get("/admin/other").text)
    client.get("/logout")
    assert "sid" not in client.cookies and "nopath" not in client.cookies
    # A test may set cookies by hand (sent everywhere) and add some to one request.
    client.cookies["theme"] = "dark"
    assert json.loads(client.get("/", cookies={"once": "1"}).text) == {"theme": "dark", "once": "1"}
    assert "once" not in client.cookies


def test_cookies_set_by_a_redirect_reach_the_next_page() -> None:
    def app(request: Request) -> Response:
        if request.path == "/login":
            response = Response.redirect("/home")
            response.set_cookie("sid", "fresh")
            return response
        return Response.plain_text(request.cookies.get("sid", "none"))
    r = Client(app).post("/login", data={"user": "me"}, follow_redirects=True)
    assert r.text == "fresh" and [h.status for h in r.history] == [303]


# -- redirects -------------------------------------------------------------------------

def redirect_app(request: Request) -> Any:
    codes = {"/r301": 301, "/r302": 302, "/r303": 303, "/r307": 307, "/r308": 308}
    if request.path in codes:
        return Response.redirect("target?from=" + request.path[1:], codes[request.path])
    if request.path == "/loop":
        return Response.redirect("/loop")
    if request.path == "/away":
        return Response.redirect("https://elsewhere.example/")
    return {"method": request.method, "query": request.query_string, "form": request.POST.pairs(),
            "files": [f.filename for _, f in request.files.pairs()]}


@pytest.mark.parametrize("code, method, kept", [
    (301, "POST", False), (302, "POST", False), (303, "POST", False), (303, "PUT", False),
    (307, "POST", True), (308, "POST", True), (301, "PUT", True), (302, "DELETE", True),
])
def test_redirects_change_the_method_like_browsers(code: int, method: str, kept: bool) -> None:
    r = Client(redirect_app).request(method, f"/r{code}", data={"a": "1"}, follow_redirects=True)
    got = r.json()
    assert got["query"] == f"from=r{code}" and r.history[0].status == code
    if kept:
        assert got["method"] == method and got["form"] == [["a", "1"]]
    else:
        assert got["method"] == "GET" and got["form"] == []


def test_a_307_resends_uploaded_files() -> None:
    r = Client(redirect_app, follow_redirects=True).post("/r307", files={"f": io.BytesIO(b"x")})
    assert r.json()["files"] == ["upload.bin"]


def test_head_stays_head_and_redirect_limits() -> None:
    client = Client(redirect_app)
    r = client.head("/r303", follow_redirects=True)
    assert r.status == 200 and r.request.method == "HEAD" and r.body == b""
    assert client.get("/r303").status == 303           # not followed unless asked
    with pytest.raises(RuntimeError, match="more than 20 redirects"):
        client.get("/loop", follow_redirects=True)
    r = client.get("/away", follow_redirects=True)
    assert r.status == 303 and r.location == "https://elsewhere.example/" and r.history == []


# -- through the security wrapper serve_http applies ------------------------------------

def test_secure_option_applies_serve_https_wrapper() -> None:
    def app(request: Request) -> str:
        return "ok"
    client = Client(app, secure=True)
    r = client.get("/")
    assert r.status == 200 and r.headers["X-Frame-Options"] == "DENY"
    assert client.get("http://attacker.example:8080/").status == 421       # DNS rebinding
    cross = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/", data={"a": "1"}, headers=cross).status == 403
    same = {"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/", data={"a": "1"}, headers=same).status == 200
    # Without the option the handler is called as given.
    assert Client(app).post("/", headers=cross).status == 200
    assert "x-frame-options" not in Client(app).get("/").headers


def test_secure_option_takes_serve_https_settings() -> None:
    def app(request: Request) -> str:
        return "ok"
    client = Client(app, secure=True, allowed_hosts=["mybox.local"], allow_cross_site=["/hook"])
    assert client.get("http://mybox.local:8080/").status == 200
    assert client.post("/hook", headers={"Origin": "http://evil.example"}).status == 200
    wrapped = secure(app, allowed_hosts=["mybox.local"])
    assert Client(wrapped, secure=True).get("http://mybox.local:8080/").status == 200   # not wrapped twice
    with pytest.raises(ValueError, match="already wrapped"):
        Client(wrapped, secure=True, allowed_hosts=["x"])
    with pytest.raises(ValueError, match="secure=True"):
        Client(app, allowed_hosts=["x"])
