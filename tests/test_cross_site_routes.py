"""Per-route opt-out of the cross-site check through a Router behind the security wrapper."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from kali import Router, allow_cross_site_requests, guard, secure
from kali.forms import Entry, Formlet
from kali.testing import Client

CROSS = {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}


def build() -> Router:
    app = Router()

    @app.function("/open", methods=("POST",))
    @allow_cross_site_requests
    def opened() -> str:
        return "open"

    @app.function("/closed", methods=("POST",))
    def closed() -> str:
        return "closed"

    sub = Router()

    @sub.servlet("/hook/*")
    @allow_cross_site_requests
    class Hook:
        def __init__(self, n: int) -> None:
            self.n = n

        def do_POST(self, request: Any) -> str:
            return f"hook {self.n}"

    @sub.servlet("/plain")
    class Plain:
        def do_POST(self, request: Any) -> str:
            return "plain"

    app.delegate_folder("/sub/", sub)

    @app.servlet("/form")
    class Open(Formlet):
        csrf_protect = False

        def __init__(self) -> None:
            super().__init__({"a": Entry()})

        def get_native(self, request: Any) -> dict[str, str]:
            return {"a": ""}

        def save(self, native: Any, request: Any) -> str:
            return "saved " + native["a"]

    return app


@pytest.fixture()
def client() -> Client:
    db = sqlite3.connect(":memory:")
    # The guard sits between the wrapper and the router: the opt-out must be found through it.
    return Client(secure(guard(build(), db)), host="127.0.0.1:8080")


@pytest.mark.parametrize("path,expected", [
    ("/open", "open"), ("/sub/hook/3", "hook 3"), ("/form", "saved x"),
])
def test_marked_routes_accept_cross_site_posts(client: Client, path: str, expected: str) -> None:
    response = client.post(path, data={"a": "x"}, headers=CROSS)
    assert (response.status, response.text) == (200, expected)


@pytest.mark.parametrize("path", ["/closed", "/sub/plain", "/nowhere", "/sub//hook/3"])
def test_other_routes_still_refuse_them(client: Client, path: str) -> None:
    response = client.post(path, data={"a": "x"}, headers=CROSS)
    assert response.status == 403
    assert "another site" in response.text


def test_same_origin_posts_pass_everywhere(client: Client) -> None:
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}
    assert client.post("/closed", headers=same).text == "closed"
    assert client.post("/sub/plain", headers=same).text == "plain"


def test_an_opted_out_route_still_converts_its_wildcards(client: Client) -> None:
    # The check lets the request through to the route, which then refuses the bad segment.
    assert client.post("/sub/hook/x", headers=CROSS).status == 404
