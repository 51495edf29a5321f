"""The serve_http loop over real sockets: responses, timeouts, slow and silent clients, shutdown."""

from __future__ import annotations

import hashlib
import http
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from kali.http import HTTPError
from kali.response import FileBody, Pause, Response
from kali.server import Server
from support import (ROOT, get, parse_response, raw_request, read_until_closed, running_server, serving,
                     stop_process, wait_for_url)


def app(request: Any) -> Any:
    path = request.path
    if path == "/":
        return ["<p>", "Hello", b" bytes ", 42, " ", 1.5, None, ("<", [">"]), "</p>"]
    if path == "/json":
        return {"a": [1, 2], "é": "ü"}
    if path == "/tuple":
        return "made", 201, {"X-Extra": "yes"}
    if path == "/none":
        return None
    if path == "/text":
        return Response.plain_text("plain")
    if path == "/raise":
        raise ValueError("<script>alert(1)</script>")
    if path == "/http-error":
        raise HTTPError(409, "Conflict <b>here</b>")
    if path == "/bad-header":
        return Response("x", headers={"X-Evil": "a\r\nSet-Cookie: x=1"})
    if path == "/bad-iolist":
        return ["fine", {"not": "allowed"}]
    if path == "/big":
        return ["x" * 1000] * 10_000
    if path == "/echo":
        digest = hashlib.sha256()
        f = request.body_file
        size = 0
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            size += len(block)
            digest.update(block)
        return {"size": size, "sha256": digest.hexdigest(), "on_disk": not isinstance(request._body, bytes)}
    if path == "/stream":
        def pieces() -> Any:
            for i in range(3):
                yield f"piece {i}\n"
                yield Pause(0.05)
        return Response.stream(pieces())
    if path == "/file":
        return Response.file(__file__)
    return Response.generic(404, f"nothing at {path}")


@pytest.fixture(scope="module")
def server() -> Any:
    with running_server(app, timeout=0.5, request_timeout=2.0) as srv:
        yield srv


def test_hello_response_shape(server: Any) -> None:
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    status, headers, body = parse_response(raw)
    assert body == b"<p>Hello bytes 42 1.5<></p>"
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["server"].startswith("kali/")
    assert headers["date"].endswith(" GMT") and len(headers["date"]) == 29


def test_handler_results(server: Any) -> None:
    status, headers, body = get(server.port, "/json")
    assert (status, headers["content-type"]) == (200, "application/json")
    assert json.loads(body) == {"a": [1, 2], "é": "ü"}
    status, headers, body = get(server.port, "/tuple")
    assert (status, headers["x-extra"], body) == (201, "yes", b"made")
    status, headers, body = get(server.port, "/none")
    assert (status, body) == (204, b"")
    assert "content-length" not in headers and "content-type" not in headers
    status, headers, body = get(server.port, "/text")
    assert headers["content-type"] == "text/plain; charset=utf-8" and body == b"plain"


def test_head_has_headers_only(server: Any) -> None:
    raw = raw_request(server.port, b"HEAD /big HTTP/1.0\r\n\r\n")
    status, headers, body = parse_response(raw)
    assert status == 200 and body == b""
    assert headers["content-length"] == "10000000"
    raw = raw_request(server.port, b"HEAD /file HTTP/1.0\r\n\r\n")
    status, headers, body = parse_response(raw)
    assert body == b"" and int(headers["content-length"]) == os.path.getsize(__file__)


def test_exception_gives_escaped_500_and_the_loop_goes_on(server: Any, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="kali"):
        status, _, body = get(server.port, "/raise")
    assert status == 500
    assert b"ValueError" in body and b"Traceback" in body
    assert b"<script>" not in body and b"&lt;script&gt;" in body
    assert any("GET /raise" in r.getMessage() for r in caplog.records)
    assert get(server.port, "/")[0] == 200


def test_http_error_and_unsendable_responses(server: Any) -> None:
    status, _, body = get(server.port, "/http-error")
    assert status == 409 and b"Conflict &lt;b&gt;here&lt;/b&gt;" in body
    status, headers, body = get(server.port, "/bad-header")
    assert status == 500 and "set-cookie" not in headers and b"line break" in body
    status, headers, body = get(server.port, "/bad-iolist")
    assert status == 500 and b"dict" in body
    # The fallback page never went through the app's wrappers: it carries the protective headers.
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"


def test_large_iolist_is_sent_completely(server: Any) -> None:
    status, headers, body = get(server.port, "/big", timeout=10)
    assert status == 200 and len(body) == 10_000_000 and headers["content-length"] == "10000000"


