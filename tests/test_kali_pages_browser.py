"""kali's own pages in headless Chromium: the default Formlet page, the error pages and the debug page.

Each must load the stylesheet and icon that ship with kali (from their /_kali/
URLs) without one failed request or error status besides the page's own, look
styled (kali.css applies), and offer a way home; a flash message shows once.
"""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from support import chromium, running_server

from kali import HTTPError, Response, Router
from kali.exchange import compose_handler
from kali.flash import flash
from kali.forms import INT, REQUIRED, Entry, Formlet, nullable
from kali.reserved import asset_url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium"), viewport={"width": 390, "height": 844}) as context:
        yield context


class Book(Formlet):
    """A default Formlet page: no display() of its own."""

    title = "Add a book"

    def __init__(self) -> None:
        super().__init__({"title": Entry(lens=REQUIRED, label="Title"),
                          "year": Entry(lens=nullable(INT(min=0, max=3000)), label="Year")})

    def save(self, native: dict[str, Any], request: Any) -> Any:
        return flash(Response.redirect("/book"), f"{native['title']} saved.", "success")


def make_app() -> Any:
    """The app in the handler stack serve_http() builds (the security wrapper, kali's reserved paths)."""
    app = Router()
    app.servlet("/book")(Book)

    @app.function("/only-post", methods="post")
    def only_post() -> str:
        return "posted"

    @app.function("/secret")
    def secret() -> str:
        raise HTTPError(403, "Not for you.")

    @app.function("/broken")
    def broken() -> str:
        return {"a": 1}["b"]            # a KeyError: the debug page (the browser is on this machine)

    return compose_handler(app)


class Watched:
    """A tab that records failed requests and error statuses other than the page's own."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        self.loaded: list[str] = []
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", self._response)

    def _response(self, response: Any) -> None:
        self.loaded.append(urlsplit(response.url).path)
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"{response.status} for {response.url}")

    def goto(self, url: str, status: int) -> None:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == status, (url, response and response.status)

    def assert_kali_look(self) -> None:
        """The shipped stylesheet came from /_kali/ and applies; the icon is there; nothing failed."""
        page = self.page
        assert asset_url("kali.css") in self.loaded
        links = page.eval_on_selector_all("link[rel=stylesheet]", "ls => ls.map(l => new URL(l.href).pathname)")
        assert asset_url("kali.css") in links
        # kali.css's variables are defined: the page is styled by it, not by the browser's defaults.
        assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
        icon = page.eval_on_selector("link[rel=icon]", "l => new URL(l.href).pathname")
        assert icon == asset_url("icon.svg")
        assert page.evaluate("href => fetch(href).then(r => r.status)", icon) == 200
        assert not self.problems, self.problems


def test_default_formlet_page_wears_kali_css_and_shows_a_flash_once(browser: Any) -> None:
    with running_server(make_app()) as server:
        tab = Watched(browser)
        page = tab.page
        tab.goto(server.url + "book", 200)
        tab.assert_kali_look()
        assert page.text_content("h1") == "Add a book"
        assert page.eval_on_selector("button[type=submit]", "b => getComputedStyle(b).minHeight") == "40px"
        # A wrong year: the error shows next to its field, styled by kali.css.
        page.fill("#title", "Dune")
        page.fill("#year", "soon")
        with page.expect_navigation():
            page.press("#year", "Enter")            # Enter sends the form
        assert page.text_content("#year-error") == "Enter a whole number, like 42."
        assert page.eval_on_selector("#year", "e => getComputedStyle(e).borderTopColor") != \
            page.eval_on_selector("#title", "e => getComputedStyle(e).borderTopColor")
        # Saved: the redirect's flash message shows on the next page, once.
        page.fill("#year", "1965")
        with page.expect_navigation():
            page.press("#title", "Enter")
        assert page.url == server.url + "book"
        assert page.text_content(".flashes .flash.success") == "Dune saved."
        page.reload(wait_until="load")
        assert page.locator(".flash").count() == 0
        assert not tab.problems, tab.problems
        page.close()


@pytest.mark.parametrize("path, status, says", [
    ("nowhere", 404, "There is nothing at /nowhere."),
    ("only-post", 405, "does not accept GET"),
    ("secret", 403, "Not for you."),
    ("book?year=1", 200, None),             # (the control: not an error)
])
def test_error_pages_wear_kali_css_and_lead_home(browser: Any, path: str, status: int, says: str | None) -> None:
    with running_server(make_app()) as server:
        tab = Watched(browser)
        tab.goto(server.url + path, status)
        tab.assert_kali_look()
        if says is not None:
            page = tab.page
            assert page.text_content("h1").startswith(str(status))
            assert says in page.text_content("main")
            # A way back home, in the bar and under the message.
            assert page.get_attribute(".bar a.brand", "href") == "/"
            with page.expect_navigation():
                page.click("main >> text=Back to the home page")
            assert urlsplit(page.url).path == "/"
        tab.page.close()


def test_debug_page_wears_kali_css(browser: Any) -> None:
    with running_server(make_app()) as server:
        tab = Watched(browser)
        tab.goto(server.url + "broken", 500)
        tab.assert_kali_look()
        assert tab.page.text_content(".exception") == "KeyError: 'b'"
        # It stays on a phone's screen: long lines wrap.
        assert tab.page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        tab.page.close()
