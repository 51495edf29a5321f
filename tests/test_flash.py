"""Flash messages: one-time notes carried to the next page in a signed cookie."""

from __future__ import annotations

import pytest

from kali import Response, Router
from kali.flash import COOKIE, Flash, finish_flashes, flash, flashed_messages
from kali.signing import set_signing_key, sign, signing_key, verify
from kali.testing import Client


def flashing_app() -> Router:
    app = Router()

    @app.function("/save", methods=["POST"])
    def save(request):
        return flash(Response.redirect("/"), request.POST.get("say", "Book saved."))

    @app.function("/two", methods=["POST"])
    def two(request):
        response = flash(Response.redirect("/"), "First.")
        response.set_cookie("other", "kept")
        return flash(response, "Second.", "error")

    @app.function("/")
    def home(request):
        messages = flashed_messages(request)
        # No call to finish_flashes: the handler stack (kali.reserved) deletes the cookie.
        return ["<ul>", [f"<li class={m.kind}>{m.message}</li>" for m in messages], "</ul>"]

    return app


def test_a_flash_appears_on_the_next_page_once():
    client = Client(flashing_app())
    r = client.post("/save", follow_redirects=True)
    assert "<li class=info>Book saved.</li>" in r.text
    again = client.get("/")
    assert "Book saved." not in again.text
    assert COOKIE not in client.cookies


def test_several_flashes_in_one_response_keep_their_order_and_other_cookies():
    client = Client(flashing_app())
    r = client.post("/two")
    assert r.status == 303
    assert len([v for v in r.headers.get_all("set-cookie") if v.startswith(COOKIE + "=")]) == 1
    assert client.cookies.get("other") == "kept"
    page = client.get("/")
    assert page.text.index("First.") < page.text.index("Second.")
    assert "<li class=error>Second.</li>" in page.text


def test_a_tampered_flash_cookie_is_ignored_and_removed():
    client = Client(flashing_app())
    client.post("/save", data={"say": "Saved."})
    value = client.cookies[COOKIE]
    payload, signature = value.rsplit(".", 1)
    import base64
    forged = base64.urlsafe_b64encode(b'[["info","<script>x</script>"]]').rstrip(b"=").decode()
    client.cookies[COOKIE] = f"{forged}.{signature}"
    page = client.get("/")
    assert "script" not in page.text and "Saved." not in page.text
    assert COOKIE not in client.cookies


def test_a_flash_from_an_earlier_run_with_another_key_is_ignored():
    client = Client(flashing_app())
    client.post("/save")
    old = signing_key()
    try:
        set_signing_key(b"k" * 32)
        assert "Book saved." not in client.get("/").text
    finally:
        set_signing_key(old)


def test_a_page_that_does_not_read_flashes_leaves_them_for_the_next():
    app = flashing_app()

    @app.function("/plain")
    def plain(request):
        return "nothing read"

    client = Client(app)
    client.post("/save")
    client.get("/plain")
    assert "Book saved." in client.get("/").text


def test_flash_refuses_an_empty_message():
    with pytest.raises(ValueError):
        flash(Response(), "")


def test_flash_is_a_str_in_templates():
    from kali import Template
    assert str(Flash("info", "Hello")) == "Hello"
    # {m} is the text and {m.kind} the kind: a tuple would have been flattened into both.
    page = Template('<!--{for m in flashes}--><p class="{m.kind}">{m}</p><!--{end}-->')
    assert "".join(page(flashes=[Flash("success", "Saved & done.")])) == '<p class="success">Saved &amp; done.</p>'
    assert Flash("info", "a") == Flash("info", "a") != Flash("error", "a")


def test_a_very_long_flash_history_drops_the_oldest():
    response = Response()
    for i in range(200):
        flash(response, f"message number {i} " + "x" * 40)
    value = [v for v in response.headers.get_all("set-cookie") if v.startswith(COOKIE)][0]
    assert len(value) < 4096
    from kali.flash import _pending_in
    kept = _pending_in(response)
    assert kept[-1].message.startswith("message number 199") and len(kept) < 200


def test_signatures_are_bound_to_their_purpose():
    signature = sign("one", b"data")
    assert verify("one", b"data", signature)
    assert not verify("two", b"data", signature)
    assert not verify("one", b"datA", signature)
    assert not verify("one", b"data", None)


def test_signing_key_comes_from_the_environment_when_given(tmp_path):
    import subprocess, sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    code = "from kali.signing import signing_key; print(signing_key().hex())"
    key = "ab" * 32
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={"KALI_SIGNING_KEY": key, "PATH": ""}, timeout=30)
    assert out.stdout.strip() == key
    short = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                           env={"KALI_SIGNING_KEY": "abcd", "PATH": ""}, timeout=30)
    assert len(short.stdout.strip()) == 64 and short.stdout.strip() != "abcd"
    with pytest.raises(ValueError):
        set_signing_key(b"short")


def test_finish_flashes_keeps_a_cookie_the_same_response_sets():
    from kali import Request
    request = Request("GET", "/", headers={"cookie": "kali_flash=x.y"})
    flashed_messages(request)
    response = flash(Response(), "New one.")
    finish_flashes(request, response)
    values = [v for v in response.headers.get_all("set-cookie") if v.startswith(COOKIE + "=")]
    assert len(values) == 1 and "Max-Age=0" not in values[0]


def test_the_flash_cookie_is_cleared_on_a_live_server_and_under_wsgi():
    from support import running_server, get
    from kali.exchange import compose_handler
    from kali.wsgi import to_wsgi
    with running_server(compose_handler(flashing_app(), debug=True)) as server:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/save", headers={"Host": f"127.0.0.1:{server.port}"})
        reply = conn.getresponse()
        cookie = reply.getheader("set-cookie").split(";", 1)[0]
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookie})
        page = conn.getresponse()
        assert b"Book saved." in page.read()
        assert "kali_flash=;" in page.getheader("set-cookie") and "Max-Age=0" in page.getheader("set-cookie")
        conn.close()
    app = to_wsgi(flashing_app())
    import wsgiref.util
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": "127.0.0.1:8080",
               "HTTP_COOKIE": cookie, "wsgi.input": __import__("io").BytesIO(b"")}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(HTTP_HOST="127.0.0.1:8080", SERVER_NAME="127.0.0.1", SERVER_PORT="8080")
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["headers"] = headers
    body = b"".join(app(environ, start_response))
    assert b"Book saved." in body
    assert any(n.lower() == "set-cookie" and v.startswith("kali_flash=;") for n, v in seen["headers"])
