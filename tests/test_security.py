"""Localhost security: Host allow-list, cross-site refusal, launch token, headers, error pages, binding."""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from kali.http import HTTPError
from kali.request import Request
from kali.response import Response
from kali.security import (
    DEFAULT_SECURITY_HEADERS, TOKEN_PARAMETER, allow_cross_site_requests, cross_site_reason,
    is_loopback_address, secure,
)
from kali.server import serve_http
from kali.testing import Client
from support import ROOT, chromium, parse_response, raw_request, running_server, stop_process, wait_for_url

calls: list[str] = []


def app(request: Any) -> Any:
    calls.append(f"{request.method} {request.path}")
    path = request.path
    if path == "/boom":
        raise RuntimeError("secret <detail>")
    if path == "/missing":
        raise HTTPError(404, "no such <thing>")
    if path == "/framed":
        return Response("ok", headers={"X-Frame-Options": "SAMEORIGIN"})
    if path == "/no-frame-header":
        return Response("ok", headers={"X-Frame-Options": ""})
    if path == "/go":
        return Response.redirect("/")
    return f"{request.method} {path} ok"


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


def client(handler: Any = None, **options: Any) -> Client:
    host = options.pop("host", "127.0.0.1:8080")
    scheme = options.pop("scheme", "http")
    return Client(secure(handler or app, **options), host=host, scheme=scheme)


# -- Host allow-list -----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LocalHost:8080"])
def test_this_servers_own_names_are_accepted(host: str) -> None:
    response = client().get("/", headers={"Host": host})
    assert response.status == 200 and response.text == "GET / ok"


@pytest.mark.parametrize("host", [
    "attacker.example:8080",         # DNS rebinding: the attacker's name, resolved to 127.0.0.1
    "localhost.evil.com:8080",       # look-alikes
    "127.0.0.1.nip.io:8080",
    "evil-localhost:8080",
    "localhost:8081",                # the right name on another port
    "localhost",                     # no port, but the server is not on port 80
    "127.0.0.1:80",
    "localhost.:8080",
    "[::2]:8080",
])
def test_other_host_names_are_refused_with_421(host: str) -> None:
    response = client().get("/", headers={"Host": host})
    assert response.status == 421
    assert "allowed_hosts=" in response.text and "DNS-rebinding" in response.text
    assert calls == []                                      # the app never ran


def test_the_421_page_escapes_the_host_it_names() -> None:
    # '&' and "'" are allowed in a host name (RFC 3986 sub-delims) and special in HTML.
    response = client().get("/", headers={"Host": "a&b'c:8080"})
    assert response.status == 421
    assert "a&b'c" not in response.text and "a&amp;b&#x27;c:8080" in response.text


@pytest.mark.parametrize("host", [
    "localhost:8080.evil.com",       # a port that is not a number
    "<script>alert(1)</script>:8080",
    "127.0.0.1:8080\xa0",            # U+00A0 is not whitespace on the wire (RFC 9110 5.6.3)
    "\x85127.0.0.1:8080",
    "local host:8080",
    "user@127.0.0.1:8080",
    "[::1:8080",
    "[::g]:8080",
])
def test_malformed_host_values_are_refused_with_400_before_the_app(host: str) -> None:
    # RFC 9112 3.2: a Host field with an invalid value is a 400, whatever names are allowed.
    for options in ({}, {"allowed_hosts": ["*"]}):
        response = client(**options).get("/", headers={"Host": host})
        assert response.status == 400 and "Host header is malformed" in response.text
    assert calls == []


def test_the_port_is_the_one_the_server_is_bound_to() -> None:
    on_9999 = client(host="127.0.0.1:9999")
    assert on_9999.get("/", headers={"Host": "localhost:9999"}).status == 200
    assert on_9999.get("/", headers={"Host": "localhost:8080"}).status == 421


def test_names_without_a_port_are_accepted_on_the_default_port_only() -> None:
    assert client(host="127.0.0.1:80").get("/", headers={"Host": "localhost"}).status == 200
    assert client(host="127.0.0.1:80").get("/", headers={"Host": "[::1]"}).status == 200
    https = client(host="127.0.0.1:443", scheme="https")
    assert https.get("/", headers={"Host": "127.0.0.1"}).status == 200
    assert client(host="127.0.0.1:443").get("/", headers={"Host": "127.0.0.1"}).status == 421


def test_names_the_app_adds() -> None:
    c = client(allowed_hosts=["MyBox.local", "proxy.example:8443", "[fe80::1]", "fe80::2", "gateway.example:80"])
    for host in ("mybox.local:8080", "proxy.example:8443", "[fe80::1]:8080", "[fe80::2]:8080",
                 "gateway.example", "gateway.example:80", "localhost:8080"):
        assert c.get("/", headers={"Host": host}).status == 200, host
    for host in ("mybox.local:9000", "mybox.local", "proxy.example:8080", "sub.mybox.local:8080",
                 "gateway.example:8080"):
        assert c.get("/", headers={"Host": host}).status == 421, host


