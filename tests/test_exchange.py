"""kali.exchange: the one request/response exchange the server, the test client and WSGI share.

The main test sends the same raw requests through all three transports -- a live
Server behind compose_handler (what serve_http runs), kali.testing.Client and
kali.wsgi.to_wsgi called the way a WSGI server calls it -- and requires the same
answer from each, apart from the Date, Server and Connection headers only the
server adds.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kali import HTTPError, Request, Response, Router
from kali.reserved import ReservedPaths
from kali.exchange import (BODY_MEMORY_LIMIT, RequestBody, RequestReader, compose_handler, prepare_reply, refusal,
                           shows_tracebacks)
from kali.http import ProtocolError
from kali.outgoing import DateLines, Outgoing, reply_in_one_buffer
from kali.response import DefaultFields, field_pairs, wire_fields, wire_form
from kali.security import SecurityWrapper, secure
from kali.testing import Client
from kali.wsgi import to_wsgi
from support import ROOT, parse_response, raw_request, running_server

ONLY_THE_SERVER_SENDS = ("date", "server", "connection")
closed_streams: list[str] = []


def build_app(file_path: Path) -> Router:
    app = Router()

    @app.function("/")
    def home() -> str:
        return "<p>hello</p>"

    @app.function("/echo", methods=("POST",))
    def echo(request: Request) -> dict[str, Any]:
        return {"size": len(request.body), "kept_in": type(request.body_file).__name__,
                "title": request.POST.get("title")}

    @app.function("/where")
    def where(request: Request) -> dict[str, Any]:
        return {"path": request.path, "query": request.query_string}

    @app.function("/missing")
    def missing() -> str:
        raise HTTPError(404, "There is no such note.", headers=[("X-Why", "gone")])

    @app.function("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    @app.function("/bad-header")
    def bad_header() -> Response:
        return Response("x", headers=[("X-Bad", "a\r\nSet-Cookie: evil=1")])

    @app.function("/file")
    def file() -> Response:
        return Response.file(file_path)

    @app.function("/stream")
    def stream() -> Response:
        return Response.stream(Items(["one ", "two ", "three"]))

    return app


class Items:
    """A streamed body that notes when it is closed (a generator not yet started runs no finally)."""

    def __init__(self, items: list[str]) -> None:
        self.items = iter(items)

    def __iter__(self) -> Items:
        return self

    def __next__(self) -> str:
        return next(self.items)

    def close(self) -> None:
        closed_streams.append("closed")


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


# -- the three transports: raw request bytes in, an Answer out -------------------------------

def through_server(port: int, raw: bytes) -> Answer:
    status, headers, body = parse_response(raw_request(port, raw, timeout=10))
    return Answer(status, {k: v for k, v in headers.items() if k not in ONLY_THE_SERVER_SENDS}, body)


def through_client(client: Client, raw: bytes) -> Answer:
    response = client.send_raw(raw)
    return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.body)


def environ_for(raw: bytes, port: int) -> dict[str, Any]:
    """The environ a WSGI server on 127.0.0.1:port builds for raw request bytes (gunicorn-style RAW_URI)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    path_part = target if target.startswith("/") else "/" + target.split("://", 1)[-1].partition("/")[2]
    path, _, query = path_part.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "RAW_URI": target, "PATH_INFO": unquote(path, "latin-1"), "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_PROTOCOL": version, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(port),
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50123", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.version": (1, 0), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value.strip()
    return env


def through_wsgi(app: Any, raw: bytes, port: int) -> Answer:
    got: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        got.append((status, headers))
        return lambda data: None

    result = app(environ_for(raw, port), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = got[0]
    return Answer(int(status.split(" ", 1)[0]), {k.lower(): v for k, v in headers}, body)


@pytest.fixture(scope="module")
def transports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Callable[[Callable[[str], bytes]], Answer]]]:
    """name -> (function of the Host value -> raw request) -> Answer, for the three transports."""
    file_path = tmp_path_factory.mktemp("exchange") / "notes.txt"
    file_path.write_bytes(b"file contents\n" * 1000)
    app = build_app(file_path)
    client = Client(app, secure=True)
    wsgi_app = to_wsgi(app, debug=True)
    # What serve_http serves: the app behind the one composed handler stack.
    with running_server(compose_handler(app, debug=True), timeout=5) as server:
        port = server.port
        yield {
            "server": lambda build: through_server(port, build(f"127.0.0.1:{port}")),
            "client": lambda build: through_client(client, build("127.0.0.1:8080")),
            "wsgi": lambda build: through_wsgi(wsgi_app, build("127.0.0.1:8080"), 8080),
        }


