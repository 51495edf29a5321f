"""HTTPS on the same one-thread loop: round trips, and handshakes that never finish stall no one."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from kali.response import Pause, Response
from kali.security import TOKEN_PARAMETER, secure
from support import ROOT, parse_response, read_until_closed, running_server, stop_process, wait_for_url

# -- a self-signed certificate for 127.0.0.1, made by the test ------------------------------


def openssl_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) made by the openssl command-line tool."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 128:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_int(value: int) -> bytes:
    # One spare bit keeps a positive number from reading as negative.
    return _der(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def _der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(groups))
    return _der(0x06, bytes(out))


def _der_seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def _is_probable_prime(n: int) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(40):                     # Miller-Rabin
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int, e: int) -> int:
    while True:
        n = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if (n - 1) % e and _is_probable_prime(n):
            return n


def _pem(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def python_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem): RSA-2048 and an X.509 v3 certificate for IP 127.0.0.1, in pure Python."""
    e = 65537
    p = _random_prime(1024, e)
    q = _random_prime(1024, e)
    while q == p:
        q = _random_prime(1024, e)
    n = p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    key = _der_seq(_der_int(0), _der_int(n), _der_int(e), _der_int(d), _der_int(p), _der_int(q),
                   _der_int(d % (p - 1)), _der_int(d % (q - 1)), _der_int(pow(q, -1, p)))
    sha256_rsa = _der_seq(_der_oid("1.2.840.113549.1.1.11"), b"\x05\x00")
    name = _der_seq(_der(0x31, _der_seq(_der_oid("2.5.4.3"), _der(0x0C, b"127.0.0.1"))))
    now = datetime.datetime.now(datetime.timezone.utc)

    def utc_time(t: datetime.datetime) -> bytes:
        return _der(0x17, t.strftime("%y%m%d%H%M%SZ").encode("ascii"))

    validity = _der_seq(utc_time(now - datetime.timedelta(days=1)), utc_time(now + datetime.timedelta(days=2)))
    public_key = _der_seq(_der_seq(_der_oid("1.2.840.113549.1.1.1"), b"\x05\x00"),
                          _der(0x03, b"\x00" + _der_seq(_der_int(n), _der_int(e))))
    alt_name = _der_seq(_der_oid("2.5.29.17"), _der(0x04, _der_seq(_der(0x87, bytes([127, 0, 0, 1])))))
    tbs = _der_seq(_der(0xA0, _der_int(2)), _der_int(secrets.randbits(63)), sha256_rsa, name, validity,
                   name, public_key, _der(0xA3, _der_seq(alt_name)))
    size = (n.bit_length() + 7) // 8
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(tbs).digest()
    padded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    signature = pow(int.from_bytes(padded, "big"), d, n).to_bytes(size, "big")
    cert_der = _der_seq(tbs, sha256_rsa, _der(0x03, b"\x00" + signature))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_text(_pem("CERTIFICATE", cert_der))
    key_path.write_text(_pem("RSA PRIVATE KEY", key))
    return cert_path, key_path


def make_certificate(folder: Path, how: str) -> tuple[Path, Path]:
    if how == "openssl":
        if shutil.which("openssl") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("the openssl command is missing in CI (apt-get install -y openssl)")
            pytest.skip("the openssl command is not installed (apt-get install -y openssl); "
                        "the pure-Python certificate variant of this test still runs")
        return openssl_certificate(folder)
    return python_certificate(folder)


