"""kali.wsgi.to_wsgi: environ -> Request, Response -> WSGI, and the examples under real WSGI servers.

The last tests run examples/intro.py and examples/datebook.py three ways -- under
serve_http, under the standard library's wsgiref and under waitress, each in its
own process -- send all three the same requests and compare the answers.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urlsplit
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from kali import Response, Router, secure
from kali.request import Request
from kali.reserved import asset_url
from kali.response import FileBody, Pause
from kali.wsgi import WSGIApp, request_from_environ, to_wsgi
from support import ROOT, running_example, stop_process, wait_for_url


# -- calling the app the way a WSGI server does -------------------------------------------

class Answer:
    """What a WSGI app answered one environ."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, closed: bool) -> None:
        self.status = status
        self.code = int(status.split(" ", 1)[0])
        self.headers = headers
        self.header = {name.lower(): value for name, value in headers}
        self.body = body
        self.closed = closed

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def environ(path: str = "/", *, method: str = "GET", query: str = "", body: bytes = b"",
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
            **variables: str) -> dict[str, Any]:
    """A WSGI environ as a server on 127.0.0.1:8080 would build it."""
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
                           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1:8080",
                           "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50123", "wsgi.input": io.BytesIO(body)}
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    env.update(variables)
    env.update(extra or {})
    setup_testing_defaults(env)
    return env


