"""The debug page (the 500 page for this machine): the error first, the app's frames open, kali's folded."""

from __future__ import annotations

import functools
import html.parser
import importlib.util
import io
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from kali import HTTPError, TemplateFolder, secure, set_error_page
from kali.testing import Client
from kali.wsgi import to_wsgi
from support import chromium, running_server

REMOTE = ("192.168.1.20", 50000)


class Page(html.parser.HTMLParser):
    """The parts of a debug page a reader sees: each frame (and whether it is folded), the sections in order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.frames: list[dict[str, Any]] = []
        self.order: list[str] = []          # class names of the page's parts, in document order
        self.text_of: dict[str, str] = {}   # class name -> text of its first element
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._open_text: list[tuple[str, list[str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("meta", "br", "link"):
            return
        self._stack.append((tag, attributes))
        classes = attributes.get("class", "")
        if classes:
            self.order.append(classes)
            self._open_text.append((classes, []))
        if tag == "div" and "frame" in classes.split():
            folded = [a for t, a in self._stack[:-1] if t == "details"]
            self.frames.append({"app": "app" in classes.split(), "id": attributes.get("id"),
                                "folded": bool(folded), "open": bool(folded) and "open" in folded[-1],
                                "text": []})

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            open_tag, attributes = self._stack.pop()
            if attributes.get("class"):
                classes, pieces = self._open_text.pop()
                self.text_of.setdefault(classes, "".join(pieces))
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, pieces in self._open_text:
            pieces.append(data)
        if self.frames and any(t == "div" and "frame" in a.get("class", "").split() for t, a in self._stack):
            self.frames[-1]["text"].append(data)


def frames(page: Page) -> list[dict[str, Any]]:
    return [dict(frame, text="".join(frame["text"])) for frame in page.frames]


# -- the app's frames and kali's ----------------------------------------------------------------

def shelve(book: dict[str, str]) -> str:
    return book["shelf"]                       # the line that raises


def show_book(request: Any) -> Any:
    book = {"title": "Dune"}
    return ["<p>", shelve(book), "</p>"]


def test_the_apps_frames_are_open_and_highlighted_and_kalis_are_folded() -> None:
    response = Client(secure(show_book)).get("/books/1")
    assert response.status == 500 and response.headers["Cache-Control"] == "no-store"
    page = Page(response.text)
    seen = frames(page)
    here = __file__
    app = [frame for frame in seen if frame["app"]]
    assert [frame["text"].splitlines()[0].rsplit(", in ", 1)[1] for frame in app] == ["show_book", "shelve"]
    assert all(here in frame["text"] and not frame["folded"] for frame in app)
    assert 'return book["shelf"]' in app[-1]["text"]              # with its source...
    assert "def shelve(book" in app[-1]["text"]                   # ...and the lines around it
    kali = [frame for frame in seen if not frame["app"]]
    assert kali and all(frame["folded"] and not frame["open"] for frame in kali)
    assert any("kali/security.py" in frame["text"] for frame in kali)
    # The error and the innermost app frame come before the traceback.
    assert page.order.index("exception") < page.order.index("where") < page.order.index("traceback")
    assert page.text_of["exception"] == "KeyError: 'shelf'"
    assert page.text_of["where"] == f"In your code: {here}, line {shelve.__code__.co_firstlineno + 1}, in shelve"
    assert f'href="#{app[-1]["id"]}"' in response.text


def test_the_failing_expression_is_marked_in_its_line() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Python 3.10 does not record where in a line an error was raised")
    text = Client(show_book).get("/").text
    assert 'return <mark>book[&quot;shelf&quot;]</mark>' in text


def test_without_any_app_frame_the_innermost_frames_are_unfolded() -> None:
    handler = functools.partial(int, "not a number")          # a handler that is no Python code of the app's
    page = Page(Client(handler).get("/").text)
    seen = frames(page)
    assert seen and not any(frame["app"] for frame in seen)
    assert seen[-1]["folded"] and seen[-1]["open"]
    assert "No frame of the traceback is in your code" in page.text_of["where"]


def test_a_recursion_shows_the_repeated_frame_once() -> None:
    def countdown(n: int) -> int:
        if n:
            return countdown(n - 1)
        return 1 // n

    page = Page(Client(lambda request: countdown(40)).get("/").text)
    counted = [frame for frame in frames(page) if frame["text"].splitlines()[0].endswith(", in countdown")]
    assert len(counted) == 2                                  # the recursive call, then the division
    assert page.text_of["repeat"] == "\u2026 the same frame 39 more times"


def test_chained_exceptions_are_shown_after_the_traceback() -> None:
    def save(request: Any) -> Any:
        try:
            int("twelve")
        except ValueError as exc:
            raise RuntimeError("the page count is not a number") from exc

    text = Client(save).get("/").text
    assert text.index("RuntimeError</b>: the page count is not a number") < text.index("It was raised from this exception")
    assert "ValueError</b>: invalid literal for int() with base 10: &#x27;twelve&#x27;" in text
    assert text.count('int(&quot;twelve&quot;)') >= 1        # the cause's app frame, with its source


def test_everything_from_the_error_is_escaped() -> None:
    def evil(request: Any) -> Any:
        raise ValueError("<script>alert(1)</script>")

    text = Client(evil, debug=True).get("/<b>?x=<i>").text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>?x=<i>" not in text


# -- template errors: file, line and caret at the top -------------------------------------------

def test_a_template_runtime_error_shows_the_template_line_with_a_caret_first(tmp_path: Path) -> None:
    (tmp_path / "book.tpl").write_text("<h1>Books</h1>\n<p>\n  <b>{b.titel}</b></p>\n")
    templates = TemplateFolder(tmp_path)

    def book(request: Any) -> Any:
        return templates("book", b={"title": "Dune"})

    text = Client(book).get("/").text
    page = Page(text)
    path = str(tmp_path / "book.tpl")
    assert page.order.index("template") < page.order.index("traceback")
    assert page.text_of["exception"] == (
        f"TemplateRuntimeError: {path}:3:6: cannot look up {{b.titel}}: KeyError: 'titel' — did you mean {{b.title}}?")
    assert f"In template {path}, line 3, column 6:" in text
    assert '<pre class="source">  &lt;b&gt;<mark class="at">{</mark>b.titel}&lt;/b&gt;&lt;/p&gt;</pre>' in text
    # The template machinery's own exception (the KeyError inside the compiled code) is folded away.
    assert '<details class="chained"><summary>It was raised from this exception (no frame in your code)' in text


def test_a_template_that_does_not_load_shows_its_line_with_a_caret(tmp_path: Path) -> None:
    (tmp_path / "list.tpl").write_text("<!--{slot body}-->\n<!--{if rows}-->\n<ul></ul>\n<!--{end}-->\n")
    templates = TemplateFolder(tmp_path)
    text = Client(lambda request: templates("list", rows=[])).get("/").text
    assert f"TemplateError</b>: {tmp_path / 'list.tpl'}:2:1: unclosed &#x27;if&#x27;" in text
    assert '<pre class="source"><mark class="at">&lt;</mark>!--{if rows}--&gt;</pre>' in text


def test_a_template_error_the_app_wrapped_is_still_shown_at_the_top(tmp_path: Path) -> None:
    from kali import Template

    def wrapped(request: Any) -> Any:
        try:
            return Template("{x}", name="t.tpl")()
        except Exception as exc:
            raise RuntimeError("could not render the receipt") from exc

    text = Client(wrapped).get("/").text
    assert text.index("RuntimeError</b>: could not render the receipt") < text.index("It was raised from:")
    assert text.index("It was raised from:") < text.index("t.tpl:1:1: missing parameter")
    assert '<mark class="at">{</mark>x}' in text


# -- who sees it --------------------------------------------------------------------------------

def boom(request: Any) -> Any:
    raise RuntimeError("secret <detail>")


def assert_plain_500(text: str) -> None:
    assert "kali-debug" not in text and "secret" not in text and "Traceback" not in text
    assert "details are in its log" in text


def test_only_this_machine_sees_the_debug_page_through_the_test_client_and_wrapper() -> None:
    assert "kali-debug" in Client(boom).get("/").text
    assert_plain_500(Client(boom, client_address=REMOTE).get("/").text)
    assert_plain_500(Client(secure(boom, debug=True), client_address=REMOTE).get("/").text)
    assert_plain_500(Client(boom, debug=False).get("/").text)


def test_only_this_machine_sees_the_debug_page_through_wsgi() -> None:
    from wsgiref.util import setup_testing_defaults

    def call(address: str) -> str:
        env: dict[str, Any] = {"REMOTE_ADDR": address, "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO()}
        setup_testing_defaults(env)
        statuses: list[str] = []
        body = b"".join(to_wsgi(boom, debug=True, allowed_hosts=["127.0.0.1"])(env, lambda s, h, e=None: statuses.append(s)))
        assert statuses[0].startswith("500")
        return body.decode()

    assert "kali-debug" in call("127.0.0.1")
    assert_plain_500(call(REMOTE[0]))


def test_the_live_server_shows_it_to_a_loopback_client_only_with_debug() -> None:
    from support import get
    with running_server(boom, debug=True) as server:
        assert b"kali-debug" in get(server.port)[2]
    with running_server(boom, debug=False) as server:
        assert_plain_500(get(server.port)[2].decode())


def test_a_branded_error_page_does_not_replace_the_debug_page() -> None:
    set_error_page(lambda code, message, detail: f"<h1>My app: {code}</h1>")
    try:
        assert "kali-debug" in Client(boom).get("/").text                   # the developer's view
        assert Client(boom, debug=False).get("/").text == "<h1>My app: 500</h1>"
        assert Client(lambda r: (_ for _ in ()).throw(HTTPError(404))).get("/").text == "<h1>My app: 404</h1>"
    finally:
        set_error_page(None)


def test_a_debug_page_that_fails_falls_back_to_the_plain_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: Any) -> None:
    import kali.debug_page

    def broken(request: Any, error: BaseException) -> list[str]:
        raise AttributeError("the debug page broke")
    monkeypatch.setattr(kali.debug_page, "debug_page", broken)
    with caplog.at_level(logging.ERROR, logger="kali"):
        response = Client(boom).get("/")
    assert response.status == 500
    assert "Traceback (most recent call last)" in response.text and "secret &lt;detail&gt;" in response.text
    assert "the debug page failed" in caplog.text


# -- in a real browser: nothing is cut off, on a phone or a desktop ------------------------------

LONG_APP = '''
from kali import Template

receipt = Template("<p>Total for {customer.name}: <b>{customer.invoices.latest.total_including_every_tax_and_fee_that_applies_to_this_order_and_shipping:cents}</b> — thank you for shopping with us, we hope to see you again very soon!</p>", name="templates/receipt.tpl")


def checkout(request):
    if request.path == "/template":
        return receipt(customer={"name": "Ada", "invoices": {"latest": {"total": 12}}})
    order = {"items": [], "customer": "Ada Lovelace", "shipping_address": "12 St James's Square, London"}
    return order["a_key_with_a_long_name_that_nobody_wrote"] + order["another_key_nobody_wrote_either_but_this_line_keeps_going"] + order["and_a_third_one_so_that_even_a_desktop_window_is_too_narrow"] + str(order)
'''


@pytest.fixture
def long_lines_app(tmp_path: Path) -> Iterator[Any]:
    source = tmp_path / "long_lines_app.py"
    source.write_text(textwrap.dedent(LONG_APP))
    spec = importlib.util.spec_from_file_location("long_lines_app", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.checkout


@pytest.mark.parametrize("width", [390, 1280])
def test_long_lines_wrap_in_chromium(tmp_path: Path, long_lines_app: Any, width: int) -> None:
    with running_server(long_lines_app, debug=True) as server, \
            chromium(tmp_path, viewport={"width": width, "height": 844}) as context:
        page = context.new_page()
        for path in ("/code", "/template"):
            response = page.goto(f"http://127.0.0.1:{server.port}{path}")
            assert response is not None and response.status == 500
            # The page never scrolls sideways, and no box inside it does either.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            overflowing = page.evaluate("""[...document.querySelectorAll('body *')]
                .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
                .map(e => e.className)""")
            assert overflowing == []
            key = page.locator(".frame.app .current").last if path == "/code" else page.locator(".template .source")
            box = key.bounding_box()
            assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width
            # The long line takes several rows instead of being cut off (on a desktop too: it is that long).
            line_height = page.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)", key.element_handle())
            assert box["height"] > 1.5 * line_height
            if path == "/template":
                mark = page.locator(".template mark.at").bounding_box()
                caret = page.evaluate("""() => {
                    const m = document.querySelector('.template mark.at');
                    const s = getComputedStyle(m, '::after');
                    return [s.content, s.position]; }""")
                assert caret == ['"^"', "absolute"]
                assert mark is not None and mark["x"] + mark["width"] <= width
            # kali's frames are folded; the app's own frame is visible.
            assert page.locator(".frame.app").first.is_visible()
            assert not page.locator("details.frames .frame").first.is_visible()
