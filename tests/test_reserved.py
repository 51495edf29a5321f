"""kali's reserved prefix /_kali/: its own assets, the favicon fallback, same-origin only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kali import Response, Router
from kali.reserved import PREFIX, ReservedPaths, asset, asset_url, reserved
from kali.testing import Client

ASSETS = Path(__file__).resolve().parent.parent / "kali" / "assets"


def app_with_routes() -> Router:
    app = Router()

    @app.function("/")
    def home(request):
        return "<h1>home</h1>"

    @app.function("/_kali_not_reserved")
    def lookalike(request):
        return "the app's own"

    return app


@pytest.mark.parametrize("name", ["kali.css", "icon.svg"])
def test_asset_url_names_the_content_hash(name):
    content = (ASSETS / name).read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:8]
    stem, ext = name.rsplit(".", 1)
    assert asset_url(name) == f"/_kali/{stem}.{digest}.{ext}"


def test_asset_is_served_with_a_year_of_caching_and_its_type():
    client = Client(reserved(app_with_routes()))
    r = client.get(asset_url("kali.css"))
    assert r.status == 200
    assert r.body == (ASSETS / "kali.css").read_bytes()
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    icon = client.get(asset_url("icon.svg"))
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.body.startswith(b"<svg")


def test_a_stale_hash_gets_the_current_file_without_long_caching():
    client = Client(reserved(app_with_routes()))
    r = client.get("/_kali/kali.00000000.css")
    assert r.status == 200
    assert r.body == asset("kali.css").content
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", [
    "/_kali/", "/_kali/kali.css", "/_kali/nothing.12345678.css", "/_kali/sub/kali.12345678.css",
    "/_kali/..%2fsecurity.py", "/_kali/reserved.12345678.py", "/_kali/events",
])
def test_unknown_reserved_paths_are_404_and_never_reach_the_app(path):
    seen = []

    def app(request):
        seen.append(request.path)
        return "app"

    r = Client(reserved(app)).get(path)
    assert r.status == 404
    assert seen == []


def test_paths_outside_the_prefix_reach_the_app():
    client = Client(reserved(app_with_routes()))
    assert client.get("/").text == "<h1>home</h1>"
    assert client.get("/_kali_not_reserved").text == "the app's own"


def test_asset_refuses_other_methods():
    r = Client(reserved(app_with_routes())).post(asset_url("kali.css"))
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9999"},
    {"Origin": "http://evil.example"},
])
def test_reserved_paths_refuse_other_sites_even_for_get(headers):
    r = Client(reserved(app_with_routes())).get(asset_url("kali.css"), headers=headers)
    assert r.status == 403


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
    {"Origin": "http://127.0.0.1:8080"},
])
def test_reserved_paths_answer_this_origin(headers):
    r = Client(reserved(app_with_routes())).get(asset_url("kali.css"), headers=headers)
    assert r.status == 200


def test_favicon_falls_back_to_kalis_icon_only_when_the_app_has_none():
    client = Client(reserved(app_with_routes()))
    r = client.get("/favicon.ico")
    assert r.status == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.body == asset("icon.svg").content

    app = app_with_routes()

    @app.function("/favicon.ico")
    def own_icon(request):
        return Response(b"\x00\x00\x01\x00", content_type="image/x-icon")

    mine = Client(reserved(app)).get("/favicon.ico")
    assert mine.body == b"\x00\x00\x01\x00"


def test_channels_answer_their_name_under_the_prefix():
    calls = []

    def events(request):
        calls.append(request.path)
        return Response.plain_text("channel")

    client = Client(ReservedPaths(app_with_routes(), channels={"events": events}))
    assert client.get("/_kali/events").text == "channel"
    assert calls == ["/_kali/events"]
    assert client.get("/_kali/events", headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert calls == ["/_kali/events"]


def test_unknown_asset_name_error_lists_the_assets():
    with pytest.raises(KeyError, match="kali.css"):
        asset("missing.css")
    with pytest.raises(KeyError):
        asset("../reserved.py")


def test_prefix_is_the_documented_one():
    assert PREFIX == "/_kali/"