def call(app: Any, env: dict[str, Any], *, validate: bool = True) -> Answer:
    """Run a WSGI app on one environ, checked by wsgiref.validate (PEP 3333 conformance)."""
    got: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        got.append((status, headers))
        return lambda data: None

    wrapped = validator(app) if validate else app
    result = wrapped(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Answer(got[0][0], got[0][1], body, close is not None)


def echo(request: Request) -> dict[str, Any]:
    return {"method": request.method, "target": request.target, "path": request.path,
            "segments": request.segments, "rest": request.rest, "mount": request.mount,
            "query": request.GET.pairs(), "form": request.POST.pairs(), "cookies": request.cookies,
            "headers": sorted(request.headers.items()), "client": list(request.client),
            "server": list(request.server), "scheme": request.scheme, "version": request.version,
            "body": len(request.body), "spooled": not isinstance(request._body, bytes)}


# -- the request -------------------------------------------------------------------------

def test_environ_becomes_the_same_request_the_server_builds() -> None:
    env = environ("/notes/é x", method="POST", query="tag=a&tag=b",
                  body=b"title=Milk+%26+eggs", headers={"Content-Type": "application/x-www-form-urlencoded",
                                                       "Cookie": "sid=1; theme=dark", "X-Custom-Thing": "v"})
    # PEP 3333: PATH_INFO holds the path's bytes decoded as Latin-1.
    env["PATH_INFO"] = "/notes/é x".encode("utf-8").decode("latin-1")
    got = call(to_wsgi(echo), env).body
    seen = json.loads(got)
    assert seen["target"] == "/notes/%C3%A9%20x?tag=a&tag=b" and seen["path"] == "/notes/é x"
    assert seen["query"] == [["tag", "a"], ["tag", "b"]] and seen["form"] == [["title", "Milk & eggs"]]
    assert seen["cookies"] == {"sid": "1", "theme": "dark"}
    assert ["X-Custom-Thing", "v"] in seen["headers"] and ["Host", "127.0.0.1:8080"] in seen["headers"]
    assert ["Content-Length", "19"] in seen["headers"]
    assert seen["client"] == ["127.0.0.1", 50123] and seen["server"] == ["127.0.0.1", 8080]
    assert seen["scheme"] == "http" and seen["version"] == "HTTP/1.0" and seen["method"] == "POST"


def test_the_raw_target_wins_when_the_server_gives_it() -> None:
    # %2F stays inside a segment, as under serve_http, only when the server passes the raw URI.
    for key in ("RAW_URI", "REQUEST_URI"):
        env = environ("/a/b", extra={key: "/a%2Fb?x=%20"})
        seen = request_from_environ(env)
        assert seen.target == "/a%2Fb?x=%20" and seen.segments == ["a/b"] and seen.GET["x"] == " "
    absolute = request_from_environ(environ("/", REQUEST_URI="http://127.0.0.1:8080/p?q=1"))
    assert absolute.target == "/p?q=1"
    assert request_from_environ(environ("/", REQUEST_URI="http://host?q=1")).target == "/?q=1"


def test_a_script_name_prefix_becomes_the_mount() -> None:
    app = Router()

    @app.function("/items/*")
    def item(request: Request, number: int) -> str:
        return f"{number} {request.mount} {request.app_url('items/*', number + 1)}"

    env = environ("/items/7", SCRIPT_NAME="/tools")
    answer = call(to_wsgi(app), env)
    assert answer.code == 200 and answer.text == "7 /tools /tools/items/8"
    assert call(to_wsgi(app), environ("/tools/items/7", SCRIPT_NAME="")).code == 404


def test_bodies_small_large_chunked_short_and_too_big() -> None:
    app = to_wsgi(echo)
    small = json.loads(call(app, environ("/", method="PUT", body=b"x" * 100)).body)
    assert small["body"] == 100 and small["spooled"] is False
    big = json.loads(call(app, environ("/", method="PUT", body=b"x" * (2 << 20))).body)
    assert big["body"] == 2 << 20 and big["spooled"] is True
    # A de-chunked body without Content-Length: read to the end when the server says it may.
    env = environ("/", method="POST", body=b"")
    env["wsgi.input"] = io.BytesIO(b"streamed body")
    env["wsgi.input_terminated"] = True
    assert json.loads(call(app, env).body)["body"] == 13
    env = environ("/", method="POST", body=b"x" * 10)
    env["wsgi.input"] = io.BytesIO(b"xxx")
    short = call(app, env, validate=False)
    assert short.code == 400 and "ended before" in short.text
    too_big = call(to_wsgi(echo, max_body_size=50), environ("/", method="POST", body=b"x" * 51), validate=False)
    assert too_big.code == 413
    env = environ("/", method="POST")
    env["CONTENT_LENGTH"] = "ten"
    assert call(app, env, validate=False).code == 400


def test_uploads_are_closed_after_the_response() -> None:
    kept: list[Any] = []

    def handler(request: Request) -> str:
        kept.append(request.files["f"])
        return request.files["f"].read().decode()
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    answer = call(to_wsgi(handler), environ("/", method="POST", body=body,
                                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))
    assert answer.text == "hello" and answer.closed and kept[0].file.closed


# -- the response ------------------------------------------------------------------------

def test_iolists_headers_and_content_length() -> None:
    def handler(request: Request) -> Response:
        response = Response((p for p in ["<p>", "é", 42]), headers={"Content-Length": "1", "X-A": "b"})
        response.set_cookie("sid", "abc")
        return response
    answer = call(to_wsgi(handler), environ("/"))
    assert answer.status == "200 OK" and answer.body == "<p>é42".encode()
    assert answer.header["content-length"] == str(len(answer.body))
    assert [v for n, v in answer.headers if n.lower() == "content-length"] == [str(len(answer.body))]
    assert answer.header["set-cookie"] == "sid=abc; Path=/; HttpOnly; SameSite=Lax"
    assert answer.header["x-frame-options"] == "DENY"                    # the security wrapper's headers
    assert call(to_wsgi(lambda r: None), environ("/")).status == "204 No Content"
    assert "content-length" not in call(to_wsgi(lambda r: None), environ("/")).header
    assert call(to_wsgi(lambda r: ("gone", 410)), environ("/")).status == "410 Gone"


def test_head_drops_the_body_but_keeps_the_length() -> None:
    answer = call(to_wsgi(lambda r: "<p>hello</p>"), environ("/", method="HEAD"))
    assert answer.body == b"" and answer.header["content-length"] == "12"


def test_unsendable_responses_become_500() -> None:
    answer = call(to_wsgi(lambda r: Response("x", headers={"X-Bad": "a\r\nb"})), environ("/"))
    assert answer.code == 500 and "Traceback" not in answer.text         # debug is off by default
    answer = call(to_wsgi(lambda r: ["ok", object()], debug=True), environ("/"))
    assert answer.code == 500 and "TypeError" in answer.text


def test_tracebacks_only_with_debug_and_only_for_local_clients() -> None:
    def broken(request: Request) -> str:
        raise KeyError("the missing thing")
    assert "the missing thing" not in call(to_wsgi(broken), environ("/")).text
    assert "the missing thing" in call(to_wsgi(broken, debug=True), environ("/")).text
    remote = environ("/", REMOTE_ADDR="192.0.2.9")
    answer = call(to_wsgi(broken, debug=True), remote)
    assert answer.code == 500 and "the missing thing" not in answer.text


class Wrapper:
    """A wsgi.file_wrapper that records what it was given."""

    used: list["Wrapper"] = []

    def __init__(self, file: Any, block: int) -> None:
        self.file = file
        self.block = block
        Wrapper.used.append(self)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.file.read(self.block)
            if not data:
                return
            yield data

    def close(self) -> None:
        self.file.close()


def test_file_bodies_use_the_file_wrapper_only_when_they_run_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "ten.txt"
    path.write_bytes(b"0123456789")
    ranges = {"/all": (0, None), "/tail": (4, None), "/middle": (2, 5)}

    def handler(request: Request) -> Response:
        offset, length = ranges[request.path]
        return Response(FileBody(path, offset=offset, length=length), content_type="text/plain")
    app = to_wsgi(handler)
    for where, expected, wrapped in (("/all", b"0123456789", True), ("/tail", b"456789", True),
                                     ("/middle", b"23456", False)):
        Wrapper.used.clear()
        answer = call(app, environ(where, extra={"wsgi.file_wrapper": Wrapper}))
        assert answer.body == expected and answer.header["content-length"] == str(len(expected))
        assert bool(Wrapper.used) is wrapped
        if wrapped:
            assert Wrapper.used[0].file._file.closed
    # Without a file_wrapper, and for files that are not real files.
    assert call(app, environ("/middle")).body == b"23456"
    memory = to_wsgi(lambda r: Response(FileBody(file=io.BytesIO(b"abcdef"), offset=1, length=3)))
    assert call(memory, environ("/", extra={"wsgi.file_wrapper": Wrapper})).body == b"bcd"


def test_head_and_empty_file_bodies_close_the_handlers_file(tmp_path: Path) -> None:
    opened: list[Any] = []

    def handler(request: Request) -> Response:
        opened.append(open(tmp_path / "f", "wb+"))
        opened[-1].write(b"data")
        opened[-1].flush()
        return Response(FileBody(file=opened[-1]))
    answer = call(to_wsgi(handler), environ("/", method="HEAD"))
    assert answer.body == b"" and answer.header["content-length"] == "4" and opened[0].closed


def test_streams_pull_items_sleep_through_pauses_and_close() -> None:
    closed: list[bool] = []

    def ticks() -> Iterator[Any]:
        try:
            yield "a"
            yield Pause(0.2)
            yield ["b", b"c"]
        finally:
            closed.append(True)
    app = to_wsgi(lambda r: Response.stream(ticks()))
    started = time.monotonic()
    answer = call(app, environ("/"))
    assert answer.body == b"abc" and "content-length" not in answer.header and closed == [True]
    assert time.monotonic() - started >= 0.2
    # HEAD never pulls the stream, but closes it.
    class Pieces:
        pulled = 0
        closed = False

        def __iter__(self) -> "Pieces":
            return self

        def __next__(self) -> str:
            self.pulled += 1
            return "piece"

        def close(self) -> None:
            self.closed = True
    pieces = Pieces()
    head = call(to_wsgi(lambda r: Response.stream(pieces)), environ("/", method="HEAD"))
    assert head.body == b"" and pieces.pulled == 0 and pieces.closed


def test_a_pause_ends_when_the_server_says_the_client_left() -> None:
    def forever() -> Iterator[Any]:
        while True:
            yield Pause(60)
    env = environ("/", extra={"waitress.client_disconnected": lambda: True})
    started = time.monotonic()
    assert call(to_wsgi(lambda r: Response.stream(forever())), env).body == b""
    assert time.monotonic() - started < 5


@contextmanager
def running_waitress(app: Any, **adjustments: Any) -> Iterator[int]:
    """A real waitress server for `app` on a free loopback port, in this process; yields the port."""
    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=2, **adjustments)
    thread = threading.Thread(target=server.run, name="waitress-test-server", daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.task_dispatcher.shutdown(timeout=10)
        wasyncore.close_all(server._map)
        thread.join(10)


def stream_until_the_client_leaves(pause: float, ended: threading.Event) -> WSGIApp:
    """An app whose stream sends a line, then pauses, forever; `ended` is set when the stream is closed."""
    def ticks() -> Iterator[Any]:
        try:
            while True:
                yield "tick\n"
                yield Pause(pause)
        finally:
            ended.set()
    return to_wsgi(lambda request: Response.stream(ticks()))


def read_first_tick_then_leave(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        received = b""
        while b"tick\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"waitress closed before the first line: {received!r}"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")


def test_under_waitress_a_pause_ends_when_the_client_leaves() -> None:
    # With channel_request_lookahead > 0 waitress keeps reading the connection while the
    # response streams, so its waitress.client_disconnected() turns True once the client has gone
    # and the 60 s pause ends at once (its worker thread is free again).
    ended = threading.Event()
    with running_waitress(stream_until_the_client_leaves(60, ended), channel_request_lookahead=1) as port:
        read_first_tick_then_leave(port)
        assert ended.wait(10), "the stream went on pausing after its client had left"


def test_under_waitress_without_lookahead_the_disconnect_is_not_reported() -> None:
    # The reason docs/deploying.md asks for channel_request_lookahead: by default waitress does not
    # read a connection whose request it is answering, so nothing tells the pause the client left
    # (the stream only ends at the next write that fails, after the pause).
    ended = threading.Event()
    with running_waitress(stream_until_the_client_leaves(2, ended)) as port:
        read_first_tick_then_leave(port)
        assert not ended.wait(1.0), "waitress reported the disconnect without channel_request_lookahead"
        assert ended.wait(20), "the stream never ended"


def test_a_closed_stream_runs_its_finally_block() -> None:
    closed: list[bool] = []

    def events() -> Iterator[str]:
        try:
            while True:
                yield "tick\n"
        finally:
            closed.append(True)
    result = to_wsgi(lambda r: Response.stream(events()))(environ("/"), lambda s, h, e=None: None)
    iterator = iter(result)
    assert next(iterator) == b"tick\n"
    result.close()      # type: ignore[attr-defined]   # the client went away
    assert closed == [True]


# -- security and threads ------------------------------------------------------------------

def test_security_wrapper_is_applied_as_serve_http_does() -> None:
    app = to_wsgi(lambda r: "ok")
    assert call(app, environ("/")).code == 200
    assert call(app, environ("/", HTTP_HOST="attacker.example:8080")).code == 421
    cross = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert call(app, environ("/", method="POST", headers=cross)).code == 403
    named = to_wsgi(lambda r: "ok", allowed_hosts=["tools.example"], allow_cross_site=["/hook"])
    assert call(named, environ("/", HTTP_HOST="tools.example:8080")).code == 200
    assert call(named, environ("/hook", method="POST", headers=cross)).code == 200


def test_an_absolute_form_authority_replaces_host_under_wsgi_too() -> None:
    # The parser's rule (RFC 9112 3.2.2), applied to the raw URI a WSGI server passes on.
    app = to_wsgi(lambda r: r.authority)
    forged = environ("/", REQUEST_URI="http://attacker.example:8080/")
    assert request_from_environ(forged).authority == "attacker.example:8080"
    assert call(app, forged).code == 421
    ours = environ("/", REQUEST_URI="http://127.0.0.1:8080/", HTTP_HOST="attacker.example:8080")
    assert call(app, ours).body == b"127.0.0.1:8080"
    assert call(app, environ("/", REQUEST_URI="http://[::/")).code == 400
    open_app = to_wsgi(lambda r: "ok", secure=False)
    assert call(open_app, environ("/", HTTP_HOST="attacker.example")).code == 200
    assert "x-frame-options" not in call(open_app, environ("/")).header
    wrapped = secure(lambda r: "ok", allowed_hosts=["a.example"])
    assert call(to_wsgi(wrapped), environ("/", HTTP_HOST="a.example:8080")).code == 200
    with pytest.raises(ValueError, match="already wrapped"):
        to_wsgi(wrapped, allowed_hosts=["b.example"])
    with pytest.raises(ValueError, match="secure=True"):
        to_wsgi(lambda r: "ok", secure=False, allowed_hosts=["x"])
    with pytest.raises(TypeError, match="handler"):
        to_wsgi("not a handler")  # type: ignore[arg-type]


def overlap_probe(serialize: bool) -> int:
    """Call the app from 4 threads at once; return the most handlers that ran at the same time."""
    running = 0
    most = 0
    lock = threading.Lock()
    ready = threading.Barrier(4, timeout=10)

    def handler(request: Request) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return "ok"
    app = to_wsgi(handler, serialize=serialize)

    def worker() -> None:
        ready.wait()
        for _ in range(3):
            call(app, environ("/"), validate=False)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return most


def test_serialize_keeps_one_handler_at_a_time() -> None:
    assert overlap_probe(serialize=True) == 1
    assert overlap_probe(serialize=False) > 1


def test_wsgi_app_is_typed_and_named() -> None:
    app = to_wsgi(echo)
    assert isinstance(app, WSGIApp) and app.lock is not None and repr(app).startswith("<to_wsgi")
    assert to_wsgi(echo, serialize=False).lock is None


# -- the examples under serve_http, wsgiref and waitress -------------------------------------

RUNNER = textwrap.dedent('''
    """Run an example as __main__, with serve_http replaced by a WSGI server serving to_wsgi(handler)."""
    import os, runpy, sys
    sys.path.insert(0, sys.argv[3])
    import kali
    from kali.wsgi import to_wsgi

    def serve_with_wsgi(handler, *, secure=True, allowed_hosts=(), allow_cross_site=(), debug=None, **ignored):
        # What serve_http does on a loopback address: debug on, the same security settings.
        app = to_wsgi(handler, secure=secure, allowed_hosts=allowed_hosts,
                      allow_cross_site=allow_cross_site, debug=True if debug is None else debug)
        port = int(os.environ.get("KALI_PORT") or 8080)
        if sys.argv[1] == "waitress":
            from waitress.server import create_server
            server = create_server(app, host="127.0.0.1", port=port, threads=4)
            print(f"kali: serving http://127.0.0.1:{server.effective_port}/", flush=True)
            server.run()
        else:
            from socketserver import ThreadingMixIn
            from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

            class ThreadingServer(ThreadingMixIn, WSGIServer):
                daemon_threads = True

            class QuietHandler(WSGIRequestHandler):
                def log_message(self, *args):
                    pass
            server = make_server("127.0.0.1", port, app, server_class=ThreadingServer,
                                 handler_class=QuietHandler)
            print(f"kali: serving http://127.0.0.1:{server.server_port}/", flush=True)
            server.serve_forever()

    kali.serve_http = serve_with_wsgi
    runpy.run_path(sys.argv[2], run_name="__main__")
''')


@contextmanager
def running_under(server: str, example: str, env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """examples/EXAMPLE.py in a subprocess, served by 'kali', 'wsgiref' or 'waitress'; yields its URL."""
    if server == "kali":
        with running_example(example, env=env) as url:
            yield url
        return
    runner = tmp_path / "wsgi_runner.py"
    runner.write_text(RUNNER)
    errors = tmp_path / f"{server}-{example}.stderr"
    full_env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1", **env)
    with open(errors, "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(runner), server, str(ROOT / "examples" / f"{example}.py"),
                                 str(ROOT)], cwd=str(ROOT), env=full_env, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    try:
        try:
            url = wait_for_url(proc, 20)
        except Exception as exc:
            raise AssertionError(f"{example} under {server} did not start: {errors.read_text()}") from exc
        yield url
    finally:
        stop_process(proc)


# Headers each server adds or frames its own way; everything else must match exactly.
SERVER_OWN = {"date", "server", "connection", "transfer-encoding", "keep-alive"}


def fetch(url: str, method: str, path: str, *, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        kept = sorted((n.lower(), v) for n, v in response.getheaders() if n.lower() not in SERVER_OWN)
        return response.status, kept, data
    finally:
        conn.close()


TOKEN = re.compile(r'(name="_csrf_token" value=")[^"]*(")')


def normalise(body: bytes) -> str:
    """Remove what legitimately differs between processes: CSRF tokens, traceback frames."""
    text = body.decode("utf-8", "replace")
    text = TOKEN.sub(r"\1TOKEN\2", text)
    return re.sub(r"<pre>.*?</pre>", "<pre>TRACEBACK</pre>", text, flags=re.DOTALL)


class Exchange:
    """Send the same scripted requests to one server and record normalised answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.host = urlsplit(url).netloc
        self.answers: list[tuple[str, int, list[tuple[str, str]], str]] = []

    def send(self, method: str, path: str, *, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        all_headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, kept, data = fetch(self.url, method, path, body=body, headers=all_headers)
        # Lengths differ only where tokens do (same length): compare them after normalising.
        shown = [(n, v if n != "set-cookie" else v.split("=", 1)[0]) for n, v in kept
                 # wsgiref frames an empty 204/304 with 'Content-Length: 0'; kali sends none.
                 if not (n == "content-length" and status in (204, 304))]
        self.answers.append((f"{method} {path}", status, shown, normalise(data)))
        lengths = [v for n, v in kept if n == "content-length"]
        if lengths and method != "HEAD":
            assert int(lengths[0]) == len(data), f"{method} {path}: Content-Length does not match the body"
        return status, dict(kept), data

    def token(self, path: str) -> str:
        match = TOKEN.search(self.send("GET", path)[2].decode())
        assert match is not None, f"no CSRF token on {path}"
        return match.group(0).split('value="')[1][:-1]


def intro_script(x: Exchange) -> None:
    css, icon = asset_url("kali.css"), asset_url("icon.svg")
    for path in ["/", "/hello/Ada?times=3&shout=yes", "/hello/Ada?times=lots", "/hello/%C3%A9t%C3%A9",
                 "/hello/%3Cb%3Eyou%3C", "/add/2/40", "/add/2/forty", "/broken", "/secret",
                 "/nowhere", css, icon, "/_kali/kali.00000000.css", "/_kali/nothing", "/favicon.ico",
                 "/static/../intro.py"]:
        x.send("GET", path)
    x.send("HEAD", "/")
    x.send("HEAD", css)
    x.send("GET", "/nowhere", headers={"Accept": "application/json"})
    x.send("GET", "/", headers={"Host": "rebound.example:" + x.host.split(":")[1]})
    x.send("POST", "/hello/Ada", form={"a": "1"}, headers={"Origin": "http://evil.example",
                                                           "Sec-Fetch-Site": "cross-site"})
    x.send("DELETE", "/hello/Ada")


def datebook_script(x: Exchange) -> None:
    for path in ["/", "/contacts/", "/contacts/new", "/tasks/", "/appointments/", "/contacts/999",
                 "/static/datebook.css", asset_url("kali.css")]:
        x.send("GET", path)
    x.send("HEAD", "/static/datebook.css")
    _, headers, _ = x.send("GET", "/static/datebook.css")
    x.send("GET", "/static/datebook.css", headers={"If-None-Match": headers["etag"]})
    x.send("GET", "/static/datebook.css", headers={"Range": "bytes=10-29"})
    same = {"Origin": x.url.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    x.send("POST", "/sample", form={}, headers=same)                          # no token: 403
    x.send("POST", "/sample", form={"_csrf_token": x.token("/")}, headers=same)
    for path in ["/", "/contacts/", "/tasks/", "/appointments/", "/contacts/?q=a", "/contacts/1"]:
        x.send("GET", path)
    token = x.token("/contacts/new")
    x.send("POST", "/contacts/new", form={"_csrf_token": token, "name": ""}, headers=same)   # errors shown
    status, headers, _ = x.send("POST", "/contacts/new", headers=same, form={
        "_csrf_token": token, "name": "Zoë Ünal", "email": "zoe@example.org", "phone": "",
        "birthday": "", "notes": "Met at the café"})
    assert status == 303, "the new contact was not saved"
    x.send("GET", headers["location"])
    x.send("POST", "/contacts/new", form={"name": "x"}, headers={"Origin": "http://evil.example",
                                                                  "Sec-Fetch-Site": "cross-site"})


def compare_servers(example: str, script: Callable[[Exchange], None], tmp_path: Path,
                    env_for: Callable[[str], dict[str, str]]) -> None:
    results: dict[str, Exchange] = {}
    for server in ("kali", "wsgiref", "waitress"):
        with running_under(server, example, env_for(server), tmp_path) as url:
            exchange = Exchange(url)
            script(exchange)
            results[server] = exchange
    reference = results["kali"].answers
    assert len(reference) > 10
    for server in ("wsgiref", "waitress"):
        answers = results[server].answers
        assert len(answers) == len(reference)
        for ours, theirs in zip(reference, answers):
            # Host headers name each server's own port in some pages: compare with the port removed.
            port_free = [tuple(str(part).replace(results[s].host.split(":")[1], "PORT") for part in answer)
                         for s, answer in (("kali", ours), (server, theirs))]
            assert port_free[1] == port_free[0], f"{server} answered {ours[0]} differently"


def test_intro_answers_the_same_under_serve_http_wsgiref_and_waitress(tmp_path: Path) -> None:
    compare_servers("intro", intro_script, tmp_path, lambda server: {})


def test_datebook_answers_the_same_under_serve_http_wsgiref_and_waitress(tmp_path: Path) -> None:
    compare_servers("datebook", datebook_script, tmp_path,
                    lambda server: {"KALI_DATEBOOK_DB": str(tmp_path / f"{server}.sqlite3")})