def test_a_star_accepts_any_host() -> None:
    assert client(allowed_hosts=["*"]).get("/", headers={"Host": "anything.example"}).status == 200


@pytest.mark.parametrize("entry", ["http://mybox.local", "mybox.local/", "mybox.local:abc", "mybox:0",
                                   "", "  ", "[::1", "[::1]x", "user@mybox"])
def test_bad_allowed_hosts_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        secure(app, allowed_hosts=[entry])


def test_a_request_without_host_is_not_a_browser_and_passes() -> None:
    # Browsers always send Host; an HTTP/1.0 script on this machine may not.
    response = client().send_raw(b"GET / HTTP/1.0\r\n\r\n")
    assert response.status == 200


def test_rebinding_is_refused_on_a_live_server() -> None:
    with running_server(secure(app)) as server:
        port = server.port
        status, headers, body = parse_response(raw_request(
            port, f"GET / HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\n\r\n".encode()))
        assert status == 421 and b"rebind.attacker.example" in body
        assert headers["x-content-type-options"] == "nosniff"
        status, _, body = parse_response(raw_request(
            port, f"GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()))
        assert status == 200 and body == b"GET / ok"


LOOK_ALIKES = [
    "localhost.evil.com:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.:{port}",                # trailing dot
    "127.1:{port}",                     # short and numeric spellings of 127.0.0.1
    "2130706433:{port}",
    "0x7f.1:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "[0:0:0:0:0:0:0:1]:{port}",
    "127.0.0.1:0{port}",                # the right port, spelled differently
    "",                                 # empty
]

# Not host[:port] at all: the parser answers 400 (RFC 9112 3.2) before the allow-list is asked.
MALFORMED_HOSTS = [
    "user@127.0.0.1:{port}",            # userinfo: a browser never sends it, a URL parser might strip it
    "127.0.0.1:{port}@evil.example",
    "127.0.0.1:{port}:{port}",
    "127.0.0.1:{port}/x",
]


@pytest.mark.parametrize("host", LOOK_ALIKES + MALFORMED_HOSTS)
def test_look_alike_hosts_are_refused_on_a_live_server(host: str) -> None:
    with running_server(secure(app)) as server:
        value = host.format(port=server.port)
        raw = f"GET / HTTP/1.1\r\nHost: {value}\r\n\r\n".encode("latin-1")
        status, headers, _ = parse_response(raw_request(server.port, raw, timeout=10))
    assert status == (400 if host in MALFORMED_HOSTS else 421), value
    assert headers["x-frame-options"] == "DENY"
    assert calls == []


@pytest.mark.parametrize("host", ["LOCALHOST:{port}", "LocalHost:{port}", "  127.0.0.1:{port}  ", "[::1]:{port}"])
def test_this_servers_names_in_any_case_or_padding_are_accepted_on_a_live_server(host: str) -> None:
    with running_server(secure(app)) as server:
        raw = f"GET / HTTP/1.1\r\nHost: {host.format(port=server.port)}\r\n\r\n".encode("latin-1")
        status, _, body = parse_response(raw_request(server.port, raw, timeout=10))
    assert (status, body) == (200, b"GET / ok")


def test_a_second_host_header_cannot_sneak_past_the_check() -> None:
    with running_server(secure(app)) as server:
        port = server.port
        for first, second in ((f"127.0.0.1:{port}", f"evil.example:{port}"),
                              (f"evil.example:{port}", f"127.0.0.1:{port}")):
            raw = f"GET / HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n\r\n".encode()
            assert parse_response(raw_request(port, raw, timeout=10))[0] == 400
    assert calls == []


# -- cross-site requests -----------------------------------------------------------------------

OURS = "http://127.0.0.1:8080"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_cross_site_unsafe_requests_are_refused(method: str) -> None:
    response = client().request(method, "/notes", body=b"x",
                                headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    assert response.status == 403
    assert "another site" in response.text and "allow_cross_site" in response.text
    assert calls == []


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": OURS},           # the browser's word wins
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:9999"},   # another local app
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},                          # no Sec-Fetch-Site: Origin decides
    {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "http://localhost:8080"},                         # another origin, though the same machine
    {"Origin": "https://127.0.0.1:8080"},
    {"Origin": "http://127.0.0.1:8080.evil.example"},
    {"Origin": "null"},                                          # sandboxed frame, file://, redirect
    {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    {"Referer": "https://evil.example/page"},                    # neither: the Referer decides
    {"Referer": "http://127.0.0.1:8080.evil.example/"},
    {"Referer": "not a url"},
])
def test_forged_posts_are_refused(headers: dict[str, str]) -> None:
    response = client().post("/notes", data={"title": "x"}, headers=headers)
    assert response.status == 403, response.text
    assert calls == []


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin", "Origin": OURS},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "same-site", "Origin": OURS},
    {"Sec-Fetch-Site": "none"},                                  # typed or bookmarked by the user
    {"Origin": OURS},
    {"Origin": "HTTP://127.0.0.1:8080"},
    {"Referer": OURS + "/notes/new?x=1"},
    {},                                                          # curl, a script: not a web page
])
def test_same_origin_posts_are_accepted(headers: dict[str, str]) -> None:
    response = client().post("/notes", data={"title": "x"}, headers=headers)
    assert response.status == 200 and response.text == "POST /notes ok"


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:8080@evil.example"},
    {"Origin": "http://evil.example#@127.0.0.1:8080"},
    {"Referer": "http://127.0.0.1:8080@evil.example/form"},
    {"Origin": "http://127.0.0.1:8080, https://evil.example"},
    {"Sec-Fetch-Site": "something-new"},            # a value we do not know is not a pass
])
def test_origin_look_alikes_are_refused(headers: dict[str, str]) -> None:
    response = Client(secure(app)).post("/notes", data={"a": "1"}, headers=headers)
    assert response.status == 403, headers
    assert calls == []