class TLS:
    """A server context and a client context that trusts exactly the test certificate."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.load_cert_chain(str(cert), str(key))
        # PROTOCOL_TLS_CLIENT verifies the chain and the host name (127.0.0.1 is in the certificate).
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client.load_verify_locations(str(cert))


@pytest.fixture(scope="module", params=["openssl", "python"])
def any_tls(request: Any, tmp_path_factory: Any) -> TLS:
    return TLS(*make_certificate(tmp_path_factory.mktemp(f"cert-{request.param}"), request.param))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: Any) -> TLS:
    folder = tmp_path_factory.mktemp("cert")
    how = "openssl" if shutil.which("openssl") else "python"
    return TLS(*make_certificate(folder, how))


# -- the app and a client ---------------------------------------------------------------------

BIG = bytes(range(256)) * 12_000          # 3 MB: many TLS records and partial writes


def app(request: Any) -> Any:
    path = request.path
    if path == "/hello":
        return Response.plain_text([request.scheme, " ", request.method, " ", request.path])
    if path == "/echo":
        body = request.body
        return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if path == "/big":
        return Response(BIG, content_type="application/octet-stream")
    if path == "/file":
        return Response.file(__file__)
    if path == "/stream":
        def pieces() -> Iterator[Any]:
            for i in range(3):
                yield f"piece {i}\n"
                yield Pause(0.02)
        return Response.stream(pieces())
    return Response.generic(404, "no such page")


def https_request(port: int, tls: TLS, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send raw request bytes over a verified TLS connection; everything until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
        with tls.client.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
            sock.sendall(raw)
            reply = read_until_closed(sock, timeout)
    assert reply.closed, f"the server did not close the TLS connection within {timeout} s"
    return reply.data


def https_get(port: int, tls: TLS, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode("ascii")
    return parse_response(https_request(port, tls, raw, timeout))


# -- round trips ------------------------------------------------------------------------------

def test_round_trip_with_a_certificate_made_in_the_test(any_tls: TLS) -> None:
    with running_server(app, ssl_context=any_tls.server) as server:
        assert server.url == f"https://127.0.0.1:{server.port}/"
        status, headers, body = https_get(server.port, any_tls, "/hello")
        assert status == 200 and body == b"https GET /hello"
        assert headers["content-length"] == str(len(body))


def test_the_client_refuses_a_certificate_it_does_not_trust(tls: TLS, tmp_path: Path) -> None:
    # Proves the round trips above really verify: another certificate fails the handshake.
    other = TLS(*python_certificate(tmp_path))
    with running_server(app, ssl_context=other.server) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(server.port, tls, "/hello")
        assert https_get(server.port, other, "/hello")[0] == 200


def test_large_upload_and_download(tls: TLS) -> None:
    upload = os.urandom(1_500_000)
    with running_server(app, ssl_context=tls.server) as server:
        head = (f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Length: {len(upload)}\r\n\r\n").encode("ascii")
        status, _, body = parse_response(https_request(server.port, tls, head + upload, timeout=20))
        assert status == 200
        assert body == (b'{"size":%d,"sha256":"%s"}' % (len(upload), hashlib.sha256(upload).hexdigest().encode()))
        status, _, body = https_get(server.port, tls, "/big", timeout=20)
        assert status == 200 and body == BIG


def test_file_and_stream_bodies(tls: TLS) -> None:
    with running_server(app, ssl_context=tls.server) as server:
        status, _, body = https_get(server.port, tls, "/file")
        assert status == 200 and body == Path(__file__).read_bytes()
        status, _, body = https_get(server.port, tls, "/stream")
        assert status == 200 and body == b"piece 0\npiece 1\npiece 2\n"


def test_secured_app_over_https(tls: TLS) -> None:
    with running_server(secure(app), ssl_context=tls.server) as server:
        status, headers, _ = https_get(server.port, tls, "/hello")
        assert status == 200 and headers["x-frame-options"] == "DENY"
        # An https origin is not the http one: the scheme is part of the comparison.
        for origin, expected in ((f"https://127.0.0.1:{server.port}", 200), (f"http://127.0.0.1:{server.port}", 403)):
            raw = (f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: {origin}\r\n"
                   f"Content-Length: 2\r\n\r\nhi").encode("ascii")
            assert parse_response(https_request(server.port, tls, raw))[0] == expected


# -- clients that never finish: nobody else waits ------------------------------------------------

def client_hello() -> bytes:
    """The first flight of a real TLS client, without a socket."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_a_silent_client_does_not_stall_a_second_client(tls: TLS) -> None:
    # A long first-packet timeout keeps the silent connections open for the whole test: if the
    # loop waited on a handshake, the real request would time out instead of being answered.
    with running_server(app, ssl_context=tls.server, timeout=30.0) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        half = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        try:
            hello = client_hello()
            half.sendall(hello[: len(hello) // 2])     # a handshake that stops in the middle
            time.sleep(0.2)                           # let the loop accept them all first
            for _ in range(3):
                status, _, body = https_get(server.port, tls, "/hello", timeout=5)
                assert status == 200 and body == b"https GET /hello"
            for sock in silent + [half]:
                sock.settimeout(0.05)
                with pytest.raises(socket.timeout):
                    sock.recv(1)                      # still open and unanswered: it was never served
        finally:
            for sock in silent + [half]:
                sock.close()


def test_silent_and_half_finished_handshakes_are_closed_after_the_timeout(tls: TLS) -> None:
    with running_server(app, ssl_context=tls.server, timeout=0.3) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent, \
                socket.create_connection(("127.0.0.1", server.port), timeout=5) as half:
            hello = client_hello()
            half.sendall(hello[:20])
            assert silent.recv(100) == b""            # closed by the server (a timeout would raise)
            assert half.recv(100) == b""


def test_a_finished_handshake_without_a_request_does_not_stall_others(tls: TLS) -> None:
    with running_server(app, ssl_context=tls.server, timeout=30.0, request_timeout=30.0) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as plain:
            with tls.client.wrap_socket(plain, server_hostname="127.0.0.1") as idle:
                assert https_get(server.port, tls, "/hello")[0] == 200
                idle.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert idle.recv(1 << 16).startswith(b"HTTP/1.0 200 ")


def test_plain_http_on_the_https_port_is_dropped_and_serving_goes_on(tls: TLS) -> None:
    with running_server(app, ssl_context=tls.server) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            reply = read_until_closed(sock)
            assert reply.closed, "plain HTTP on the TLS port must be dropped, not left open"
            assert b"HTTP/1.0 200" not in reply.data     # no plaintext answer from a TLS port
        assert https_get(server.port, tls, "/hello")[0] == 200


def test_a_refused_upload_gets_its_413_over_tls(tls: TLS) -> None:
    # The server answers before reading the body, then half-closes: that path must work on TLS too.
    with running_server(app, ssl_context=tls.server, max_body_size=1000) as server:
        raw = (f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               f"Content-Length: 200000\r\n\r\n").encode("ascii") + b"x" * 50_000
        status, _, body = parse_response(https_request(server.port, tls, raw))
        assert status == 413 and b"413" in body
        assert https_get(server.port, tls, "/hello")[0] == 200


SERVE_SCRIPT = """
import ssl, sys
sys.path.insert(0, {root!r})
from kali import serve_http
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain({cert!r}, {key!r})
serve_http(lambda request: "private and encrypted", start=None, ssl_context=context, private=True)
"""


def test_serve_http_with_tls_and_a_launch_token(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "python")
    local = TLS(cert, key)
    script = tmp_path / "app.py"
    script.write_text(SERVE_SCRIPT.format(root=str(ROOT), cert=str(cert), key=str(key)))
    env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_url(proc)
        assert url.startswith("https://127.0.0.1:")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert proc.stdout is not None
        link = proc.stdout.readline().strip()         # the line right after "kali: serving"
        assert link.startswith(f"kali: private app: open {url}?{TOKEN_PARAMETER}=")
        target = link.split(url, 1)[1]
        assert https_get(port, local, "/")[0] == 403
        status, headers, _ = https_get(port, local, "/" + target)
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        raw = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie.split(';')[0]}\r\n\r\n").encode()
        status, _, body = parse_response(https_request(port, local, raw))
        assert status == 200 and body == b"private and encrypted"
    finally:
        stop_process(proc)
