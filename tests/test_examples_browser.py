"""The tutorial examples in headless Chromium: each runs as a real process and is clicked through.

Every page must render without console errors, script errors or failed
requests (any response >= 400 that the test did not ask for counts as a
failure), and each example's own feature must work: routes and error pages,
static files, forms, templates, the SQLite guard, a multi-megabyte upload,
server-sent events while another tab loads, and a fetch()-driven JSON API.
The datebook has its own browser tests.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from support import chromium, running_example

WAIT_MS = 15_000
#: Milliseconds from sending a page's request to the end of its response (Navigation Timing).
NAVIGATION_MS = "(e => e.responseEnd - e.requestStart)(performance.getEntriesByType('navigation')[0])"




@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile and no network beyond 127.0.0.1."""
    with chromium(tmp_path_factory.mktemp("chromium"), accept_downloads=True) as context:
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        yield context


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where examples keep their data during a test (never the user's real data folder)."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def example(name: str, data_dir: Path, **env: str) -> Any:
    """Run examples/NAME.py on a free port with its data in `data_dir`; yields the base URL."""
    return running_example(name, env={"KALI_DATA_DIR": str(data_dir), **env})


class Watched:
    """A browser tab that records every console error, script error, failed request and error status."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        #: (status, path) pairs the test expects, e.g. (404, '/nowhere').
        self.expected: set[tuple[int, str]] = set()
        #: Paths whose requests may be cancelled by the page itself (an EventSource it closes).
        self.may_abort: set[str] = set()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def expect(self, status: int, path: str) -> None:
        """Allow one kind of error answer: the test is about to ask for it on purpose."""
        self.expected.add((status, path))

    def _is_expected(self, url: str, status: int | None = None) -> bool:
        parts = urlsplit(url)
        if parts.path == "/favicon.ico":
            # Asked for by the browser itself for pages without an icon link (plain text, error
            # pages): no page of the examples refers to it.
            return True
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return any((status is None or status == s) and path == p for s, p in self.expected)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        # Chromium reports every error status as "Failed to load resource"; an expected one is fine.
        if "Failed to load resource" in message.text and self._is_expected(url):
            return
        self.problems.append(f"console error: {message.text} ({url})")

    def _failed(self, request: Any) -> None:
        if urlsplit(request.url).path in self.may_abort and "ERR_ABORTED" in (request.failure or ""):
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not self._is_expected(response.url, response.status):
            self.problems.append(f"unexpected {response.status} for {response.request.method} {response.url}")

    def goto(self, url: str, status: int = 200) -> Any:
        """Load a page and check its status."""
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == status, (url, response and response.status)
        return response

    def click_and_load(self, selector: str) -> Any:
        """Click something that navigates (a link, a form's button) and wait for the next page."""
        with self.page.expect_navigation(wait_until="load"):
            self.page.click(selector)

    def text(self, selector: str = "body") -> str:
        """The visible text of the first element matching `selector`."""
        return str(self.page.inner_text(selector))

    def check(self) -> None:
        """Fail with everything that went wrong in this tab, then close it."""
        self.page.close()
        assert not self.problems, "\n".join(self.problems)

    def assert_styled(self) -> None:
        """The shared stylesheet was applied: the top bar is a flex box (the browser default is block)."""
        assert self.page.eval_on_selector(".bar", "e => getComputedStyle(e).display") == "flex"


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    """A watched tab; the test fails if anything went wrong in it."""
    watched = Watched(browser)
    yield watched
    watched.check()


# -- intro ------------------------------------------------------------------------------------

def test_intro(tab: Watched, data_dir: Path) -> None:
    with example("intro", data_dir) as url:
        tab.goto(url)
        tab.assert_styled()
        assert tab.text("h1") == "Hello from kali"

        # A wildcard and query parameters, converted by their annotations.
        tab.click_and_load("a[href='/hello/Ada?times=3&shout=yes']")
        assert tab.page.locator("main li").all_inner_texts() == ["HELLO, ADA!"] * 3

        # Escaped: markup in the URL is shown as text.
        tab.goto(url + "hello/%3Cb%3Eyou%3C%2Fb%3E")
        assert tab.text("main li") == "Hello, <b>you</b>!"
        assert tab.page.locator("main li b").count() == 0

        tab.expect(400, "/hello/Ada?times=lots")
        tab.goto(url + "hello/Ada?times=lots", status=400)
        assert "'times'" in tab.text() and "whole number" in tab.text()

        # Plain text: the browser shows the tags instead of obeying them.
        tab.goto(url + "add/2/40")
        assert tab.text().startswith("2 + 40 = 42")
        assert "<b>This is not bold" in tab.text()

        tab.expect(404, "/add/2/forty")
        tab.goto(url + "add/2/forty", status=404)

        # The 500 page carries the error and the traceback, down to the app's line that raised.
        tab.goto(url)
        tab.expect(500, "/broken")
        with tab.page.expect_navigation():
            tab.page.click("a[href='/broken']")
        assert tab.text("h1") == "500 Internal Server Error"
        assert tab.text(".exception") == "KeyError: 'test'"
        assert "Traceback" in tab.text(".traceback h2")
        assert "intro.py" in tab.text(".frame.app") and tab.page.locator(".frame.app").last.is_visible()

        tab.expect(403, "/secret")
        tab.goto(url + "secret", status=403)
        assert "not for you" in tab.text()
        tab.expect(404, "/nowhere")
        tab.goto(url + "nowhere", status=404)
        assert "There is nothing at /nowhere" in tab.text()

        # None of that hurt the server.
        tab.goto(url)


# -- static_content ---------------------------------------------------------------------------

def test_static_content(tab: Watched, data_dir: Path) -> None:
    with example("static_content", data_dir) as url:
        tab.goto(url)
        tab.assert_styled()
        page = tab.page
        # look.css: the proof paragraph has its 6px green bar.
        assert page.eval_on_selector("#css-proof", "e => getComputedStyle(e).borderLeftWidth") == "6px"
        assert page.eval_on_selector("#css-proof", "e => getComputedStyle(e).borderLeftColor") == "rgb(31, 122, 61)"
        # The PNG arrived and decoded.
        page.wait_for_function("document.getElementById('picture').complete", timeout=WAIT_MS)
        assert page.eval_on_selector("#picture", "e => [e.naturalWidth, e.naturalHeight]") == [320, 160]
        # clock.js ran, and its fetch() read the stylesheet's caching headers.
        page.wait_for_selector("#js-status[data-ran=yes]")
        assert tab.text("#js-status").startswith("JavaScript is running")
        page.wait_for_selector("#headers[data-loaded=yes]")
        headers = dict(zip(page.locator("#headers dt").all_inner_texts(), page.locator("#headers dd").all_inner_texts()))
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        assert headers["ETag"].startswith('"') and headers["Cache-Control"] == "no-cache"
        notes = Path(__file__).parent.parent / "examples/static/static_content/notes.txt"
        assert headers["Content-Length"] == str(notes.stat().st_size)

        # A reload revalidates the files instead of downloading them again.
        statuses: dict[str, int] = {}
        page.on("response", lambda r: statuses.setdefault(urlsplit(r.url).path, r.status))
        page.reload(wait_until="load")
        for path in ("/static/static_content/look.css", "/static/static_content/clock.js",
                     "/static/static_content/sunrise.png"):
            assert statuses.get(path) == 304, statuses
        tab.assert_styled()

        tab.click_and_load("a[href='/browse/']")
        assert {"datebook.css", "static_content/"} <= set(page.locator("li a").all_inner_texts())
        tab.click_and_load("a[href='static_content/']")
        assert "sunrise.png" in page.locator("li a").all_inner_texts()


# -- simple_task_list -------------------------------------------------------------------------

def test_simple_task_list(tab: Watched, data_dir: Path) -> None:
    with example("simple_task_list", data_dir) as url:
        page = tab.page
        tab.goto(url)
        tab.assert_styled()
        start = page.locator("#tasks li").count()

        # Add through the form: POST, then a 303 back to the list.
        page.fill("input[name=title]", "Water the <b>plants</b>")
        tab.click_and_load("form[action='/add'] button")
        assert page.url == url
        rows = page.locator("#tasks li")
        assert rows.count() == start + 1
        new = rows.nth(start)
        assert new.inner_text().startswith("\u2610") and "Water the <b>plants</b>" in new.inner_text()
        link = new.locator("a").get_attribute("href")
        assert link is not None and link.startswith("/task/")

        # Tick it off.
        tab.click_and_load(f"#tasks li:nth-child({start + 1}) button[value=toggle]")
        assert "done" in (page.locator("#tasks li").nth(start).get_attribute("class") or "")
        assert f"1 of {start + 1} done" in tab.text()

        # Rename it on its own page (the servlet).
        tab.click_and_load(f"a[href='{link}']")
        assert tab.text("h1") == f"Edit task {link.rsplit('/', 1)[1]}"
        assert page.input_value("#title") == "Water the <b>plants</b>"
        page.fill("#title", "Water the ferns")
        tab.click_and_load("button[value=rename]")
        assert "Water the ferns" in page.locator("#tasks li").nth(start).inner_text()

        # Delete it.
        tab.click_and_load(f"#tasks li:nth-child({start + 1}) button[value=delete]")
        assert page.locator("#tasks li").count() == start
        assert "Water the ferns" not in tab.text()
        tab.expect(404, link)
        tab.goto(url + link[1:], status=404)
        assert "no task" in tab.text()

        # "Remove finished tasks" (the service's second POST action).
        tab.goto(url)
        tab.click_and_load("#tasks li:first-child button[value=toggle]")
        tab.click_and_load("form[action='/clear'] button")
        assert page.locator("#tasks li").count() == start - 1


# -- templates_tour ---------------------------------------------------------------------------

def test_templates_tour(tab: Watched, data_dir: Path) -> None:
    with example("templates_tour", data_dir) as url:
        page = tab.page
        tab.goto(url)
        tab.assert_styled()
        for section in ("placeholders", "formatters", "conditionals", "loops", "include", "base", "mistakes"):
            assert page.locator(f"section#{section}").is_visible(), section
        placeholders = tab.text("#placeholders .result")
        assert "Hello, Ada! You have 3 unread messages." in placeholders
        assert "<script>alert('so do you')</script>" in placeholders           # escaped: shown as text
        assert page.locator("#placeholders .result script").count() == 0
        assert page.locator("#placeholders .result span.ok").count() == 1     # {.badge}: trusted markup
        assert "{name} in double braces" in placeholders
        formatted = page.locator("#formatters .result td").all_inner_texts()
        assert formatted == ["2,165,423", "9,871,234.50", "1250-06-01", "2.4 MB"]
        assert "Signed in as ada@example.org." in tab.text("#conditionals .result")
        assert "Nothing is overdue." in tab.text("#conditionals .result")
        assert page.locator("#books tr").count() == 4                          # header + 3 books
        assert page.locator("#books td.num").all_inner_texts() == ["9.99", "12.50", "11.00"]
        assert page.locator("#empty-wishlist").is_visible()                    # the loop's "otherwise"
        assert "you are Ada" in tab.text("#signature")                         # include
        assert "<!--{extends common/layout}-->" in tab.text("#base pre")

        # A typo in a template: the 500 page names file:line:col and points at it.
        tab.expect(500, "/broken")
        with page.expect_navigation():
            page.click("#mistakes a[href='/broken']")
        report = tab.text(".template")
        assert "templates/templates_tour/broken.tpl:6:1: unknown directive 'otherwize'" in report
        assert tab.text(".template .source") == "<!--{otherwize}-->"
        assert tab.text(".template mark.at") == "<"                             # the caret's character

        # A parameter the handler forgot: named, with its line and a caret under it.
        tab.expect(500, "/forgot")
        tab.goto(url + "forgot", status=500)
        report = tab.text(".template")
        assert "templates/templates_tour/receipt.tpl:4:36: missing parameter 'total'" in report
        source = tab.text(".template .source")
        assert source.endswith("You paid {total:cents}.</p>") and len(source) > 36
        marked = tab.page.evaluate("""() => { const m = document.querySelector('.template mark.at');
            return [m.textContent, m.previousSibling ? m.previousSibling.textContent.length : 0]; }""")
        assert marked == ["{", 35]                                              # column 36

        # The rest of the app is untouched.
        tab.goto(url)
        assert page.locator("section#loops").is_visible()


# -- guard ------------------------------------------------------------------------------------

def test_guard_catches_a_forgotten_commit(tab: Watched, data_dir: Path) -> None:
    database = data_dir / "guard.sqlite3"
    with example("guard", data_dir, KALI_GUARD_DB=str(database)) as url:
        page = tab.page
        tab.goto(url)
        tab.assert_styled()

        page.fill("form[action='/tasks'] input", "Saved properly")
        tab.click_and_load("form[action='/tasks'] button")
        assert "Saved properly" in tab.text("#tasks")

        # The forgetful handler redirected as if all was well; the guard turned that into a 500.
        tab.expect(500, "/tasks/forgetful")
        page.fill("form[action='/tasks/forgetful'] input", "Never saved")
        tab.click_and_load("form[action='/tasks/forgetful'] button")
        assert tab.text("h1") == "500 Internal Server Error"
        assert "left a database transaction open" in tab.text() and "NOT saved" in tab.text()

        tab.goto(url)
        assert "Never saved" not in tab.text("#tasks")

        # The journal (per-request mode): a success is committed, an error rolled back.
        page.fill("form[action='/journal'] input", "A good day")
        tab.click_and_load("form[action='/journal'] button")
        assert "A good day" in tab.text("#journal")
        tab.expect(400, "/journal")
        tab.click_and_load("form[action='/journal'] button")           # empty: refused with 400
        assert "nothing was saved" in tab.text()

    # What the app said is what the file holds (read after the app stopped).
    with sqlite3.connect(database) as db:
        titles = [row[0] for row in db.execute("SELECT title FROM task")]
        notes = [row[0] for row in db.execute("SELECT text FROM note")]
    assert "Saved properly" in titles and "Never saved" not in titles
    assert notes == ["A good day"]


# -- uploads ----------------------------------------------------------------------------------

def test_uploads_a_multi_megabyte_file_and_downloads_it(tab: Watched, data_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "uploads"
    big = tmp_path / "holiday video.bin"
    big.write_bytes(os.urandom(5 << 20))        # 5 MiB: well past the 1 MiB spooling threshold
    small = tmp_path / "notes ünicode.txt"
    small.write_text("a small file\n", encoding="utf-8")
    with example("uploads", data_dir, KALI_UPLOADS_DIR=str(store)) as url:
        page = tab.page
        tab.goto(url)
        tab.assert_styled()
        assert "No files yet" in tab.text("#listing")

        # Both files in one <input type=file multiple>.
        page.set_input_files("#files", [str(big), str(small)])
        started = time.monotonic()
        tab.click_and_load("form[action='/upload'] button")
        upload_seconds = time.monotonic() - started
        assert tab.text(".flash.success") == "2 files uploaded."
        names = page.locator("#listing td:first-child a").all_inner_texts()
        assert names == ["holiday video.bin", "notes ünicode.txt"]
        assert page.locator("#listing td.num").all_inner_texts() == ["5.2 MB", "13 bytes"]
        assert (store / "holiday video.bin").read_bytes() == big.read_bytes()

        # Download it again through the link: the same bytes, under the same name.
        with page.expect_download() as info:
            page.click("a[href='/files/holiday%20video.bin']")
        download = info.value
        assert download.suggested_filename == "holiday video.bin"
        assert Path(download.path()).read_bytes() == big.read_bytes()

        # The same file again is stored beside it, not over it; then delete one.
        page.set_input_files("#files", str(small))
        tab.click_and_load("form[action='/upload'] button")
        assert "notes ünicode (2).txt" in page.locator("#listing td:first-child a").all_inner_texts()
        tab.click_and_load("form[action='/files/notes%20%C3%BCnicode%20%282%29.txt/delete'] button")
        assert sorted(os.listdir(store)) == ["holiday video.bin", "notes ünicode.txt"]
    print(f"\nuploads: 5 MiB + 13 bytes uploaded and listed in {upload_seconds:.2f} s")


# -- live_progress ----------------------------------------------------------------------------

def test_live_progress_streams_while_another_tab_loads(browser: Any, tab: Watched, data_dir: Path) -> None:
    with example("live_progress", data_dir) as url:
        page = tab.page
        tab.may_abort.add("/job")       # the page closes its EventSource once "done" arrives
        tab.goto(url)
        tab.assert_styled()
        steps = int(page.inner_text(".lead").split(" in ", 1)[1].split()[0])

        clicked = time.monotonic()
        page.click("#start")
        page.wait_for_function("Number(document.body.dataset.events || 0) >= 3", timeout=WAIT_MS)
        first_events = time.monotonic() - clicked

        # Another tab, while the job runs: it loads, and the server says the job is running.
        other = Watched(browser)
        other.goto(url + "elsewhere")
        busy_ms = other.page.evaluate(NAVIGATION_MS)
        assert "1 job(s) running" in other.text("#served")
        during = int(page.evaluate("document.body.dataset.events"))
        other.check()
        assert during < steps, "the job ended before the other page had loaded"

        # The job carries on, and finishes with the right answer (the primes below 2,000,000).
        page.wait_for_selector("body[data-done=yes]", timeout=WAIT_MS)
        total = time.monotonic() - clicked
        events = page.locator("#events li").all_inner_texts()
        assert len(events) == steps + 1 and events[-1] == "done"
        assert events[0].startswith("progress 4%") and events[-2].startswith("progress 100%")
        assert "148,933 prime numbers below 2,000,000" in tab.text("#result")
        assert page.eval_on_selector("#bar", "e => e.style.width") == "100%"

        # The generator's finally ran: no job is counted as running any more.
        other = Watched(browser)
        other.goto(url + "elsewhere")
        idle_ms = other.page.evaluate(NAVIGATION_MS)
        assert "0 job(s) running" in other.text("#served")
        other.check()
    print(f"\nlive_progress: 3 events {first_events:.2f} s after Start; the other page took {busy_ms:.0f} ms "
          f"(request to response end) during the job, after event {during}, and {idle_ms:.0f} ms once it "
          f"was over; {steps} steps done in {total:.2f} s")


# -- json_api ---------------------------------------------------------------------------------

def test_json_api_page_lists_creates_and_shows_validation_errors(tab: Watched, data_dir: Path) -> None:
    with example("json_api", data_dir) as url:
        page = tab.page
        tab.goto(url)
        tab.assert_styled()
        page.wait_for_selector("body[data-loaded=yes]")
        assert page.locator("#notes li .grow").all_inner_texts() == ["Notes come from GET /api/notes"]

        # Create through the page's fetch(): the list is redrawn without a page load.
        page.fill("#text", "Buy <b>bread</b>")
        page.select_option("select[name=priority]", "3")
        with page.expect_response(lambda r: r.request.method == "POST") as created:
            page.click("#new-note button")
        assert created.value.status == 201
        page.wait_for_function("document.querySelectorAll('#notes li').length == 2")
        first = page.locator("#notes li").first
        assert first.locator(".grow").inner_text() == "Buy <b>bread</b>"     # high priority comes first
        assert first.locator("small").inner_text() == "high"
        with urllib.request.urlopen(url + "api/notes", timeout=5) as response:
            stored = json.load(response)["notes"]
        assert stored[0] == {"id": 2, "text": "Buy <b>bread</b>", "priority": 3}

        # An empty note: the server's 400 JSON body is shown on the page.
        tab.expect(400, "/api/notes")
        page.fill("#text", "   ")
        with page.expect_response(lambda r: r.request.method == "POST") as refused:
            page.click("#new-note button")
        assert refused.value.status == 400
        assert refused.value.json() == {"error": "A note needs some text.", "field": "text"}
        page.wait_for_selector("#problem:not([hidden])")
        assert tab.text("#problem") == "A note needs some text."
        assert page.locator("#notes li").count() == 2

        # Delete through the page.
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            first.locator("button").click()
        assert deleted.value.status == 204
        page.wait_for_function("document.querySelectorAll('#notes li').length == 1")
        assert "bread" not in tab.text("#notes")


def test_json_api_page_shows_a_delete_that_failed(tab: Watched, data_dir: Path) -> None:
    with example("json_api", data_dir) as url:
        page = tab.page
        tab.goto(url)
        page.wait_for_selector("body[data-loaded=yes]")
        # Another tab (here: a script) deletes the note the page still shows.
        request = urllib.request.Request(url + "api/notes/1", method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 204
        tab.expect(404, "/api/notes/1")
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            page.locator("#notes li[data-id='1'] button").click()
        assert deleted.value.status == 404
        page.wait_for_selector("#problem:not([hidden])")
        assert tab.text("#problem") == "There is no note 1."
        # The list is redrawn from the server: the note is gone there too.
        page.wait_for_function("document.querySelectorAll('#notes li[data-id]').length == 0")
