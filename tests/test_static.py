"""Tests for kali.static.StaticFolder: types, validators, conditional and range requests, path safety, sendfile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from kali.response import guess_type, http_date
from kali.routing import Router
from kali.static import StaticFolder
from kali.testing import Client, TestResponse
from support import ROOT, get, parse_response, raw_request, running_server, stop_process, wait_for_url

SECRET = b"TOPSECRET-outside-the-folder"
HIDDEN = b"HIDDENSECRET-dot-file"
CSS = b"body { color: #333 }\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/secret.txt (outside), tmp/public/ (served) with files, hidden files and symlinks."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    public = tmp_path / "public"
    (public / "css").mkdir(parents=True)
    (public / "css" / "site.css").write_bytes(CSS)
    (public / "app.js").write_text("console.log('é')\n", encoding="utf-8")
    (public / "page.html").write_text("<p>hi</p>\n")
    (public / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (public / "pic.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (public / "data.json").write_text("{}")
    (public / "notes.txt").write_text("0123456789")
    (public / "blob.zzzunknown").write_bytes(b"?")
    (public / "empty.txt").write_bytes(b"")
    (public / "a b é.txt").write_text("spaced")
    (public / ".env").write_bytes(HIDDEN)
    (public / ".git").mkdir()
    (public / ".git" / "config").write_bytes(HIDDEN)
    (public / "docs").mkdir()
    (public / "docs" / "index.html").write_text("<h1>docs</h1>")
    (public / "bare").mkdir()
    (public / "bare" / "b.txt").write_text("b")
    (public / "bare" / "A.txt").write_text("a")
    (public / "bare" / "<script>&.txt").write_text("x")
    (public / "bare" / ".hidden").write_text("x")
    (public / "bare" / "sub").mkdir()
    if hasattr(os, "symlink"):
        os.symlink(tmp_path / "secret.txt", public / "abslink")
        os.symlink("../secret.txt", public / "out")
        os.symlink("..", public / "outdir")
        os.symlink("css/site.css", public / "inside-link.css")
        os.symlink(".env", public / "to-hidden.txt")
        os.symlink("css/site.css", public / ".alias.css")     # a hidden name for a file that is not hidden
        os.symlink(tmp_path, public / "bare" / "up")
    return public


@pytest.fixture
def client(site: Path) -> Client:
    app = Router()
    app.delegate_folder("/static/", StaticFolder(site))

    @app.function("/")
    def home() -> str:
        return "home"
    return Client(app)


# -- content types and validators ---------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("css/site.css", "text/css; charset=utf-8"),
    ("page.html", "text/html; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("logo.png", "image/png"),
    ("pic.svg", "image/svg+xml; charset=utf-8"),
    ("data.json", "application/json; charset=utf-8"),
    ("blob.zzzunknown", "application/octet-stream"),
])
def test_content_type(client: Client, name: str, expected: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status == 200
    assert response.headers["content-type"] == expected
    assert response.headers["x-content-type-options"] == "nosniff"


def test_javascript_is_text_with_a_charset(client: Client) -> None:
    ctype = client.get("/static/app.js").headers["content-type"]
    assert ctype in ("text/javascript; charset=utf-8", "application/javascript; charset=utf-8")
    assert ctype == guess_type("app.js")


def test_body_length_and_validators(client: Client, site: Path) -> None:
    response = client.get("/static/css/site.css")
    assert response.body == CSS
    assert response.headers["content-length"] == str(len(CSS))
    info = (site / "css" / "site.css").stat()
    assert response.headers["last-modified"] == http_date(info.st_mtime)
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "no-cache"


def test_etag_changes_with_the_file(client: Client, site: Path) -> None:
    path = site / "notes.txt"
    first = client.get("/static/notes.txt").headers["etag"]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    second = client.get("/static/notes.txt").headers["etag"]
    path.write_text("0123456789+")
    third = client.get("/static/notes.txt").headers["etag"]
    assert len({first, second, third}) == 3


def test_max_age(site: Path) -> None:
    response = Client(StaticFolder(site, max_age=3600)).get("/notes.txt")
    assert response.headers["cache-control"] == "max-age=3600"


def test_names_are_percent_decoded(client: Client) -> None:
    assert client.get("/static/a%20b%20%C3%A9.txt").text == "spaced"


def test_empty_file(client: Client) -> None:
    response = client.get("/static/empty.txt")
    assert (response.status, response.body, response.headers["content-length"]) == (200, b"", "0")


# -- conditional requests ---------------------------------------------------------------------

def test_if_none_match(client: Client) -> None:
    etag = client.get("/static/notes.txt").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/static/notes.txt", headers={"If-None-Match": header})
        assert response.status == 304, header
        assert response.body == b""
        assert response.headers["etag"] == etag
        assert "content-length" not in response.headers
    assert client.get("/static/notes.txt", headers={"If-None-Match": '"nope"'}).status == 200
    assert client.head("/static/notes.txt", headers={"If-None-Match": etag}).status == 304


def test_if_modified_since(client: Client, site: Path) -> None:
    mtime = (site / "notes.txt").stat().st_mtime
    later = formatdate(mtime + 60, usegmt=True)
    earlier = formatdate(mtime - 60, usegmt=True)
    assert client.get("/static/notes.txt", headers={"If-Modified-Since": http_date(mtime)}).status == 304
    assert client.get("/static/notes.txt", headers={"If-Modified-Since": later}).status == 304
    assert client.get("/static/notes.txt", headers={"If-Modified-Since": earlier}).status == 200
    assert client.get("/static/notes.txt", headers={"If-Modified-Since": "yesterday"}).status == 200
    # If-None-Match decides when both are sent.
    assert client.get("/static/notes.txt", headers={"If-Modified-Since": later,
                                                   "If-None-Match": '"other"'}).status == 200


# -- ranges -----------------------------------------------------------------------------------

@pytest.mark.parametrize("header, body, content_range", [
    ("bytes=0-3", b"0123", "bytes 0-3/10"),
    ("bytes=7-", b"789", "bytes 7-9/10"),
    ("bytes=-4", b"6789", "bytes 6-9/10"),
    ("bytes=-100", b"0123456789", "bytes 0-9/10"),
    ("bytes=8-100", b"89", "bytes 8-9/10"),
    ("bytes=5-5", b"5", "bytes 5-5/10"),
    ("Bytes = 2-3", b"23", "bytes 2-3/10"),
])
def test_single_range(client: Client, header: str, body: bytes, content_range: str) -> None:
    response = client.get("/static/notes.txt", headers={"Range": header})
    assert response.status == 206
    assert response.body == body
    assert response.headers["content-range"] == content_range
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_range_is_416(client: Client, header: str) -> None:
    response = client.get("/static/notes.txt", headers={"Range": header})
    assert response.status == 416
    assert response.headers["content-range"] == "bytes */10"


def test_range_on_an_empty_file_is_416(client: Client) -> None:
    assert client.get("/static/empty.txt", headers={"Range": "bytes=0-"}).status == 416


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "bytes=\u00b9-\u00b2",
                                    "bytes=--1", "bytes 0-1"])
def test_ranges_not_understood_send_the_whole_file(client: Client, header: str) -> None:
    response = client.get("/static/notes.txt", headers={"Range": header})
    assert (response.status, response.body) == (200, b"0123456789")


def test_if_range(client: Client) -> None:
    first = client.get("/static/notes.txt")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get("/static/notes.txt", headers={"Range": "bytes=0-1", "If-Range": etag}).status == 206
    assert client.get("/static/notes.txt", headers={"Range": "bytes=0-1", "If-Range": modified}).status == 206
    assert client.get("/static/notes.txt", headers={"Range": "bytes=0-1", "If-Range": '"old"'}).status == 200
    assert client.get("/static/notes.txt", headers={"Range": "bytes=0-1", "If-Range": f"W/{etag}"}).status == 200


# -- methods ----------------------------------------------------------------------------------

def test_head_has_the_headers_and_no_body(client: Client) -> None:
    full = client.get("/static/logo.png")
    head = client.head("/static/logo.png")
    assert head.status == 200 and head.body == b""
    for name in ("content-type", "content-length", "etag", "last-modified"):
        assert head.headers[name] == full.headers[name]
    ranged = client.head("/static/notes.txt", headers={"Range": "bytes=1-2"})
    assert (ranged.status, ranged.headers["content-length"]) == (206, "2")


def test_other_methods_are_405(client: Client) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response = client.request(method, "/static/notes.txt")
        assert response.status == 405
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.options("/static/notes.txt").headers["allow"] == "GET, HEAD, OPTIONS"


# -- folders ----------------------------------------------------------------------------------

def test_folders(client: Client) -> None:
    assert client.get("/static/docs/").text == "<h1>docs</h1>"
    response = client.get("/static/docs?x=1")
    assert (response.status, response.location) == (308, "/static/docs/?x=1")
    assert client.get("/static/bare/").status == 404      # no index, listing off
    assert client.get("/static/").status == 404
    assert client.get("/static").location == "/static/"


def test_listing_is_sorted_escaped_and_hides_dot_files(site: Path) -> None:
    app = Router()
    app.delegate_folder("/s/", StaticFolder(site, listing=True))
    client = Client(app)
    response = client.get("/s/bare/")
    assert response.status == 200
    text = response.text
    assert "<script>" not in text
    assert "&lt;script&gt;&amp;.txt" in text
    assert 'href="%3Cscript%3E%26.txt"' in text
    assert ".hidden" not in text
    assert "up/" not in text or not hasattr(os, "symlink")     # a link out of the folder is not listed
    order = [text.index(name) for name in ('"A.txt"', '"b.txt"', '"sub/"')]
    assert order == sorted(order)
    assert 'href="../"' in text
    assert 'href="../"' not in client.get("/s/").text      # no way up from the top


def test_hidden_files_can_be_shown(site: Path) -> None:
    client = Client(StaticFolder(site, show_hidden=True))
    assert client.get("/.env").body == HIDDEN
    assert client.get("/.git/config").body == HIDDEN


def test_missing_directory_is_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        StaticFolder(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        StaticFolder(tmp_path / "file")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_inside_the_folder_are_served(client: Client) -> None:
    response = client.get("/static/inside-link.css")
    assert (response.status, response.body) == (200, CSS)
    assert response.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_not_opened(site: Path) -> None:
    os.mkfifo(site / "pipe.txt")
    # Opening a FIFO for reading would block the server's only thread until a writer appears.
    assert Client(StaticFolder(site)).get("/pipe.txt").status == 404


def test_a_file_asked_for_as_a_folder_is_404(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_text("body{}")
    app = Router()
    app.delegate_folder("/static/", StaticFolder(tmp_path))
    client = Client(app)
    ok = client.get("/static/css/site.css")
    assert (ok.status, ok.headers["content-type"]) == (200, "text/css; charset=utf-8")
    # Served as a folder it had no type (application/octet-stream) and broke relative URLs.
    assert client.get("/static/css/site.css/").status == 404
    assert Client(StaticFolder(tmp_path)).get("/css/site.css/").status == 404


# -- traversal corpus -------------------------------------------------------------------------

# Each target with the status it must get from StaticFolder alone, the same with show_hidden=True,
# then both through a Router (which first redirects '.' and '..' segments to the normal path):
#   403  the segment checks: a '.' or '..' segment, an encoded slash or a backslash, a NUL, a drive
#        letter, an empty segment;
#   404  a hidden name (unless show_hidden), or a path that resolves outside the folder (realpath);
#   400  a path that is not UTF-8 once percent-decoded (the request refuses it before StaticFolder);
#   200  only with show_hidden=True, for a hidden file inside the folder (never anything outside it).
# So with show_hidden=True the '..' check and the realpath check are each tested on their own, and
# a pinned status says which defence answered.
HOSTILE: list[tuple[str, int, int, int, int]] = [
    ("/static/../secret.txt",                     403, 403, 404, 404),
    ("/static/%2e%2e/secret.txt",                 403, 403, 404, 404),
    ("/static/%2E%2E/secret.txt",                 403, 403, 404, 404),
    ("/static/.%2e/secret.txt",                   403, 403, 404, 404),
    ("/static/%2e./secret.txt",                   403, 403, 404, 404),
    ("/static/..%2fsecret.txt",                   403, 403, 403, 403),
    ("/static/..%2Fsecret.txt",                   403, 403, 403, 403),
    ("/static/%2e%2e%2fsecret.txt",               403, 403, 403, 403),
    ("/static/..%5csecret.txt",                   403, 403, 403, 403),
    ("/static/..\\secret.txt",                    403, 403, 403, 403),
    ("/static/css/..%2f..%2fsecret.txt",          403, 403, 403, 403),
    ("/static/css/%2e%2e/%2e%2e/secret.txt",      403, 403, 404, 404),
    ("/static/css/../../secret.txt",              403, 403, 404, 404),
    ("/static/%2e%2e%5c%2e%2e%5csecret.txt",      403, 403, 403, 403),
    ("/static/%2fetc%2fpasswd",                   403, 403, 403, 403),
    ("/static//etc/passwd",                       403, 403, 404, 404),
    ("/static/%252e%252e/secret.txt",             404, 404, 404, 404),
    ("/static/secret.txt%00.css",                 403, 403, 403, 403),
    ("/static/%00",                               403, 403, 403, 403),
    ("/static/css/site.css%00",                   403, 403, 403, 403),
    ("/static/.%00./secret.txt",                  403, 403, 403, 403),
    ("/static/..%c0%af../secret.txt",             400, 400, 400, 400),
    ("/static/%c0%ae%c0%ae/secret.txt",           400, 400, 400, 400),
    ("/static/....//secret.txt",                  404, 403, 404, 404),
    ("/static/..;/secret.txt",                    404, 404, 404, 404),
    ("/static/C:/Windows/win.ini",                403, 403, 403, 403),
    ("/static/c%3a%5cwindows%5cwin.ini",          403, 403, 403, 403),
    ("/static/\\\\server\\share\\secret.txt",     403, 403, 403, 403),
    ("/static/%5c%5cserver%5cshare",              403, 403, 403, 403),
    ("/static/.env",                              404, 200, 404, 200),
    ("/static/%2eenv",                            404, 200, 404, 200),
    ("/static/%2e%65nv",                          404, 200, 404, 200),
    ("/static/./.env",                            403, 403, 404, 200),
    ("/static/.git/config",                       404, 200, 404, 200),
    ("/static/css/../.git/config",                403, 403, 404, 200),
    ("/static/.alias.css",                        404, 200, 404, 200),
    ("/static/out",                               404, 404, 404, 404),
    ("/static/outdir/secret.txt",                 404, 404, 404, 404),
    ("/static/outdir/public/.env",                404, 200, 404, 200),
    ("/static/abslink",                           404, 404, 404, 404),
    ("/static/to-hidden.txt",                     404, 200, 404, 200),
    ("/static/bare/up/secret.txt",                404, 404, 404, 404),
    ("/static/" + "../" * 20 + "etc/passwd",      403, 403, 404, 404),
]
TARGETS = [target for target, *_ in HOSTILE]
ALONE = [(target, alone, shown) for target, alone, shown, _, _ in HOSTILE]
ROUTED = [(target, routed, shown) for target, _, _, routed, shown in HOSTILE]
SYMLINKED = {"/static/out", "/static/outdir/secret.txt", "/static/outdir/public/.env", "/static/abslink",
             "/static/to-hidden.txt", "/static/bare/up/secret.txt", "/static/.alias.css"}


def fetch(client: Client, target: str) -> TestResponse:
    """Send a target byte for byte (no client-side quoting) and follow redirects like a browser."""
    for _ in range(5):
        response = client.send_raw(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"))
        if response.status not in (301, 302, 303, 307, 308):
            return response
        target = response.location or "/"
    raise AssertionError(f"too many redirects from {target}")


def assert_answer(response: TestResponse, target: str, status: int) -> None:
    """The pinned status, and nothing from outside the folder (a hidden file only when it may be shown)."""
    if target in SYMLINKED and not hasattr(os, "symlink"):
        status = 404
    assert response.status == status, (target, response.status, response.text[:200])
    assert SECRET not in response.body and b"root:" not in response.body, target
    if status == 200:
        assert response.body in (HIDDEN, CSS), target
    else:
        assert HIDDEN not in response.body, target


def test_traversal_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 25
    assert len(set(TARGETS)) == len(TARGETS)


@pytest.mark.parametrize("show_hidden", [False, True], ids=["hidden", "shown"])
@pytest.mark.parametrize("target, status, status_shown", ROUTED, ids=TARGETS)
def test_traversal_through_the_router(site: Path, target: str, status: int, status_shown: int,
                                      show_hidden: bool) -> None:
    app = Router()
    app.delegate_folder("/static/", StaticFolder(site, show_hidden=show_hidden))
    assert_answer(fetch(Client(app), target), target, status_shown if show_hidden else status)


@pytest.mark.parametrize("show_hidden", [False, True], ids=["hidden", "shown"])
@pytest.mark.parametrize("target, status, status_shown", ALONE, ids=TARGETS)
def test_traversal_without_a_router(site: Path, target: str, status: int, status_shown: int,
                                    show_hidden: bool) -> None:
    # Mounted directly as the app, nothing normalises the path before StaticFolder sees it.
    client = Client(StaticFolder(site, show_hidden=show_hidden))
    assert_answer(fetch(client, target.replace("/static", "", 1)), target, status_shown if show_hidden else status)


def test_traversal_over_a_real_socket(site: Path) -> None:
    app = Router()
    app.delegate_folder("/static/", StaticFolder(site))
    with running_server(app) as server:
        for target in TARGETS:
            raw = raw_request(server.port, f"GET {target} HTTP/1.0\r\n\r\n".encode("latin-1"), timeout=5)
            status, headers, body = parse_response(raw)
            assert status in (301, 308, 400, 403, 404), (target, status)
            assert SECRET not in body and HIDDEN not in body, target


# -- through the server: sendfile, ranges, memory ---------------------------------------------

def test_files_go_out_with_sendfile(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(os, "sendfile"):
        pytest.skip("this platform has no os.sendfile")
    calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append((offset, count))
        return real_sendfile(out_fd, in_fd, offset, count)

    big = site / "big.bin"
    big.write_bytes(bytes(range(256)) * 4096)     # 1 MiB
    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    app = Router()
    app.delegate_folder("/static/", StaticFolder(site))
    with running_server(app) as server:
        status, headers, body = get(server.port, "/static/big.bin", timeout=10)
        assert status == 200 and body == big.read_bytes()
        assert calls and calls[0][0] == 0
        calls.clear()
        status, headers, body = get(server.port, "/static/big.bin", headers={"Range": "bytes=1000-1999"})
        assert status == 206 and body == big.read_bytes()[1000:2000]
        assert calls[0] == (1000, 1000)
        status, headers, body = get(server.port, "/static/css/site.css")
        assert (status, body, headers["content-type"]) == (200, CSS, "text/css; charset=utf-8")


SERVER_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from kali.routing import Router
    from kali.server import serve_http
    from kali.static import StaticFolder

    app = Router()
    app.delegate_folder("/static/", StaticFolder(sys.argv[2]))

    @app.function("/peak")
    def peak() -> dict:
        # The high-water mark of resident memory, in KiB.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return {"kib": int(line.split()[1])}
        return {"kib": -1}

    serve_http(app, port=0, start=None, access_log=False)
""")