def request(method: str, target: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
            host: bool = True) -> Callable[[str], bytes]:
    """Raw request bytes for a given Host value."""
    def build(host_value: str) -> bytes:
        lines = [f"{method} {target.replace('HOST', host_value)} HTTP/1.1"]
        if host:
            lines.append(f"Host: {host_value}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body and "Content-Length" not in (headers or {}):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    return build


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BIG = b"title=" + b"x" * (BODY_MEMORY_LIMIT + 1000)
CROSS = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
PROTECTIVE = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}


def has_protective_headers(answer: Answer) -> bool:
    return all(answer.headers.get(name) == value for name, value in PROTECTIVE.items())


# (id, the request, a check of the answer, whether the whole body must match across transports)
CASES: list[tuple[str, Callable[[str], bytes], Callable[[Answer], bool], bool]] = [
    ("page", request("GET", "/"),
     lambda a: a.status == 200 and a.body == b"<p>hello</p>" and a.headers["content-length"] == "12"
     and has_protective_headers(a), True),
    ("head", request("HEAD", "/"),
     lambda a: a.status == 200 and a.body == b"" and a.headers["content-length"] == "12", True),
    ("small form", request("POST", "/echo", headers={**FORM, "Sec-Fetch-Site": "same-origin"}, body=b"title=Milk"),
     lambda a: a.status == 200 and a.body == b'{"size":10,"kept_in":"BytesIO","title":"Milk"}', True),
    ("large body spooled", request("POST", "/echo", headers=FORM, body=BIG),
     lambda a: a.status == 200 and b'"kept_in":"SpooledTemporaryFile"' in a.body
     and f'"size":{len(BIG)}'.encode() in a.body, True),
    ("absolute-form target", request("GET", "http://HOST/where?x=1"),
     lambda a: a.status == 200 and a.body == b'{"path":"/where","query":"x=1"}', True),
    ("HTTPError page", request("GET", "/missing"),
     lambda a: a.status == 404 and b"There is no such note." in a.body and a.headers["x-why"] == "gone", True),
    ("handler exception", request("GET", "/boom"),
     lambda a: a.status == 500 and b"raised an exception" in a.body and b"kaboom" in a.body
     and has_protective_headers(a), False),
    ("unsendable header is a 500", request("GET", "/bad-header"),
     lambda a: a.status == 500 and "set-cookie" not in a.headers and b"line break" in a.body
     and has_protective_headers(a), False),
    ("file body", request("GET", "/file"),
     lambda a: a.status == 200 and a.body == b"file contents\n" * 1000 and a.headers["content-length"] == "14000",
     True),
    ("stream", request("GET", "/stream"),
     lambda a: a.status == 200 and a.body == b"one two three" and "content-length" not in a.headers, True),
    ("stream to HEAD", request("HEAD", "/stream"), lambda a: a.status == 200 and a.body == b"", True),
    ("cross-site refusal", request("POST", "/echo", headers={**FORM, **CROSS}, body=b"title=x"),
     lambda a: a.status == 403 and b"another site" in a.body and has_protective_headers(a), True),
    # The page names the server's own address, which differs: the whole body cannot match.
    ("Host refusal", request("GET", "/", headers={"Host": "evil.example"}, host=False),
     lambda a: a.status == 421 and b"DNS-rebinding" in a.body and has_protective_headers(a), False),
    ("unreadable request", request("POST", "/echo", headers={"Content-Length": "ten"}, body=b"title=Milk"),
     lambda a: a.status == 400 and b"Content-Length" in a.body and has_protective_headers(a), True),
]