def test_file_and_stream_bodies(server: Any) -> None:
    status, _, body = get(server.port, "/file")
    with open(__file__, "rb") as f:
        assert body == f.read()
    status, headers, body = get(server.port, "/stream")
    assert body == b"piece 0\npiece 1\npiece 2\n"
    assert "content-length" not in headers


def test_access_log_line(server: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="kali"):
        get(server.port, "/json?q=1")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not any("/json?q=1" in r.getMessage() for r in caplog.records):
            time.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if "/json?q=1" in r.getMessage())
    method, target, status, size, ms = line.split()
    assert (method, target, status) == ("GET", "/json?q=1", "200")
    assert int(size) > 0 and ms.endswith("ms") and float(ms[:-2]) >= 0


def test_silent_preconnect_does_not_delay_a_real_request(server: Any) -> None:
    connecting = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        time.sleep(0.05)
        started = time.monotonic()
        assert get(server.port, "/")[0] == 200
        assert time.monotonic() - started < 0.3
        # The silent socket is closed without a reply once the first-packet timeout (0.5 s) has
        # run from its connection (the server's clock starts at accept, after `connecting`).
        reply = read_until_closed(silent, timeout=3)
        closed_after = time.monotonic() - connecting
        assert (reply.data, reply.ending) == (b"", "closed")
        assert 0.5 <= closed_after < 2.0, closed_after
    finally:
        silent.close()


def test_a_file_for_a_client_that_stops_reading_does_not_hold_up_the_loop(tmp_path: Any) -> None:
    # The socket buffers fill up long before 64 MiB: sendfile() must find the socket
    # non-blocking (connections are made without the ioctl, and sendfile takes no flags).
    size = 64 << 20
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(size)

    def handler(request: Any) -> Any:
        return Response.file(big) if request.path == "/big" else "ok"
    with running_server(handler) as srv:
        stuck = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            stuck.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            assert stuck.recv(64).startswith(b"HTTP/1.0 200 OK"), "the file started going out"
            # The loop still answers everyone else while that socket takes nothing.
            for _ in range(3):
                assert parse_response(raw_request(srv.port, b"GET / HTTP/1.0\r\n\r\n", timeout=5))[2] == b"ok"
            received = 64
            while received < size:
                chunk = stuck.recv(1 << 20)
                assert chunk, "the file was cut short"
                received += len(chunk)
        finally:
            stuck.close()


def test_slow_client_does_not_delay_others(server: Any) -> None:
    request = b"GET /json HTTP/1.0\r\nX-Slow: " + b"s" * 20 + b"\r\n\r\n"
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    latencies = []
    try:
        for i, byte in enumerate(request):
            slow.send(bytes([byte]))
            if i % 5 == 0:
                t0 = time.monotonic()
                assert get(server.port, "/")[0] == 200
                latencies.append(time.monotonic() - t0)
            time.sleep(0.01)
        reply = read_until_closed(slow)
    finally:
        slow.close()
    assert reply.closed and parse_response(reply.data)[0] == 200
    assert max(latencies) < 0.25, latencies


def test_client_that_stops_reading_does_not_stall_others(server: Any) -> None:
    stuck = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        stuck.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        time.sleep(0.2)     # the server fills the socket buffers and must move on
        t0 = time.monotonic()
        for _ in range(5):
            assert get(server.port, "/")[0] == 200
        assert time.monotonic() - t0 < 1.0
        reply = read_until_closed(stuck, timeout=10)
        assert reply.closed and len(parse_response(reply.data)[2]) == 10_000_000
    finally:
        stuck.close()


