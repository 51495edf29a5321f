"""Quitting when the last page closes: the event channel counts open pages; a navigation or reload never stops the app."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from kali import Response
from kali.exchange import compose_handler
from kali.presence import EventChannel
from kali.reserved import ReservedPaths, asset_url
from kali.testing import Client
from support import LIFECYCLE_APP, LiveApp, chromium, get, running_server

SCRIPT_TAG = f'<script src="{asset_url("page.js")}" defer></script>\n'.encode()


def wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def open_stream(port: int) -> tuple[socket.socket, bytes]:
    """A page's event stream over a raw socket: (the socket, what arrived up to the first event)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    received = b""
    while b"\n\n" not in received.partition(b"\r\n\r\n")[2]:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return sock, received


# -- the event channel ----------------------------------------------------------------------------

def test_each_open_stream_is_an_open_page_and_a_closed_socket_is_noticed_at_once() -> None:
    channel = EventChannel(boot="boot-1")
    handler = compose_handler(lambda request: "<p>page</p>", channels={"events": channel})
    with running_server(handler) as server:
        assert channel.closed_for() is None            # no page yet: no clock runs
        first, head = open_stream(server.port)
        assert head.startswith(b"HTTP/1.0 200")
        assert b"content-type: text/event-stream" in head.lower()
        assert head.endswith(b'retry: 500\nevent: hello\ndata: {"boot":"boot-1"}\n\n')
        second, _ = open_stream(server.port)
        assert wait_until(lambda: channel.open == 2)
        first.close()
        # The paused stream's socket reports the end of input: the loop closes it, the count falls.
        assert wait_until(lambda: channel.open == 1, timeout=2.0)
        assert channel.closed_for() is None            # a page is still open
        second.close()
        assert wait_until(lambda: channel.open == 0, timeout=2.0)
        gone = channel.closed_for()
        assert gone is not None and gone >= 0
        third, _ = open_stream(server.port)            # a reload: the clock stops again
        assert wait_until(lambda: channel.open == 1) and channel.closed_for() is None
        third.close()
    assert channel.opened == 3


def test_sent_events_reach_every_open_page() -> None:
    channel = EventChannel(boot="b")
    handler = compose_handler(lambda request: "page", channels={"events": channel})
    with running_server(handler) as server:
        sock, _ = open_stream(server.port)
        with sock:
            assert wait_until(lambda: channel.open == 1)
            channel.send("reload", {"changed": "page.tpl"})
            received = b""
            sock.settimeout(5)
            while b"event: reload" not in received:
                chunk = sock.recv(4096)
                assert chunk, "the stream ended"
                received += chunk
            assert received.endswith(b'event: reload\ndata: {"changed":"page.tpl"}\n\n')
    with pytest.raises(ValueError):
        channel.send("re\nload")


def test_the_events_channel_takes_get_only() -> None:
    client = Client(ReservedPaths(lambda request: "page", channels={"events": EventChannel()}))
    reply = client.post("/_kali/events")
    assert reply.status == 405 and reply.headers["allow"] == "GET"


# -- the page script ----------------------------------------------------------------------------------

def page_client(app: object, *, events: bool = True) -> Client:
    channels = {"events": EventChannel()} if events else {}
    return Client(ReservedPaths(app, channels=channels), max_stream_items=1)  # type: ignore[arg-type]


def test_html_pages_get_the_page_script_while_the_channel_is_on(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<!DOCTYPE html><title>static</title><p>from a file</p>\n")

    def app(request):
        if request.path == "/json":
            return {"a": 1}
        if request.path == "/text":
            return Response.plain_text("plain")
        if request.path == "/opted-out":
            response = Response("<p>no script</p>")
            response.page_script = False
            return response
        if request.path == "/file":
            return Response.file(page)
        if request.path == "/stream":
            return Response.stream(iter(["<p>", "streamed"]), content_type="text/html")
        if request.path == "/redirect":
            return Response.redirect("/")
        if request.path == "/missing":
            return Response.generic(404, "nothing")
        if request.path == "/boom":
            raise RuntimeError("broken")
        return "<p>page</p>"

    client = page_client(app)
    assert client.get("/").body == b"<p>page</p>" + SCRIPT_TAG
    assert client.get("/file").body == page.read_bytes() + SCRIPT_TAG
    # An error page stays an open page of the app (a 404 in the app's window is still its window).
    assert client.get("/missing").body.endswith(SCRIPT_TAG)
    assert client.get("/boom").body.endswith(SCRIPT_TAG)
    for path in ("/json", "/text", "/opted-out", "/stream", "/redirect"):
        assert b"page." not in client.get(path).body, path
    assert page_client(app, events=False).get("/").body == b"<p>page</p>"
    # The script itself is one of kali's assets.
    script = page_client(app).get(asset_url("page.js"))
    assert script.status == 200 and b'new EventSource("/_kali/events")' in script.body


def test_under_reload_each_page_names_the_process_that_served_it() -> None:
    stamped = Client(ReservedPaths(lambda request: "<p>page</p>",  # type: ignore[arg-type]
                                   channels={"events": EventChannel("proc-7", stamp_pages=True)}))
    assert stamped.get("/").body == b"<p>page</p>" + SCRIPT_TAG.replace(b'" defer', b'" data-boot="proc-7" defer')
    assert b"data-boot" not in page_client(lambda request: "<p>page</p>").get("/").body


# -- in a real browser ---------------------------------------------------------------------------------

def test_the_app_stays_while_a_page_is_open_or_navigating_and_quits_when_it_closes(tmp_path: Path) -> None:
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env={"KALI_PORT": "0", "KALI_QUIT_AFTER": "2"}) as app:
        url = app.url()
        # Before any page connects, no linger runs (a browser may be slow to start).
        time.sleep(2.6)
        assert app.proc.poll() is None
        with chromium(tmp_path / "chromium") as browser:
            tab = browser.new_page()
            with tab.expect_response(lambda r: r.url.endswith("/_kali/events")):
                tab.goto(url)
            # Navigating back and forth and reloading, for longer than the linger.
            until = time.monotonic() + 4.0
            while time.monotonic() < until:
                with tab.expect_response(lambda r: r.url.endswith("/_kali/events")):
                    tab.click("#next")
                time.sleep(0.3)
            with tab.expect_response(lambda r: r.url.endswith("/_kali/events")):
                tab.reload()
            time.sleep(2.6)                            # longer than the linger, with the page open
            assert app.proc.poll() is None, app.output
            assert tab.title() in ("first", "other")
            closed = time.monotonic()
            tab.close()
            assert app.wait(15) == 0
            took = time.monotonic() - closed
        assert app.out[-1] == "kali: stopped (the last window was closed)"
        assert 2.0 <= took < 6.0, f"stopped {took:.1f} s after the page closed"
        assert "Traceback" not in app.errors


@pytest.mark.parametrize("options, quits", [({}, True), ({"quit_when_closed": False}, False)])
def test_an_app_that_opened_its_browser_quits_when_closed_unless_told_not_to(tmp_path: Path, options: dict[str, object],
                                                                              quits: bool) -> None:
    env: dict[str, str | None] = {"KALI_PORT": "0", "KALI_NO_BROWSER": None, "KALI_WINDOW": "tab", "BROWSER": "true",
                                  "LIFE_OPTIONS": json.dumps(options)}
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env=env) as app:
        port = app.port()
        status, _, body = get(port, "/")
        assert status == 200
        # The channel is on exactly when the app quits when closed: pages carry the script.
        assert (SCRIPT_TAG in body) is quits
        if not quits:
            assert get(port, "/_kali/events")[0] == 404