@pytest.mark.parametrize("build, check, whole_body", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_three_transports_answer_alike(transports: dict[str, Callable[[Callable[[str], bytes]], Answer]],
                                           build: Callable[[str], bytes], check: Callable[[Answer], bool],
                                           whole_body: bool) -> None:
    answers = {name: through(build) for name, through in transports.items()}
    for name, answer in answers.items():
        assert check(answer), f"{name}: {answer.status} {answer.headers} {answer.body[:300]!r}"
    expected = answers["client"]
    for name in ("server", "wsgi"):
        got = answers[name]
        if whole_body:
            assert (got.status, got.headers, got.body) == (expected.status, expected.headers, expected.body), name
        else:
            # A traceback or an address in the page may differ, and the length with it.
            assert got.status == expected.status, name
            assert ({k: v for k, v in got.headers.items() if k != "content-length"}
                    == {k: v for k, v in expected.headers.items() if k != "content-length"}), name


def test_a_stream_answered_to_head_is_closed_by_every_transport(
        transports: dict[str, Callable[[Callable[[str], bytes]], Answer]]) -> None:
    for name, through in transports.items():
        closed_streams.clear()
        assert through(request("HEAD", "/stream")).body == b""
        assert closed_streams == ["closed"], name


# -- compose_handler: the one handler stack ---------------------------------------------------

def test_compose_handler_wraps_in_secure_unless_told_not_to() -> None:
    def app(request: Request) -> str:
        return "ok"

    composed = compose_handler(app, allowed_hosts=["mybox.local"], allow_cross_site=["/hook"])
    # Outermost the security wrapper, then kali's reserved paths, then the app.
    assert isinstance(composed, SecurityWrapper) and isinstance(composed.handler, ReservedPaths)
    assert composed.handler.handler is app
    assert composed.allowed_hosts == ("mybox.local",) and composed.allow_cross_site == ("/hook",)
    bare = compose_handler(app, secure=False)
    assert isinstance(bare, ReservedPaths) and bare.handler is app
    already = secure(app, allowed_hosts=["mine.local"])
    rebuilt = compose_handler(already)
    assert isinstance(rebuilt, SecurityWrapper) and not isinstance(rebuilt.handler, SecurityWrapper), \
        "never a second security wrapper"
    assert isinstance(rebuilt.handler, ReservedPaths) and rebuilt.handler.handler is app
    assert rebuilt.allowed_hosts == ("mine.local",) and already.handler is app, "the app's own wrapper is untouched"
    assert compose_handler(rebuilt) is rebuilt


@pytest.mark.parametrize("options, message", [
    ({"secure": False, "allowed_hosts": ["x"]}, "allowed_hosts= are checks of the security wrapper"),
    ({"secure": False, "private_token": "t" * 20}, "private= are checks"),
    ({"allow_cross_site": ["/x"], "app": "wrapped"}, "pass allow_cross_site= either to secure() or to f(), not both"),
])
def test_compose_handler_names_options_that_cannot_apply(options: dict[str, Any], message: str) -> None:
    app: Any = lambda request: "ok"  # noqa: E731
    if options.pop("app", None) == "wrapped":
        app = secure(app)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compose_handler(app, caller="f()", **options)


def test_compose_handler_refuses_what_is_not_a_handler() -> None:
    with pytest.raises(TypeError, match="serve_http\\(\\) needs a handler"):
        compose_handler("not a handler")  # type: ignore[arg-type]


def test_the_three_transports_compose_their_handler_in_compose_handler() -> None:
    def app(request: Request) -> str:
        return "ok"

    # The test client and the WSGI adapter hold what compose_handler builds (serve_http is tested
    # in a process elsewhere); all three give the same errors for the same mistakes.
    assert isinstance(Client(app, secure=True).handler, SecurityWrapper)
    assert isinstance(to_wsgi(app).handler, SecurityWrapper)
    for make in (lambda: Client(secure(app), secure=True, allowed_hosts=["x"]),
                 lambda: to_wsgi(secure(app), allowed_hosts=["x"])):
        with pytest.raises(ValueError, match="already wrapped"):
            make()


# -- the request body and the reader ----------------------------------------------------------

def test_a_body_is_kept_in_memory_up_to_the_limit_and_spooled_beyond() -> None:
    small = RequestBody(10)
    small.write(b"0123456789")
    assert small.take() == b"0123456789"
    large = RequestBody(BODY_MEMORY_LIMIT + 1)
    large.write(b"x" * (BODY_MEMORY_LIMIT + 1))
    taken = large.take()
    assert not isinstance(taken, bytes) and taken.read() == b"x" * (BODY_MEMORY_LIMIT + 1)
    taken.close()
    unknown = RequestBody(None)              # chunked: the length is unknown
    unknown.write(b"abc")
    spooled = unknown.take()
    assert not isinstance(spooled, bytes) and spooled.read() == b"abc"
    spooled.close()
    assert RequestBody(0).take() == b""


def test_a_full_disk_while_storing_a_body_is_a_507() -> None:
    body = RequestBody(None)

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    body._file = FullDisk()
    with pytest.raises(ProtocolError) as caught:
        body.write(b"x")
    assert caught.value.status == 507


def test_the_reader_turns_parser_events_into_a_request() -> None:
    reader = RequestReader()
    assert reader.feed(b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel") is False
    assert reader.head is not None and reader.head.target == "/a?b=1"
    assert reader.feed(b"lo") is True
    request = reader.request(("127.0.0.1", 5), ("127.0.0.1", 80), "http")
    assert (request.method, request.path, request.body) == ("POST", "/a", b"hello")


def test_the_reader_says_once_when_the_client_waits_for_100_continue() -> None:
    waiting = RequestReader()
    waiting.feed(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert waiting.wants_continue() is True
    assert waiting.wants_continue() is False
    eager = RequestReader()      # sent its body along: it did not wait
    eager.feed(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nab")
    assert eager.wants_continue() is False


# -- replies ----------------------------------------------------------------------------------

def test_a_response_that_cannot_be_sent_becomes_a_500_with_the_protective_headers() -> None:
    request = Request("GET", "/x", client=("10.0.0.2", 1))
    reply = prepare_reply(request, Response("x", headers=[("X-Bad", "a\nb")]), debug=True)
    assert reply.response.code == 500
    names = {name.lower() for name, _ in reply.fields}
    assert {"x-content-type-options", "referrer-policy", "x-frame-options"} <= names
    assert b"Traceback" not in b"".join(reply.chunks), "no traceback for another machine"


def test_a_refusal_to_head_has_no_body_and_carries_the_protective_headers() -> None:
    reply = prepare_reply(None, refusal(ProtocolError(413, "Too large.")), debug=True, method="HEAD")
    assert reply.response.code == 413 and reply.chunks == []
    assert ("Content-Length", str(len(b"".join(prepare_reply(None, refusal(ProtocolError(413, "Too large.")),
                                                               debug=True).chunks)))) in reply.fields
    assert ("X-Frame-Options", "DENY") in reply.fields


def test_tracebacks_only_for_this_machine_in_debug_mode() -> None:
    assert shows_tracebacks(True, "127.0.0.1") and shows_tracebacks(True, "::1")
    assert not shows_tracebacks(True, "192.168.1.20")
    assert not shows_tracebacks(False, "127.0.0.1")


@pytest.mark.parametrize("value", ["/a\r\nSet-Cookie: evil=1", "/a\nb", "/a\rb", "a\0b", "caf\u00e9 \u20ac"])
def test_the_one_header_check_refuses_values_that_would_break_the_head(value: str) -> None:
    with pytest.raises(ValueError, match="X-Test"):
        wire_fields(Response("x", headers=[("X-Test", value)]))


FIELD_TEXT = st.sampled_from(["nosniff", "DENY", "no-cache", "", "a\tb", "caf\u00e9", "x\r\ny", "\u20ac", "a\0b"])
FIELD_NAME = st.sampled_from(["X-Frame-Options", "Cache-Control", "cache-control", "Content-Type", "X-A", "Bad Name"])


@settings(max_examples=300, deadline=None)
@given(content_type=st.one_of(st.none(), FIELD_TEXT, st.just("text/plain; charset=utf-8")),
       code=st.sampled_from([200, 201, 204, 304, 404, 500]),
       content=st.sampled_from(["", "hello", "h\u00e9", ["a", b"b", 1]]),
       defaults=st.lists(st.tuples(FIELD_NAME, FIELD_TEXT), max_size=4))
def test_a_response_goes_on_the_wire_the_same_whether_its_headers_were_looked_at_or_not(
        content_type: str | None, code: int, content: Any, defaults: list[tuple[str, str]]) -> None:
    # A response whose fields nobody touched keeps no Headers object and writes lines encoded
    # once; touching `headers` must change nothing about what is sent, or which responses fail.
    fields = DefaultFields(defaults)

    def built(look: bool) -> Response:
        response = Response(content, code=code, content_type=content_type)
        if look:
            response.headers       # noqa: B018 - makes the Headers object
        response.add_defaults(fields)
        return response

    def wire(response: Response) -> Any:
        try:
            return wire_form(response)
        except ValueError as exc:
            return str(exc)
    untouched, touched = built(False), built(True)
    assert wire(untouched) == wire(touched)
    if not isinstance(wire(untouched), str):
        lines, _, length = wire_form(untouched)
        assert lines == "".join(f"{n}: {v}\r\n" for n, v in field_pairs(touched, length)).encode("latin-1")
    assert untouched.headers.items() == touched.headers.items()


def test_the_content_type_reads_the_same_before_and_after_the_headers_are_made() -> None:
    response = Response("x")
    assert response.content_type == "text/html; charset=utf-8"
    response.headers["Content-Type"] = "text/plain"
    assert response.content_type == "text/plain"
    assert Response(code=204).content_type is None
    assert Response("x", headers={"X-A": "1"}, content_type="text/csv").content_type == "text/csv"


def test_a_wrapper_default_the_response_sets_to_empty_is_left_out() -> None:
    fields = DefaultFields([("X-Frame-Options", "DENY"), ("Cache-Control", "no-cache")])
    response = Response("x")
    response.headers["X-Frame-Options"] = ""
    response.add_defaults(fields)
    assert response.headers.items() == [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")]


def test_the_server_head_is_the_status_line_the_fields_and_connection_close() -> None:
    reply = prepare_reply(None, Response(b"x" * 40000, headers=[("X-A", "1")]), debug=False)
    head = Outgoing(reply, DateLines(), sendfile=False, request=None).out[0]
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.0 200 OK"
    assert lines[1].startswith("Date: ") and lines[2].startswith("Server: kali/")
    assert "X-A: 1" in lines and "Content-Length: 40000" in lines
    assert head.endswith(b"Connection: close\r\n\r\n")


def test_a_small_reply_is_one_buffer_and_its_rest_is_sent_after_a_partial_send() -> None:
    reply = prepare_reply(None, Response("hello"), debug=False)
    dates = DateLines()
    whole = reply_in_one_buffer(200, dates, reply.lines, reply.chunks, reply.length)
    assert whole == Outgoing(reply, dates, sendfile=False, request=None).out[0]
    assert whole is not None and whole.endswith(b"Connection: close\r\n\r\nhello")
    big = prepare_reply(None, Response(b"x" * 40000), debug=False)
    assert reply_in_one_buffer(200, dates, big.lines, big.chunks, big.length) is None
    # The straight line sent the first 7 bytes; what is left goes the usual way.
    request = Request("GET", "/")
    rest = Outgoing.rest_of(whole, 7, request)
    a, b = socket.socketpair()
    with a, b:
        assert rest.send(a, True) == "sent"
        assert rest.sent == len(whole)
        assert b.recv(65536) == whole[7:]


# -- typing: handlers receive a Request -------------------------------------------------------

def test_mypy_checks_what_a_handler_receives(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    source = tmp_path / "app.py"
    source.write_text(textwrap.dedent("""
        from kali import Router, serve_http
        from kali.testing import Client

        app = Router()
        app.delegate("/a", lambda request: request.no_such_attribute)
        def takes_text(text: str) -> str:
            return text
        app.delegate("/b", takes_text)
        Client(lambda request: request.path.upper())
    """))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert '"Request" has no attribute "no_such_attribute"' in done.stdout, done.stdout
    assert 'Argument 2 to "delegate" of "Router" has incompatible type' in done.stdout, done.stdout
    assert done.stdout.count("error:") == 2, done.stdout


def test_serve_http_refuses_security_options_with_secure_false() -> None:
    from kali import serve_http
    # Refused before anything is bound or started: the options would silently do nothing.
    with pytest.raises(ValueError, match="allowed_hosts= are checks of the security wrapper"):
        serve_http(lambda request: "ok", port=0, start=None, secure=False, allowed_hosts=["mybox.local"])


@pytest.mark.parametrize("raw_uri, expected", [
    ("http://127.0.0.1:8080/where?x=1", 200), ("HTTPS://Example.org/where", 200),
    ("ftp://127.0.0.1/where", 400), ("where", 400), ("http://user@host/where", 400),
])
def test_wsgi_reads_a_target_by_the_parser_rule(raw_uri: str, expected: int) -> None:
    app = to_wsgi(lambda request: request.path, secure=False)
    env = environ_for(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", 8080)
    env["RAW_URI"] = raw_uri
    got: list[str] = []
    body = b"".join(app(env, lambda status, headers, exc_info=None: got.append(status)))
    assert int(got[0].split()[0]) == expected
    if expected == 200:
        assert body == b"/where"
    parser = RequestReader()
    try:
        parser.feed(f"GET {raw_uri} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".encode())
        parsed = 200
    except ProtocolError as exc:
        parsed = exc.status
    assert parsed == expected, "the server's parser reads the same target the same way"