def test_100_continue(server: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        reply = read_until_closed(sock)
    assert reply.closed
    status, _, body = parse_response(reply.data)
    assert status == 200 and json.loads(body)["size"] == 5


def test_chunked_upload_and_spooling(server: Any) -> None:
    payload = os.urandom(3 << 20)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 65536]), payload[i:i + 65536])
                      for i in range(0, len(payload), 65536))
    raw = raw_request(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + chunks + b"0\r\n\r\n", timeout=10)
    result = json.loads(parse_response(raw)[2])
    assert result == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "on_disk": True}
    small = raw_request(server.port, b"POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
    assert json.loads(parse_response(small)[2])["on_disk"] is False


def test_oversized_body_gets_413_not_a_reset() -> None:
    with running_server(app, max_body_size=1000) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 5000000\r\n\r\n")
            try:
                sock.sendall(b"x" * 200_000)     # the client keeps sending after the 413
            except OSError:
                pass
            reply = read_until_closed(sock)
        assert reply.closed and parse_response(reply.data)[0] == 413


def test_shut_down_response_ends_the_server() -> None:
    def handler(request: Any) -> Any:
        return Response("bye", shut_down=True) if request.path == "/quit" else "hi"
    server = Server(handler, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert get(server.port, "/")[2] == b"hi"
    assert get(server.port, "/quit")[2] == b"bye"
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from kali import serve_http, Response
def handler(request):
    if request.path == "/big":
        return ["y" * 1000] * 20000
    return "ok"
serve_http(handler, start=None)
"""


def start_script(tmp_path: Any, source: str, **env: str) -> subprocess.Popen[str]:
    script = tmp_path / "app.py"
    script.write_text(source.format(root=str(ROOT)))
    return subprocess.Popen([sys.executable, str(script)], env=dict(os.environ, KALI_PORT="0", **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_finishes_the_response_in_flight(tmp_path: Any) -> None:
    proc = start_script(tmp_path, SCRIPT)
    try:
        url = wait_for_url(proc)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            time.sleep(0.3)               # the response is now partly sent, partly waiting
            proc.send_signal(signal.SIGTERM)
            reply = read_until_closed(sock, timeout=10)
        assert reply.closed
        status, headers, body = parse_response(reply.data)
        assert status == 200 and len(body) == 20_000_000
        assert proc.wait(10) == 0
        assert "finishing responses in flight" in proc.stderr.read()
    finally:
        stop_process(proc)


def test_serve_http_prints_its_url_and_honours_the_environment(tmp_path: Any) -> None:
    proc = start_script(tmp_path, SCRIPT, KALI_NO_BROWSER="1")
    try:
        url = wait_for_url(proc)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert port != 8080 and get(port, "/")[2] == b"ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        stop_process(proc)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc to read peak memory")
def test_one_gib_chunked_upload_with_flat_memory(tmp_path: Any) -> None:
    source = """
import sys, hashlib
sys.path.insert(0, {root!r})
from kali import serve_http
def handler(request):
    digest = hashlib.sha256()
    f = request.body_file
    size = 0
    while block := f.read(1 << 20):
        size += len(block)
        digest.update(block)
    peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
    return {{"size": size, "sha256": digest.hexdigest(), "peak_kib": int(peak)}}
serve_http(handler, start=None, access_log=False)
"""
    proc = start_script(tmp_path, source, KALI_NO_BROWSER="1")
    try:
        url = wait_for_url(proc)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        block = os.urandom(1 << 20)
        digest = hashlib.sha256()
        total = 1 << 30
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"POST /up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n" % port)
            frame = b"%x\r\n" % len(block)
            for _ in range(total // len(block)):
                sock.sendall(frame)
                sock.sendall(block)
                sock.sendall(b"\r\n")
                digest.update(block)
            sock.sendall(b"0\r\n\r\n")
            reply = read_until_closed(sock, timeout=60)
        assert reply.closed and reply.data.startswith(b"HTTP/1.0 200"), reply.data[:600]
        result = json.loads(parse_response(reply.data)[2])
        assert result["size"] == total and result["sha256"] == digest.hexdigest()
        # Python itself takes ~10-20 MiB; the gigabyte went to a temporary file, not memory.
        assert result["peak_kib"] < 80 * 1024, result
    finally:
        stop_process(proc)


def test_the_500_page_states_the_error_before_the_traceback() -> None:
    from kali.testing import Client

    def handler(request: Any) -> Any:
        raise KeyError("the-missing-thing")
    page = Client(handler).get("/").text
    summary = page.find("<pre class=\"exception\"><b>KeyError</b>: &#x27;the-missing-thing&#x27;")
    traceback_at = page.find("<h2>Traceback <small>(most recent call last)")
    assert 0 < summary < traceback_at


def test_json_responses_refuse_nan() -> None:
    import math
    with pytest.raises(ValueError):
        Response.json({"x": math.nan})
    assert Response.json({"x": 1.5}).content == '{"x":1.5}'


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the server's CPU time from /proc")
def test_running_out_of_file_descriptors_neither_spins_nor_stops(tmp_path: Any) -> None:
    source = """
import resource, sys
sys.path.insert(0, {root!r})
resource.setrlimit(resource.RLIMIT_NOFILE, (40, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from kali import serve_http
serve_http(lambda request: "ok", start=None, timeout=30, secure=False)
"""
    proc = start_script(tmp_path, source, KALI_NO_BROWSER="1")
    held: list[socket.socket] = []
    try:
        url = wait_for_url(proc)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        # Silent connections the server keeps open (30 s first-packet timeout) use up its descriptors.
        for _ in range(60):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.3)

        def cpu_seconds() -> float:
            fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        before = cpu_seconds()
        time.sleep(1.0)
        assert cpu_seconds() - before < 0.3, "the loop spins while it cannot accept"
        for sock in held:
            sock.close()
        held.clear()
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _, body = get(port, "/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (status, body) == (200, b"ok")
        assert proc.poll() is None
    finally:
        for sock in held:
            sock.close()
        stop_process(proc)


# -- status lines and bodies on the wire -----------------------------------------------------------

def test_any_status_code_http_status_knows_goes_out_with_its_phrase() -> None:
    codes = [s for s in http.HTTPStatus if s >= 200]

    def handler(request: Any) -> Any:
        return Response("body", code=int(request.path[1:]))

    with running_server(handler) as server:
        for status in codes:
            raw = raw_request(server.port, b"GET /%d HTTP/1.0\r\n\r\n" % status)
            line = raw.split(b"\r\n", 1)[0].decode("ascii")
            assert line == f"HTTP/1.0 {status.value} {status.phrase}", line
            code, headers, body = parse_response(raw)
            if status in (204, 304):
                assert "content-length" not in headers
            else:
                assert headers["content-length"] == "4" and body == b"body"
    with pytest.raises(ValueError, match="600"):
        Response(code=600)


def test_a_large_iolist_goes_out_with_scatter_gather_sendmsg(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(socket.socket, "sendmsg"):
        pytest.skip("this platform has no socket.sendmsg")
    calls: list[int] = []
    real_sendmsg = socket.socket.sendmsg

    def counting_sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
        buffers = list(buffers)
        calls.append(len(buffers))
        return real_sendmsg(self, buffers, *args)

    monkeypatch.setattr(socket.socket, "sendmsg", counting_sendmsg)
    # The server's connections are C-level sockets (a type that takes no new attributes): have it
    # make Python-level ones, whose sendmsg the counter replaces.
    import kali.server
    monkeypatch.setattr(kali.server, "_Socket", socket.socket)
    piece = "ü" * 1000
    with running_server(lambda request: [piece] * 2000) as server:
        status, headers, body = parse_response(raw_request(server.port, b"GET / HTTP/1.0\r\n\r\n", timeout=10))
    assert status == 200 and body == piece.encode() * 2000
    assert headers["content-length"] == str(len(body))
    # The head and many body chunks were handed to the kernel together, never joined first.
    assert calls and max(calls) > 10, calls


# -- failures while answering cost one response, never the server ---------------------------------

def test_a_branded_error_page_that_fails_while_being_sent_falls_back_to_the_default(caplog: Any) -> None:
    # set_error_page's renderer is called inside a try, but a lazy iolist it returns was only
    # consumed by the server: its failure turned the 404 into a 500 page that failed again,
    # and a protocol error's page (no request to blame) killed the loop.
    from kali.response import set_error_page
    from kali.testing import Client

    def branded(code: int, message: str, detail: str | None) -> Any:
        yield "<h1>branded</h1>"
        raise RuntimeError("the error template broke")

    def handler(request: Any) -> Any:
        if request.path == "/missing":
            raise HTTPError(404, "No such note.")
        return "fine"

    set_error_page(branded)
    try:
        with caplog.at_level(logging.ERROR, logger="kali"):
            with running_server(handler, timeout=0.5) as server:
                status, _, body = get(server.port, "/missing")
                assert status == 404 and b"No such note." in body and b"branded" not in body
                status, _, body = parse_response(raw_request(server.port, b"G\x01T / HTTP/1.0\r\n\r\n"))
                assert status == 400 and b"branded" not in body
                assert get(server.port, "/")[2] == b"fine"
        assert any("custom error page failed" in r.getMessage() for r in caplog.records)
        # A branded page that works is used as it is, lazily built or not.
        set_error_page(lambda code, message, detail: (part for part in ["<h1>Oops ", code, "</h1>"]))
        assert Client(handler).get("/missing").text == "<h1>Oops 404</h1>"
    finally:
        set_error_page(None)


def test_a_body_that_stops_arriving_gets_408_and_the_server_goes_on() -> None:
    with running_server(lambda request: "ok", timeout=0.3, request_timeout=1.0) as server:
        started = time.monotonic()
        reply = raw_request(server.port, b"POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc")
        assert parse_response(reply)[0] == 408
        assert 0.9 <= time.monotonic() - started < 3.0
        assert get(server.port, "/")[2] == b"ok"


def test_a_full_disk_while_spooling_a_body_is_507_and_the_server_goes_on(monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: Any) -> None:
    import errno
    import tempfile

    import kali.exchange

    class FullDisk(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        """A spooled file on a disk that fills up after 2 MB."""

        def write(self, data: Any) -> int:
            if self.tell() + len(data) > 2_000_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    # Request bodies are stored by the exchange the server shares with the test client and WSGI
    # (which imports tempfile when a body first needs spooling).
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", FullDisk)
    with caplog.at_level(logging.ERROR, logger="kali"):
        with running_server(lambda request: {"size": len(request.body)}, timeout=0.5) as server:
            raw = raw_request(server.port, b"POST / HTTP/1.0\r\nContent-Length: 3000000\r\n\r\n"
                              + b"x" * 3_000_000, timeout=10)
            assert parse_response(raw)[0] == 507
            # A body that fits is still received, and the loop is alive.
            small = raw_request(server.port, b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")
            assert parse_response(small)[2] == b'{"size":5}'
    assert any("No space left" in r.getMessage() for r in caplog.records)


def test_a_file_body_closed_by_the_handler_is_a_500_and_the_server_goes_on(tmp_path: Any) -> None:
    (tmp_path / "report.txt").write_bytes(b"contents")

    def handler(request: Any) -> Any:
        if request.path == "/file":
            # A natural mistake: the with block closes the file before the server reads it.
            with open(tmp_path / "report.txt", "rb") as f:
                return Response(FileBody(file=f))
        return "alive"

    with running_server(handler, timeout=0.5) as server:
        status, _, body = get(server.port, "/file")
        assert status == 500 and b"closed before it could be sent" in body
        assert get(server.port, "/")[2] == b"alive"


def test_an_unexpected_error_while_sending_costs_one_connection_not_the_server(caplog: Any) -> None:
    class BrokenReader(io.RawIOBase):
        """A file-like body that is not a real file and fails when read (a bug in app code)."""

        def readable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            raise RuntimeError("the reader has a bug")

    def handler(request: Any) -> Any:
        if request.path == "/broken":
            return Response(FileBody(file=BrokenReader(), length=10), content_type="text/plain")
        return "alive"

    with caplog.at_level(logging.ERROR, logger="kali"):
        with running_server(handler, timeout=0.5) as server:
            raw = raw_request(server.port, b"GET /broken HTTP/1.0\r\n\r\n", timeout=5)
            # The head may have gone out already; the body never arrives and the connection closes.
            assert not raw or parse_response(raw)[2] == b""
            assert get(server.port, "/")[2] == b"alive"
    assert any("its connection was closed" in r.getMessage() for r in caplog.records)


def test_an_unexpected_error_on_the_straight_line_costs_one_connection_not_the_server(
        caplog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A whole GET is answered without a Connection object; a bug met there closes its socket.
    import kali.connection
    real = kali.connection.reply_in_one_buffer

    def failing(code: int, *args: Any) -> Any:
        if code == 200:
            raise RuntimeError("a bug in the straight line")
        return real(code, *args)
    monkeypatch.setattr(kali.connection, "reply_in_one_buffer", failing)
    with caplog.at_level(logging.ERROR, logger="kali"):
        server = Server(lambda request: "ok" if request.path == "/" else None, port=0, timeout=0.5)
        # Sent before the loop runs, the request is whole when it is accepted: the straight line takes it.
        early = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        early.sendall(b"GET / HTTP/1.0\r\n\r\n")
        with early, serving(server):
            reply = read_until_closed(early)
            assert reply.closed and reply.data == b"", "closed without a reply"
            assert get(server.port, "/other")[0] == 204, "the loop went on"
            assert not server._conns
    assert [r.getMessage() for r in caplog.records] == [
        "internal error while serving 127.0.0.1; its connection was closed"]


# -- serve_http and the browser ----------------------------------------------------------------

def run_serve_http(monkeypatch: pytest.MonkeyPatch, start: Any, no_browser: bool) -> tuple[list[str], str]:
    """Run serve_http in a thread with webbrowser.open recorded; returns (opened URLs, printed line)."""
    import webbrowser

    from kali.server import serve_http

    opened: list[str] = []
    ready = threading.Event()
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: (opened.append(url), ready.set()) and True)
    monkeypatch.setenv("KALI_PORT", "0")
    if no_browser:
        monkeypatch.setenv("KALI_NO_BROWSER", "1")
    else:
        monkeypatch.delenv("KALI_NO_BROWSER", raising=False)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    kali_logger = logging.getLogger("kali")
    level = kali_logger.level

    def handler(request: Any) -> Any:
        return Response("bye", shut_down=True) if request.path == "/quit" else "hi"

    kwargs = {} if start == "default" else {"start": start}
    thread = threading.Thread(target=serve_http, args=(handler,), kwargs=dict(kwargs, access_log=False),
                              daemon=True)
    try:
        thread.start()
        deadline = threading.Event()
        for _ in range(200):
            if "kali: serving " in out.getvalue():
                break
            deadline.wait(0.01)
        line = out.getvalue().splitlines()[0]
        port = int(line.rsplit(":", 1)[1].strip("/"))
        ready.wait(0 if no_browser or start is None else 5)
        assert get(port, "/quit")[2] == b"bye"
        thread.join(5)
        assert not thread.is_alive()
    finally:
        kali_logger.setLevel(level)
    return opened, line


def test_serve_http_opens_the_browser_at_start_after_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    opened, line = run_serve_http(monkeypatch, "/welcome?x=1", no_browser=False)
    assert line.startswith("kali: serving http://127.0.0.1:") and line.endswith("/")
    url = line.split("kali: serving ", 1)[1]
    assert opened == [url + "welcome?x=1"]      # the real port, known only once bound
    opened, line = run_serve_http(monkeypatch, "default", no_browser=False)
    assert opened == [line.split("kali: serving ", 1)[1]]


@pytest.mark.parametrize("start,no_browser", [(None, False), ("/", True)], ids=["start=None", "KALI_NO_BROWSER"])
def test_serve_http_can_skip_the_browser(monkeypatch: pytest.MonkeyPatch, start: Any, no_browser: bool) -> None:
    opened, line = run_serve_http(monkeypatch, start, no_browser)
    assert line.startswith("kali: serving http://127.0.0.1:")
    threading.Event().wait(0.2)         # the browser is opened from a thread: give it a chance
    assert opened == []


def _queued_requests(server: Any, count: int) -> list[socket.socket]:
    """`count` clients connected to `server` (not yet accepted), each with its whole request sent."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        clients.append(client)
    time.sleep(0.2)         # the requests reach the server's side of each socket
    return clients


def _answered(clients: list[socket.socket]) -> list[bool]:
    """Whether each client has its 200 waiting (peeked: the reply stays for a later look)."""
    found = []
    for client in clients:
        client.setblocking(False)
        try:
            found.append(client.recv(100, socket.MSG_PEEK).startswith(b"HTTP/1.0 200"))
        except BlockingIOError:
            found.append(False)
    return found


def test_accept_takes_one_connection_per_event_until_a_probe_finds_more() -> None:
    from kali.server import _PROBE_EVERY
    server = Server(lambda request: "hi", port=0)
    clients = _queued_requests(server, 3)
    try:
        server._accept()
        assert _answered(clients) == [True, False, False]
        assert not server._bursting
        server._single_accepts = _PROBE_EVERY - 1      # the next single accept tries for more
        server._accept()
        assert _answered(clients) == [True, True, True]
        assert not server._bursting                     # the burst found the queue empty
    finally:
        server.close()
        for client in clients:
            client.close()


def test_accept_in_burst_mode_serves_at_most_a_burst_then_yields() -> None:
    from kali.server import _ACCEPT_BURST
    server = Server(lambda request: "hi", port=0)
    clients = _queued_requests(server, _ACCEPT_BURST + 2)
    try:
        server._bursting = True
        server._accept()
        assert _answered(clients) == [True] * _ACCEPT_BURST + [False, False]
        assert server._bursting                         # more were waiting: stay in burst mode
        server._accept()
        assert _answered(clients) == [True] * (_ACCEPT_BURST + 2)
        assert not server._bursting
    finally:
        server.close()
        for client in clients:
            client.close()


def test_a_burst_of_accepts_ends_when_a_handler_stops_the_server() -> None:

    def stopping(request: Any) -> str:
        server.stop()
        return "bye"
    server = Server(stopping, port=0)
    clients = _queued_requests(server, 3)
    try:
        server._bursting = True
        server._accept()
        assert _answered(clients) == [True, False, False]
    finally:
        server.close()
        for client in clients:
            client.close()
