"""`run --reload` in real Chromium: an open page changes by itself after a save, a half-typed form is never lost,
and a page shows the error of a save that does not start, then the app again after the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import chromium
from test_reload import APP, answers, make_app, reloading, save

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the reload tests run on POSIX")

FORM_APP = APP.replace("serve_http(app)\n", '''@app.function("/form")
def form():
    return (f"<!DOCTYPE html><title>form</title><h1 id=version>form of version {VERSION}</h1>"
            "<form method=post action=/form><label>Title <input name=title id=title></label>"
            "<label>Notes <textarea name=notes id=notes></textarea></label>"
            "<label><input type=checkbox name=done id=done> done</label><button>Save</button></form>")


serve_http(app)
''')


def test_an_open_page_changes_by_itself_after_a_save(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app, chromium(tmp_path / "browser") as context:
        page = context.new_page()
        page.goto(app.url())
        assert page.text_content("#version") == "version one"
        page.evaluate("window.sameDocument = true")
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        page.wait_for_function("document.getElementById('version').textContent === 'version two'", timeout=15000)
        assert page.evaluate("window.sameDocument === undefined")       # it reloaded itself
        # A template change reloads it too, without a new process.
        page.goto(app.url() + "page")
        assert "page of version two" in page.text_content("h1")
        save(script.parent / "templates" / "page.tpl", "<h1>the page of version {version}, edited</h1>\n")
        page.wait_for_function("document.querySelector('h1').textContent.includes('edited')", timeout=15000)
        assert app.output.count("starting the new code") == 1


def test_a_page_with_a_half_typed_form_keeps_its_text_and_offers_the_reload(tmp_path: Path) -> None:
    script = make_app(tmp_path, FORM_APP)
    with reloading(script, tmp_path) as app, chromium(tmp_path / "browser") as context:
        page = context.new_page()
        page.goto(app.url() + "form")
        page.fill("#title", "half typed")
        page.fill("#notes", "more words")
        page.evaluate("window.sameDocument = true")
        save(script, FORM_APP.replace('VERSION = "one"', 'VERSION = "two"'))
        notice = page.locator("#kali-reload")
        notice.wait_for(state="visible", timeout=15000)
        assert notice.text_content() == "code changed \u2014 reload"
        assert page.input_value("#title") == "half typed" and page.input_value("#notes") == "more words"
        assert page.evaluate("window.sameDocument") is True
        assert page.text_content("#version") == "form of version one"
        # Another save while the notice shows: still the same page, one notice.
        save(script, FORM_APP.replace('VERSION = "one"', 'VERSION = "three"'))
        answers(app.port(), "/form", "form of version three")
        page.wait_for_timeout(1500)             # the page's stream meets the new process meanwhile
        assert page.locator("#kali-reload").count() == 1 and page.input_value("#title") == "half typed"
        page.click("#kali-reload button")
        page.wait_for_function("document.getElementById('version').textContent === 'form of version three'",
                               timeout=15000)
        # A page whose form is untouched reloads by itself.
        save(script, FORM_APP.replace('VERSION = "one"', 'VERSION = "four"'))
        page.wait_for_function("document.getElementById('version').textContent === 'form of version four'",
                               timeout=15000)


def test_a_page_shows_the_error_of_a_save_that_does_not_start_then_the_app_again(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app, chromium(tmp_path / "browser") as context:
        page = context.new_page()
        page.goto(app.url())
        save(script, APP.replace('VERSION = "one"', 'VERSION = "one"\nif True\n    pass'))
        page.wait_for_function("document.title.startsWith('500 SyntaxError')", timeout=15000)
        assert "The app does not start" in page.text_content("h1")
        assert "if True" in page.text_content(".where + .frame")
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        page.wait_for_function("document.getElementById('version') && "
                               "document.getElementById('version').textContent === 'version two'", timeout=15000)


def test_a_page_served_by_an_outgoing_process_reloads_when_its_stream_meets_the_new_one(tmp_path: Path) -> None:
    # Under --reload a page's script tag names the process that served it (data-boot). A page an old
    # process answered while being replaced must not stay on the old code: here the first answer
    # claims such an old process, and the page's stream meets the real one.
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app, chromium(tmp_path / "browser") as context:
        url = app.url()
        page = context.new_page()
        real = page.request.get(url).text()
        assert 'data-boot="' in real
        stale = real.replace("version one", "version zero")
        stale = stale[:stale.index('data-boot="') + 11] + "outgoing" + stale[stale.index('data-boot="') + 11:]
        page.route(url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8",
                                                     body=stale), times=1)
        page.goto(url)
        page.wait_for_function("document.getElementById('version').textContent === 'version one'", timeout=15000)