def test_safe_methods_from_other_sites_pass() -> None:
    for method in ("GET", "HEAD", "OPTIONS"):
        response = client().request(method, "/", headers={"Sec-Fetch-Site": "cross-site",
                                                         "Origin": "https://evil.example"})
        assert response.status == 200, method


def test_default_ports_are_the_same_origin() -> None:
    on_80 = client(host="127.0.0.1:80")
    assert on_80.post("/", headers={"Host": "127.0.0.1", "Origin": "http://127.0.0.1"}).status == 200
    assert on_80.post("/", headers={"Host": "127.0.0.1", "Origin": "http://127.0.0.1:80"}).status == 200
    assert on_80.post("/", headers={"Host": "127.0.0.1", "Referer": "http://127.0.0.1/a"}).status == 200


def test_cross_site_reason_directly() -> None:
    def request(method: str, **headers: str) -> Request:
        h = {"Host": "127.0.0.1:8080", **{k.replace("_", "-"): v for k, v in headers.items()}}
        return Request(method, "/", headers=h, server=("127.0.0.1", 8080))

    assert cross_site_reason(request("GET", Sec_Fetch_Site="cross-site")) is None
    assert cross_site_reason(request("POST", Origin=OURS)) is None
    reason = cross_site_reason(request("POST", Sec_Fetch_Site="cross-site", Origin="https://evil.example"))
    assert reason is not None and "Sec-Fetch-Site: cross-site" in reason and "https://evil.example" in reason
    reason = cross_site_reason(request("DELETE", Origin="null"))
    assert reason is not None and "Origin: null" in reason and "DELETE" in reason
    reason = cross_site_reason(request("PUT", Referer="https://evil.example/x"))
    assert reason is not None and "https://evil.example/x" in reason


def test_the_403_page_escapes_the_origin() -> None:
    response = client().post("/", headers={"Origin": "https://<b>evil</b>.example"})
    assert response.status == 403
    assert "<b>" not in response.text and "&lt;b&gt;evil&lt;/b&gt;" in response.text


def test_paths_can_opt_out() -> None:
    c = client(allow_cross_site=["/api/*", "/webhook"])
    foreign = {"Sec-Fetch-Site": "cross-site", "Origin": "https://hooks.example"}
    for path in ("/api/x", "/api/a/b", "/api/", "/webhook"):
        assert c.post(path, headers=foreign).status == 200, path
    for path in ("/webhook/x", "/webhooks", "/apix", "/api", "/other", "/x/api/y"):
        assert c.post(path, headers=foreign).status == 403, path


def test_bad_opt_out_patterns_are_named() -> None:
    with pytest.raises(ValueError, match="'api/\\*'"):
        secure(app, allow_cross_site=["api/*"])


def test_a_marked_handler_opts_out() -> None:
    foreign = {"Sec-Fetch-Site": "cross-site"}
    marked = allow_cross_site_requests(lambda request: "hook ok")
    assert Client(secure(marked)).post("/hook", headers=foreign).status == 200

    @functools.wraps(marked)
    def logged(request: Any) -> Any:      # another wrapper between secure() and the marked handler
        return marked(request)
    assert Client(secure(logged)).post("/hook", headers=foreign).status == 200

    class Hooks:
        def receive(self, request: Any) -> str:
            return "method ok"
    bound = allow_cross_site_requests(Hooks().receive)    # bound methods take no attributes: wrapped
    response = Client(secure(bound)).post("/hook", headers=foreign)
    assert response.status == 200 and response.text == "method ok"
    assert Client(secure(lambda request: "x")).post("/hook", headers=foreign).status == 403


def test_a_dispatcher_can_say_which_routes_opt_out() -> None:
    class Dispatcher:
        """Stands for a router that knows which of its handlers accept other sites."""

        def __call__(self, request: Any) -> str:
            return f"routed {request.path}"

        def allows_cross_site(self, request: Any) -> bool:
            return request.path.startswith("/public/")

    c = Client(secure(Dispatcher()))
    foreign = {"Sec-Fetch-Site": "cross-site"}
    assert c.post("/public/form", headers=foreign).status == 200
    assert c.post("/private", headers=foreign).status == 403