def peak_kib(port: int) -> int:
    import json
    status, _, body = get(port, "/peak", timeout=10)
    assert status == 200
    return json.loads(body)["kib"]


@pytest.mark.skipif(not os.path.exists("/proc/self/status") or not hasattr(os, "sendfile"),
                    reason="measures memory through /proc (Linux)")
def test_a_1_gib_file_goes_out_with_flat_server_memory(tmp_path: Path) -> None:
    size = 1 << 30
    folder = tmp_path / "files"
    folder.mkdir()
    with open(folder / "huge.bin", "wb") as f:
        f.truncate(size)          # sparse: no disk space, reads as zeros
        for offset in (0, size // 2, size - 4):
            f.seek(offset)
            f.write(b"KALI")
    script = tmp_path / "serve.py"
    script.write_text(SERVER_SCRIPT)
    env = dict(os.environ, KALI_NO_BROWSER="1", KALI_PORT="0", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(script), str(ROOT), str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_url(proc)
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        before = peak_kib(port)
        # The markers sit where they should: the offsets are right.
        for offset in (0, size // 2, size - 4):
            status, headers, body = get(port, "/static/huge.bin", headers={"Range": f"bytes={offset}-{offset + 3}"})
            assert (status, body) == (206, b"KALI")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /static/huge.bin HTTP/1.0\r\n\r\n")
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            received = 0
            head = b""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                n = sock.recv_into(view)
                if not n:
                    break
                if not head:
                    head = bytes(buffer[:n])
                received += n
        status, headers, _ = parse_response(head)
        assert status == 200
        assert headers["content-length"] == str(size)
        head_length = head.index(b"\r\n\r\n") + 4
        assert received - head_length == size
        after = peak_kib(port)
        # Flat: the 1 GiB went from the page cache to the socket, not through Python objects.
        assert after - before < 32 * 1024, (before, after)
    finally:
        stop_process(proc)


def test_an_open_file_body_is_closed_when_head_or_empty(tmp_path: Path) -> None:
    from kali.response import FileBody, Response
    (tmp_path / "f.bin").write_bytes(b"abc")
    (tmp_path / "empty.bin").write_bytes(b"")
    opened = []

    def handler(request):
        f = open(tmp_path / request.path.lstrip("/"), "rb")
        opened.append(f)
        return Response(FileBody(file=f))

    with running_server(handler) as server:
        for method, path in (("HEAD", "/f.bin"), ("GET", "/empty.bin"), ("GET", "/f.bin")):
            raw = raw_request(server.port, f"{method} {path} HTTP/1.0\r\n\r\n".encode(), timeout=5)
            assert parse_response(raw)[0] == 200
    assert [f.closed for f in opened] == [True, True, True]
    opened.clear()
    client = Client(handler)
    assert client.head("/f.bin").headers["content-length"] == "3"
    assert opened[0].closed
