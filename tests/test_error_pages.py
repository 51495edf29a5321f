"""Error pages: kali's default page, the app's layout with one `error_pages` call, JSON for API clients."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from kali import HTTPError, Request, Response, Router, StaticFolder, error_pages, set_error_page
from kali.error_pages import ErrorPages
from kali.reserved import asset_url
from kali.response import ErrorResponse, wants_json
from kali.testing import Client


def shop() -> Router:
    app = Router()

    @app.function("/")
    def home() -> str:
        return "<h1>Shop</h1>"

    @app.function("/items/*")
    def item(item_id: int) -> str:
        if item_id > 10:
            raise HTTPError(404, f"There is no item {item_id}.")
        return f"item {item_id}"

    @app.function("/buy", methods="post")
    def buy() -> str:
        raise HTTPError(409, "Sold out.", detail="stock: 0")

    @app.function("/big", methods="POST")
    def big() -> str:
        raise HTTPError(413, "That file is too big.")

    @app.function("/api/items/*")
    def api_item(item_id: int) -> dict[str, int]:
        if item_id > 10:
            raise HTTPError(404, f"There is no item {item_id}.")
        return {"id": item_id}

    return app


def layout(request: Request, error: HTTPError) -> list[Any]:
    """The shop's layout: its navigation, the error, a link home."""
    return ["<nav id=shop-nav><a href='/'>Shop</a> <a href='/cart'>Cart</a></nav><h1>", error.title,
            "</h1><p id=message>", error.message, "</p>", f"<pre>{error.detail}</pre>" if error.detail else "",
            "<a href='/'>Home</a>"]


# -- the default page -------------------------------------------------------------------------

def test_the_default_error_page_links_the_shipped_stylesheet_and_icon_and_leads_home() -> None:
    r = Client(shop()).get("/nowhere")
    assert r.status == 404
    page = r.text
    assert f'<link rel="stylesheet" href="{asset_url("kali.css")}">' in page
    assert f'<link rel="icon" href="{asset_url("icon.svg")}" type="image/svg+xml">' in page
    assert '<header class="bar"><a class="brand" href="/">' in page
    assert "<h1>404 Not Found</h1>" in page and "There is nothing at /nowhere." in page
    assert '<a href="/">Back to the home page</a>' in page
    # The assets it links are served by every app (the test client has kali's reserved paths).
    assert Client(shop()).get(asset_url("kali.css")).status == 200


def test_the_default_error_page_escapes_the_message() -> None:
    app = Router()

    @app.function("/x")
    def x() -> str:
        raise HTTPError(400, "<script>alert(1)</script>")

    page = Client(app).get("/x").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_generic_pages_remember_their_error() -> None:
    response = Response.generic(409, "Sold out.", detail="stock: 0", headers={"Retry-After": "5"})
    assert isinstance(response, ErrorResponse) and response.code == 409
    assert (response.error.status, response.error.message, response.error.detail) == (409, "Sold out.", "stock: 0")
    assert (response.error.reason, response.error.title) == ("Conflict", "409 Conflict")
    assert HTTPError(599).reason == "Error"


# -- the app's layout -------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, message", [
    ("GET", "/nowhere", 404, "There is nothing at /nowhere."),             # the router's 404
    ("GET", "/items/abc", 404, "There is nothing at /items/abc."),         # a wildcard that does not convert
    ("GET", "/items/12", 404, "There is no item 12."),                     # HTTPError from a handler
    ("GET", "/buy", 405, "/buy does not accept GET; it accepts OPTIONS, POST."),
    ("POST", "/buy", 409, "Sold out."),
    ("POST", "/big", 413, "That file is too big."),
])
def test_every_error_made_inside_the_app_wears_its_layout(method: str, path: str, status: int, message: str) -> None:
    client = Client(error_pages(shop(), layout))
    r = client.request(method, path)
    assert r.status == status
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text.startswith("<nav id=shop-nav>")
    assert f"<p id=message>{message}</p>" in r.text


def test_the_layout_keeps_the_status_the_header_fields_and_the_detail() -> None:
    client = Client(error_pages(shop(), layout))
    r = client.get("/buy")
    assert r.status == 405 and r.headers["allow"] == "OPTIONS, POST"
    assert "<pre>stock: 0</pre>" in client.post("/buy").text
    head = client.head("/nowhere")
    assert head.status == 404 and head.body == b""