def test_cross_site_post_is_refused_on_a_live_server() -> None:
    with running_server(secure(app)) as server:
        port = server.port
        for origin, expected in (("https://evil.example", 403), (f"http://127.0.0.1:{port}", 200)):
            raw = (f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
                   f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1").encode()
            assert parse_response(raw_request(port, raw))[0] == expected


# -- security headers ---------------------------------------------------------------------------

def assert_security_headers(response: Any) -> None:
    for name, value in DEFAULT_SECURITY_HEADERS:
        if name == "Cache-Control" and response.status == 500:
            # The debug page (a traceback) sets no-store; a response's own value is kept.
            assert response.headers.get_all(name) == ["no-store"]
            continue
        assert response.headers.get_all(name) == [value], name


@pytest.mark.parametrize("path,status", [("/", 200), ("/missing", 404), ("/boom", 500), ("/go", 303)])
def test_every_response_gets_the_security_headers(path: str, status: int) -> None:
    response = client().get(path)
    assert response.status == status
    assert_security_headers(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_refusals_get_the_security_headers_too() -> None:
    assert_security_headers(client().get("/", headers={"Host": "evil.example:8080"}))
    assert_security_headers(client().post("/", headers={"Origin": "https://evil.example"}))
    assert_security_headers(client(private_token="t" * 43).get("/"))


def test_a_response_overrides_or_drops_a_security_header() -> None:
    framed = client().get("/framed")
    assert framed.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert framed.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in client().get("/no-frame-header").headers


def test_the_header_set_is_configurable() -> None:
    assert "X-Frame-Options" not in client(headers=()).get("/").headers
    response = client(headers={"Content-Security-Policy": "frame-ancestors 'none'"}).get("/")
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "X-Frame-Options" not in response.headers


def test_headers_on_a_live_server() -> None:
    with running_server(secure(app)) as server:
        raw = raw_request(server.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        status, headers, _ = parse_response(raw)
        assert status == 200
        for name, value in DEFAULT_SECURITY_HEADERS:
            assert headers[name.lower()] == value


# -- error pages ---------------------------------------------------------------------------------

def test_traceback_hidden_when_debug_is_off(caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="kali"):
        response = client(debug=False).get("/boom")
    assert response.status == 500
    assert "Traceback" not in response.text and "secret" not in response.text
    assert "details are in its log" in response.text
    assert "secret <detail>" in caplog.text and "Traceback" in caplog.text     # the log has it all


def test_traceback_shown_to_this_machine_only() -> None:
    local = client(debug=True).get("/boom")
    assert local.status == 500 and "Traceback" in local.text
    assert "secret &lt;detail&gt;" in local.text and "secret <detail>" not in local.text
    remote = Client(secure(app, debug=True), client_address=("192.168.1.20", 50000)).get("/boom")
    assert remote.status == 500 and "Traceback" not in remote.text and "secret" not in remote.text


def test_http_error_messages_are_escaped() -> None:
    response = client().get("/missing")
    assert response.status == 404 and "no such &lt;thing&gt;" in response.text


def test_live_server_hides_tracebacks_when_debug_is_off() -> None:
    def boom(request: Any) -> Any:
        raise RuntimeError("secret <detail>")
    raw = b"GET / HTTP/1.0\r\n\r\n"
    with running_server(boom, debug=False) as server:
        status, _, body = parse_response(raw_request(server.port, raw))
        assert status == 500 and b"Traceback" not in body and b"secret" not in body
    with running_server(boom, debug=True) as server:          # a loopback client sees it
        status, _, body = parse_response(raw_request(server.port, raw))
        assert status == 500 and b"Traceback" in body and b"secret &lt;detail&gt;" in body


# -- the launch token ---------------------------------------------------------------------------------

TOKEN = "k" * 20 + "-_" + "9" * 21


def test_token_flow() -> None:
    c = client(private_token=TOKEN)
    refused = c.get("/notes")
    assert refused.status == 403 and "private" in refused.text and TOKEN_PARAMETER in refused.text
    assert TOKEN not in refused.text
    assert calls == []

    opened = c.get(f"/notes?x=1&{TOKEN_PARAMETER}={TOKEN}&y=%20")
    assert opened.status == 303 and opened.location == "/notes?x=1&y=%20"
    cookie = opened.headers["Set-Cookie"]
    assert cookie.startswith(f"kali_private_8080={TOKEN};")
    attributes = {part.strip() for part in cookie.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= attributes and "Secure" not in attributes
    assert opened.headers["Cache-Control"] == "no-store"
    assert calls == []

    # The browser follows the redirect with the cookie: in.
    followed = c.get(opened.location)
    assert followed.status == 200 and followed.text == "GET /notes ok"
    assert c.post("/notes", data={"a": "1"}, headers={"Origin": OURS}).status == 200
    assert c.head("/notes").status == 200

    # Anyone else (another user of the machine, a page, a stale bookmark) is refused.
    stranger = client(private_token=TOKEN)
    assert stranger.get("/notes").status == 403
    assert stranger.get("/notes", cookies={"kali_private_8080": TOKEN[:-1] + "x"}).status == 403
    assert stranger.get("/notes", cookies={"kali_private_9090": TOKEN}).status == 403
    wrong = stranger.get(f"/notes?{TOKEN_PARAMETER}=guess")
    assert wrong.status == 403 and "wrong or out of date" in wrong.text
    assert stranger.post(f"/notes?{TOKEN_PARAMETER}={TOKEN[1:]}").status == 403


def test_a_token_in_the_url_of_other_methods_authorises_that_request() -> None:
    c = client(private_token=TOKEN)
    response = c.post(f"/api?{TOKEN_PARAMETER}={TOKEN}", json={"a": 1})
    assert response.status == 200 and "Set-Cookie" not in response.headers


def test_an_old_link_with_a_valid_cookie_just_cleans_the_url() -> None:
    c = client(private_token=TOKEN)
    c.get(f"/?{TOKEN_PARAMETER}={TOKEN}")
    stale = c.get(f"/page?{TOKEN_PARAMETER}=from-yesterday")
    assert stale.status == 303 and stale.location == "/page" and "Set-Cookie" not in stale.headers


def test_the_redirect_stays_on_this_server() -> None:
    c = client(private_token=TOKEN)
    for path in (f"//evil.example/x?{TOKEN_PARAMETER}={TOKEN}", f"/\\evil.example/x?{TOKEN_PARAMETER}={TOKEN}"):
        location = c.get(path).location
        assert location is not None and location.startswith("/") and location[1:2] not in ("/", "\\")


def test_the_cookie_is_secure_over_https() -> None:
    c = client(private_token=TOKEN, host="127.0.0.1:8443", scheme="https")
    cookie = c.get(f"/?{TOKEN_PARAMETER}={TOKEN}").headers["Set-Cookie"]
    assert cookie.startswith("kali_private_8443=") and "Secure" in cookie


@pytest.mark.parametrize("token", ["short", "has space in it, long enough", 12345678901234567890])
def test_bad_tokens_are_refused_at_setup(token: Any) -> None:
    with pytest.raises(ValueError, match="private_token"):
        secure(app, private_token=token)


# -- helpers and configuration ------------------------------------------------------------------------

@pytest.mark.parametrize("address,expected", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("", False), ("::", False),
    ("192.168.1.2", False), ("10.0.0.1", False), ("example.com", False), ("localhost.evil.com", False),
])
def test_is_loopback_address(address: str, expected: bool) -> None:
    assert is_loopback_address(address) is expected


def test_secure_needs_a_handler() -> None:
    with pytest.raises(TypeError, match="handler"):
        secure("not callable")  # type: ignore[arg-type]


@pytest.mark.parametrize("options,message", [
    ({"address": "0.0.0.0"}, "allowed_hosts"),
    ({"address": "192.168.1.2"}, "192.168.1.2"),
    ({"address": "::"}, "allowed_hosts"),
    ({"secure": False, "private": True}, "secure=True"),
])
def test_serve_http_refuses_unsafe_configurations(options: dict[str, Any], message: str) -> None:
    # These fail before anything is bound.
    with pytest.raises(ValueError, match=re.escape(message)):
        serve_http(app, port=0, start=None, **options)


def test_serve_http_refuses_options_for_an_already_secured_handler() -> None:
    with pytest.raises(ValueError, match="already wrapped"):
        serve_http(secure(app), port=0, start=None, allowed_hosts=["mybox.local"])


# -- serve_http in a real process -------------------------------------------------------------------

SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from kali import server
from kali.security import secure

def app(request):
    if request.path == "/boom":
        raise RuntimeError("secret detail")
    return "app " + request.path

options = {options}
if options.pop("fake_bind", False):
    # Pretend to bind where the options say while really listening on loopback only, so the
    # test exercises the non-loopback path without exposing a port to the network.
    from kali import launch
    real_bind = launch.listening_socket
    launch.listening_socket = lambda address, port: real_bind("127.0.0.1", port)
if options.pop("prewrapped", False):
    app = secure(app, allowed_hosts=["prewrapped.example"])
server.serve_http(app, start=None, **options)
"""


def start_app(tmp_path: Path, **options: Any) -> subprocess.Popen[str]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT.format(root=str(ROOT), options=repr(options)))
    env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def request_to(port: int, path: str, host: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return parse_response(raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")))


def read_line_with(stream: Any, text: str, timeout: float = 20.0) -> str:
    """The first line of a process's output that contains `text`."""
    found: list[str] = []

    def reader() -> None:
        for line in stream:
            if text in line:
                found.append(line.rstrip("\n"))
                return
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        raise AssertionError(f"no line containing {text!r} within {timeout} s")
    return found[0]


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def test_serve_http_secures_by_default(tmp_path: Path) -> None:
    proc = start_app(tmp_path)
    try:
        port = port_of(wait_for_url(proc))
        status, headers, body = request_to(port, "/")
        assert status == 200 and body == b"app /" and headers["x-frame-options"] == "DENY"
        assert request_to(port, "/", host=f"attacker.example:{port}")[0] == 421
        status, _, body = request_to(port, "/boom")          # debug is on for loopback binds
        assert status == 500 and b"Traceback" in body
    finally:
        stop_process(proc)


def test_serve_http_secure_false_turns_it_off(tmp_path: Path) -> None:
    proc = start_app(tmp_path, secure=False)
    try:
        port = port_of(wait_for_url(proc))
        status, headers, _ = request_to(port, "/", host=f"attacker.example:{port}")
        assert status == 200 and "x-frame-options" not in headers
    finally:
        stop_process(proc)


def test_serve_http_uses_a_handler_the_app_secured_itself(tmp_path: Path) -> None:
    proc = start_app(tmp_path, prewrapped=True)
    try:
        port = port_of(wait_for_url(proc))
        assert request_to(port, "/", host=f"prewrapped.example:{port}")[0] == 200
        assert request_to(port, "/", host=f"other.example:{port}")[0] == 421
    finally:
        stop_process(proc)


def test_private_app_end_to_end(tmp_path: Path) -> None:
    proc = start_app(tmp_path, private=True)
    try:
        url = wait_for_url(proc)                           # the standard line is still printed
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        assert proc.stdout is not None
        line = read_line_with(proc.stdout, "kali: private app: open ")
        link = line.split("open ", 1)[1]
        port = port_of(url)
        match = re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?{TOKEN_PARAMETER}=([A-Za-z0-9_-]{{43}})", link)
        assert match, link
        token = match.group(1)

        status, _, body = request_to(port, "/")
        assert status == 403 and token.encode() not in body
        status, headers, _ = request_to(port, f"/?{TOKEN_PARAMETER}={token}")
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert cookie == f"kali_private_{port}={token}"
        status, _, body = request_to(port, "/", headers={"Cookie": cookie})
        assert status == 200 and body == b"app /"
        assert request_to(port, "/", headers={"Cookie": cookie[:-2] + "xx"})[0] == 403
    finally:
        stop_process(proc)


def test_private_tokens_differ_between_runs(tmp_path: Path) -> None:
    links = []
    for run in range(2):
        folder = tmp_path / str(run)
        folder.mkdir()
        proc = start_app(folder, private=True)
        try:
            wait_for_url(proc)
            assert proc.stdout is not None
            links.append(read_line_with(proc.stdout, "kali: private app: open ").split(f"{TOKEN_PARAMETER}=")[1])
        finally:
            stop_process(proc)
    assert links[0] != links[1]


def test_binding_beyond_loopback_warns_what_is_exposed(tmp_path: Path) -> None:
    proc = start_app(tmp_path, fake_bind=True, address="0.0.0.0", allowed_hosts=["mybox.local"])
    try:
        port = port_of(wait_for_url(proc))
        assert proc.stderr is not None
        warning = read_line_with(proc.stderr, "anyone on the network")
        assert f"this machine's port {port}" in warning and "mybox.local" in warning
        assert request_to(port, "/", host=f"mybox.local:{port}")[0] == 200
        assert request_to(port, "/", host=f"otherbox.local:{port}")[0] == 421
        # Not a loopback bind: tracebacks are off by default.
        status, _, body = request_to(port, "/boom")
        assert status == 500 and b"Traceback" not in body and b"secret" not in body
    finally:
        stop_process(proc)


def test_binding_beyond_loopback_without_allowed_hosts_exits_with_a_clear_error(tmp_path: Path) -> None:
    proc = start_app(tmp_path, fake_bind=True, address="192.168.7.7")
    try:
        assert proc.wait(20) != 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "ValueError" in err and "192.168.7.7" in err and "allowed_hosts" in err
        assert proc.stdout is not None and "kali: serving" not in proc.stdout.read()   # never bound
    finally:
        stop_process(proc)


# -- in a real browser ---------------------------------------------------------------------------------

# rebind.test and evil.test resolve to this machine, like a hostile name after DNS rebinding;
# every other name fails, so nothing leaves the machine.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP rebind.test 127.0.0.1 , MAP evil.test 127.0.0.1 , "
                 "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A headless Chromium context with a fresh profile (and the two rebinding names above)."""
    with chromium(tmp_path_factory.mktemp("chromium"), args=CHROMIUM_ARGS) as context:
        yield context


def notes_app(request: Any) -> Any:
    """A tiny app with a form that changes something."""
    calls.append(f"{request.method} {request.path}")
    if request.method == "POST":
        return Response.plain_text(f"saved {request.POST.get('title')}")
    return ('<!DOCTYPE html><title>notes</title><h1>Notes</h1>'
            '<form method="post" action="/notes"><input name="title" value="mine">'
            '<button>Save</button></form>')


def attacker_site(app_port: int) -> Any:
    def page(request: Any) -> Any:
        if request.path == "/frame":
            return f'<!DOCTYPE html><iframe id="f" src="http://127.0.0.1:{app_port}/"></iframe>'
        if request.path == "/link":
            return f'<!DOCTYPE html><a id="go" href="http://127.0.0.1:{app_port}/">open the app</a>'
        # A hostile page that submits a form to the app as soon as it loads.
        return (f'<!DOCTYPE html><form id="f" method="post" action="http://127.0.0.1:{app_port}/notes">'
                f'<input name="title" value="forged"></form><script>document.getElementById("f").submit()</script>')
    return page


def test_browser_rebinding_is_refused(browser: Any) -> None:
    with running_server(secure(notes_app)) as app_server:
        page = browser.new_page()
        try:
            response = page.goto(f"http://rebind.test:{app_server.port}/")
            assert response.status == 421 and "DNS-rebinding" in page.content()
            assert calls == []
            response = page.goto(f"http://127.0.0.1:{app_server.port}/")
            assert response.status == 200 and page.locator("h1").inner_text() == "Notes"
        finally:
            page.close()


@pytest.mark.parametrize("attacker_host", ["evil.test", "127.0.0.1"])   # cross-site; same-site, other port
def test_browser_cross_site_form_post_is_refused(browser: Any, attacker_host: str) -> None:
    with running_server(secure(notes_app)) as app_server, \
            running_server(attacker_site(app_server.port)) as evil:
        page = browser.new_page()
        try:
            with page.expect_navigation(url=f"http://127.0.0.1:{app_server.port}/notes") as navigation:
                page.goto(f"http://{attacker_host}:{evil.port}/")
            assert navigation.value.status == 403
            assert "another site" in page.content()
            assert "POST /notes" not in calls
            # The app's own form still works.
            page.goto(f"http://127.0.0.1:{app_server.port}/")
            with page.expect_navigation():
                page.click("button")
            assert page.content().count("saved mine") == 1
        finally:
            page.close()


def test_browser_refuses_to_frame_the_app(browser: Any) -> None:
    with running_server(secure(notes_app)) as app_server, running_server(attacker_site(app_server.port)) as evil:
        page = browser.new_page()
        try:
            page.goto(f"http://evil.test:{evil.port}/frame")
            page.wait_for_load_state("load")
            # X-Frame-Options: DENY: the browser shows its own error page in the frame instead.
            assert page.frame_locator("#f").locator("h1", has_text="Notes").count() == 0
            assert [f.url for f in page.frames][1:] == ["chrome-error://chromewebdata/"]
        finally:
            page.close()
    with running_server(secure(notes_app, headers=())) as app_server, \
            running_server(attacker_site(app_server.port)) as evil:
        page = browser.new_page()
        try:                                                # control: without the header it frames
            page.goto(f"http://evil.test:{evil.port}/frame")
            assert page.frame_locator("#f").locator("h1").inner_text() == "Notes"
        finally:
            page.close()


def test_browser_launch_token_flow(browser: Any) -> None:
    token = "browser-token-" + "x" * 30
    with running_server(secure(notes_app, private_token=token)) as app_server, \
            running_server(attacker_site(app_server.port)) as evil:
        base = f"http://127.0.0.1:{app_server.port}"
        page = browser.new_page()
        try:
            assert page.goto(f"{base}/").status == 403
            response = page.goto(f"{base}/?{TOKEN_PARAMETER}={token}")
            # The browser followed the redirect and sent the SameSite=Strict cookie with it.
            assert response.status == 200 and page.url == f"{base}/"
            assert page.locator("h1").inner_text() == "Notes"
            assert page.evaluate("document.cookie") == ""         # HttpOnly: scripts cannot read it
            with page.expect_navigation():
                page.click("button")
            assert "saved mine" in page.content()
            # A link from another site: the Strict cookie stays home, so the app refuses.
            page.goto(f"http://evil.test:{evil.port}/link")
            with page.expect_navigation() as navigation:
                page.click("#go")
            assert navigation.value.status == 403
        finally:
            page.close()


# -- the authority of an absolute-form target ------------------------------------------------------

def test_an_absolute_form_targets_authority_replaces_host_in_the_allow_list() -> None:
    # RFC 9112 3.2.2: the target's authority is where the request goes; Host is ignored.
    c = client()
    forged = c.send_raw(b"GET http://attacker.example:8080/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    assert forged.status == 421 and "attacker.example:8080" in forged.text
    assert calls == []
    ours = c.send_raw(b"GET http://127.0.0.1:8080/x?y HTTP/1.1\r\nHost: attacker.example:8080\r\n\r\n")
    assert ours.status == 200 and ours.text == "GET /x ok"
    assert c.send_raw(b"GET http://[:: HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n").status == 400


def test_the_server_checks_an_absolute_form_authority_too() -> None:
    with running_server(secure(app)) as server:
        here = f"127.0.0.1:{server.port}".encode()
        for target, host, status in [(b"http://attacker.example:%d/" % server.port, here, 421),
                                     (b"http://" + here + b"/", b"attacker.example", 200),
                                     (b"http://[::", here, 400)]:
            raw = b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
            assert parse_response(raw_request(server.port, raw))[0] == status, target


def test_request_authority_is_the_host_header_without_ows() -> None:
    assert Request("GET", "/", headers={"Host": " \t127.0.0.1:8080 "}).authority == "127.0.0.1:8080"
    assert Request("GET", "/").authority is None


# -- repeated Origin and Sec-Fetch-Site ------------------------------------------------------------

@pytest.mark.parametrize("fields", [
    b"Origin: http://127.0.0.1:8080\r\nOrigin: http://evil.example\r\n",
    b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Site: cross-site\r\n",
    b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Site: same-origin\r\nOrigin: http://127.0.0.1:8080\r\n",
])
def test_an_unsafe_request_with_a_repeated_origin_or_sec_fetch_site_is_refused(fields: bytes) -> None:
    # A browser sends each once; two may be read differently by different parts of a chain.
    head = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n"
    response = client().send_raw(head + fields + b"\r\n")
    assert response.status == 403 and "a browser sends at most one of each" in response.text
    assert calls == []
    safe = client().send_raw(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + fields + b"\r\n")
    assert safe.status == 200


# -- the launch token stays out of every log line -----------------------------------------------------

SECRET = "s" * 30 + "-LAUNCH-TOKEN"


def test_the_launch_token_is_redacted_in_refusals_and_500_records(caplog: Any) -> None:
    c = client(private_token=SECRET)
    q = f"{TOKEN_PARAMETER}={SECRET}"
    with caplog.at_level(logging.INFO, logger="kali"):
        assert c.get(f"/a?{q}", headers={"Host": "evil.example:8080"}).status == 421         # Host refused
        assert c.get(f"/b?{TOKEN_PARAMETER}=wrong-{SECRET}").status == 403                 # wrong token
        site = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
        assert c.post(f"/c?x=1&{q}", data={"a": "1"}, headers=site).status == 403          # cross-site
        same = {"Sec-Fetch-Site": "same-origin"}
        assert c.post(f"/boom?{q}", data={}, headers=same).status == 500                   # handler raised
        assert c.get(f"/d?kali%5Ftoken={SECRET}").status == 403                            # encoded name
    assert len(caplog.records) >= 5
    assert SECRET not in caplog.text
    for path in ("/a?", "/b?", "/c?x=1&", "/boom?", "/d?"):
        assert path in caplog.text
    assert f"{TOKEN_PARAMETER}=..." in caplog.text and "kali%5Ftoken=..." in caplog.text


def test_the_launch_token_is_redacted_in_protocol_error_and_access_lines(caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="kali"):
        with running_server(secure(app, private_token=SECRET), max_body_size=10) as server:
            host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
            target = f"/up?{TOKEN_PARAMETER}={SECRET}".encode()
            too_big = (b"POST " + target + b" HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n"
                       b"b\r\nhello world\r\n0\r\n\r\n")
            bad_chunk = b"POST " + target + b" HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
            assert parse_response(raw_request(server.port, too_big))[0] == 413
            assert parse_response(raw_request(server.port, bad_chunk))[0] == 400
            assert parse_response(raw_request(server.port, b"GET " + target + b" HTTP/1.1\r\n" + host
                                              + b"\r\n"))[0] == 303
    assert SECRET not in caplog.text
    assert caplog.text.count(f"/up?{TOKEN_PARAMETER}=...") >= 3


def test_every_log_call_that_names_a_target_redacts_it() -> None:
    # One helper for every log line: a new log call that passes a raw target fails here.
    import ast
    unredacted = []
    for path in sorted((Path(__file__).resolve().parent.parent / "kali").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "logger"):
                continue
            safe = {id(inner) for call in ast.walk(node) if isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name) and call.func.id == "redact_target"
                    for inner in ast.walk(call)}
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr == "target" and id(inner) not in safe:
                    unredacted.append(f"{path.name}:{inner.lineno}")
    assert unredacted == []


# -- caching -----------------------------------------------------------------------------------------

def test_dynamic_pages_say_no_cache_unless_they_choose() -> None:
    # Without Cache-Control a cache may reuse a page by heuristic freshness (RFC 9111 4.2.2).
    assert client().get("/").headers["Cache-Control"] == "no-cache"
    kept = client(lambda request: Response("x", headers={"Cache-Control": "max-age=60"})).get("/")
    assert kept.headers["Cache-Control"] == "max-age=60"
    left_out = client(lambda request: Response("x", headers={"Cache-Control": ""})).get("/")
    assert "Cache-Control" not in left_out.headers