def test_a_query_value_that_does_not_convert_wears_the_layout_too() -> None:
    app = Router()

    @app.function("/list")
    def listing(page: int = 1) -> str:
        return f"page {page}"

    r = Client(error_pages(app, layout)).get("/list?page=two")
    assert r.status == 400 and "<nav id=shop-nav>" in r.text and "'page'" in r.text


def test_a_static_folders_404_wears_the_layout(tmp_path: Any) -> None:
    app = Router()
    app.delegate_folder("/static/", StaticFolder(tmp_path))
    r = Client(error_pages(app, layout)).get("/static/missing.css")
    assert r.status == 404 and "<nav id=shop-nav>" in r.text


def test_pages_that_are_not_kali_error_pages_are_left_alone() -> None:
    app = Router()

    @app.function("/teapot")
    def teapot() -> Any:
        return "<p>my own 418</p>", 418

    @app.function("/custom")
    def custom() -> Response:
        return Response("<p>my own 404</p>", code=404)

    client = Client(error_pages(app, layout))
    assert client.get("/teapot").text == "<p>my own 418</p>"
    assert client.get("/custom").text == "<p>my own 404</p>"


def test_a_page_may_be_a_response_and_its_content_type_is_kept() -> None:
    def as_text(request: Request, error: HTTPError) -> Response:
        return Response.plain_text(f"{error.status}: {error.message}", headers={"X-Ignored": "1"})

    r = Client(error_pages(shop(), as_text)).get("/nowhere")
    assert (r.status, r.text) == (404, "404: There is nothing at /nowhere.")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_failing_layout_falls_back_to_kalis_page_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request, error: HTTPError) -> list[Any]:
        return ["<nav>", error.missing]         # type: ignore[attr-defined]

    with caplog.at_level(logging.ERROR, logger="kali"):
        r = Client(error_pages(shop(), broken)).get("/nowhere")
    assert r.status == 404 and "Back to the home page" in r.text and "There is nothing at /nowhere." in r.text
    assert "the error page" in caplog.text and "broken" in caplog.text


def test_the_innermost_layout_wins_in_a_folder() -> None:
    admin = Router()

    @admin.function("/")
    def admin_home() -> str:
        return "admin"

    def admin_layout(request: Request, error: HTTPError) -> str:
        return f"<nav id=admin-nav></nav>{error.message}"

    app = shop()
    app.delegate_folder("/admin/", error_pages(admin, admin_layout))
    client = Client(error_pages(app, layout))
    assert client.get("/admin/nothing").text == "<nav id=admin-nav></nav>There is nothing at /admin/nothing."
    assert client.get("/nothing").text.startswith("<nav id=shop-nav>")


def test_the_500_page_stays_kalis() -> None:
    app = Router()

    @app.function("/broken")
    def broken() -> str:
        raise RuntimeError("bug")

    r = Client(error_pages(app, layout)).get("/broken")
    assert r.status == 500 and "shop-nav" not in r.text and "RuntimeError" in r.text


def test_the_security_wrappers_refusals_never_show_the_apps_layout() -> None:
    # A page of another site (DNS rebinding) must not read the app's layout, which may show its data.
    client = Client(error_pages(shop(), layout), secure=True)
    r = client.get("/nowhere", headers={"Host": "evil.example"})
    assert r.status == 421 and "shop-nav" not in r.text and "Back to the home page" in r.text
    assert "shop-nav" in client.get("/nowhere").text           # the control: a request it lets in


def test_error_pages_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="needs a handler"):
        error_pages("not a handler")                             # type: ignore[arg-type]
    with pytest.raises(TypeError, match="page must be a function"):
        error_pages(shop(), "layout.tpl")                        # type: ignore[arg-type]
    with pytest.raises(ValueError, match="an API prefix is a path like '/api/'"):
        error_pages(shop(), api=["api"])


def test_set_error_page_still_brands_every_page_process_wide() -> None:
    set_error_page(lambda code, message, detail: f"<h1>Branded {code}</h1>")
    try:
        assert Client(shop()).get("/nowhere").text == "<h1>Branded 404</h1>"
        # The app's own layout comes first where there is one.
        assert Client(error_pages(shop(), layout)).get("/nowhere").text.startswith("<nav id=shop-nav>")
    finally:
        set_error_page(None)


def test_routers_and_wrappers_inside_error_pages_still_answer_cross_site_probes_and_url_for() -> None:
    app = shop()
    wrapped = error_pages(app, layout)
    outer = Router()
    outer.delegate_folder("/shop/", wrapped)
    assert outer.url_for("item", 3) == "/shop/items/3"


# -- JSON -------------------------------------------------------------------------------------

def test_a_client_that_prefers_json_gets_json_errors_from_any_app() -> None:
    r = Client(shop()).get("/items/12", headers={"Accept": "application/json"})
    assert r.status == 404 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": {"status": 404, "reason": "Not Found", "message": "There is no item 12."}}
    refused = Client(shop()).get("/buy", headers={"Accept": "application/json"})
    assert refused.status == 405 and refused.headers["allow"] == "OPTIONS, POST"
    assert refused.json()["error"]["reason"] == "Method Not Allowed"


def test_json_errors_with_a_layout_too() -> None:
    r = Client(error_pages(shop(), layout)).get("/nowhere", headers={"Accept": "application/json, */*;q=0.5"})
    assert r.json()["error"]["status"] == 404


def test_everything_under_an_api_prefix_is_json_whatever_it_accepts() -> None:
    client = Client(error_pages(shop(), layout, api=["/api/"]))
    r = client.get("/api/items/12")
    assert r.status == 404 and r.json() == {"error": {"status": 404, "reason": "Not Found",
                                                      "message": "There is no item 12."}}
    assert client.get("/api/nothing/here").json()["error"]["message"] == "There is nothing at /api/nothing/here."
    assert client.get("/api").headers["content-type"] == "application/json"
    assert client.get("/api/items/3").json() == {"id": 3}
    # Outside the prefix a browser still gets the page.
    assert client.get("/apiary").text.startswith("<nav id=shop-nav>")


def test_an_api_prefix_is_below_where_the_wrapper_is_mounted() -> None:
    outer = Router()
    outer.delegate_folder("/shop/", error_pages(shop(), layout, api="/api/"))
    client = Client(outer)
    assert client.get("/shop/api/items/99").json()["error"]["status"] == 404
    assert "shop-nav" in client.get("/shop/items/99").text


def test_json_errors_without_a_layout_keep_kalis_html_for_browsers() -> None:
    client = Client(error_pages(shop(), api=["/api/"]))
    assert client.get("/api/items/99").json()["error"]["status"] == 404
    assert "Back to the home page" in client.get("/items/99").text


@pytest.mark.parametrize("accept, json", [
    ("application/json", True),
    ("application/json, text/plain, */*", True),                 # axios
    ("application/problem+json", True),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),    # a browser page load
    ("*/*", False),                                                # fetch() without Accept
    ("text/html, application/json", False),                       # a tie goes to HTML
    ("text/html;q=0.5, application/json", True),
    ("application/json;q=0", False),
    ("application/json;q=zero", False),
    (None, False),
])
def test_wants_json_reads_the_accept_header(accept: str | None, json: bool) -> None:
    headers = {} if accept is None else {"Accept": accept}
    assert wants_json(Request("GET", "/", headers=headers)) is json


def test_error_pages_is_a_plain_wrapper() -> None:
    app = shop()
    wrapped = error_pages(app, layout, api=("/api/",))
    assert isinstance(wrapped, ErrorPages) and wrapped.__wrapped__ is app and wrapped.api == ("/api/",)
    assert re.fullmatch(r"<error_pages <kali.routing.Router object at 0x[0-9a-f]+> page=layout>", repr(wrapped))


def test_a_500_under_an_api_prefix_or_for_a_json_client_is_json_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = Router()

    @app.function("/api/broken")
    def api_broken() -> str:
        raise RuntimeError("api bug")

    @app.function("/broken")
    def broken() -> str:
        raise RuntimeError("page bug")

    client = Client(error_pages(app, layout, api=["/api/"]))
    with caplog.at_level(logging.ERROR, logger="kali"):
        r = client.get("/api/broken")
    assert r.status == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["status"] == 500 and "RuntimeError" not in r.text
    assert "api bug" in caplog.text and "GET /api/broken" in caplog.text
    # Outside the prefix: JSON for a client that asks for it, the debug page for a browser here.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="kali"):
        asked = client.get("/broken", headers={"Accept": "application/json"})
    assert asked.status == 500 and asked.json()["error"]["reason"] == "Internal Server Error"
    assert "page bug" in caplog.text
    assert "RuntimeError" in client.get("/broken").text
