"""The datebook example in headless Chromium, run as a real subprocess: its whole flow, and the README screenshot.

Add a contact, submit a bad form and see every error next to its field with the
typed text kept, fix and save, find the contact by search, sort, add an
appointment and a task, see them on the dashboard, tick the task off, and hit
the duplicate e-mail SaveError -- with no console error, page error or failed
request on the way. Then a second run of the app, filled with its sample data
on a pinned date, is photographed for docs/datebook.png.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from support import ROOT, chromium, running_example

SCREENSHOT = ROOT / "docs" / "datebook.png"
#: The day the screenshot pretends it is (the sample data is placed around it), so the PNG only
#: changes when the page does.
SCREENSHOT_DAY = "2025-06-03"
TODAY = dt.date.today()




@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module: a fresh profile, a laptop-sized window, the light scheme."""
    with chromium(tmp_path_factory.mktemp("chromium"), viewport={"width": 1200, "height": 800},
                  color_scheme="light", locale="en-GB") as context:
        yield context


class Problems:
    """Everything that went wrong in a page: console errors, page errors, failed requests, error statuses."""

    def __init__(self, page: Any) -> None:
        self.found: list[str] = []
        self.console: list[str] = []
        #: Error statuses the test provokes on purpose (a bad form is answered 422), as (status, path).
        self.expected: list[tuple[int, str]] = []
        #: The expected statuses that happened.
        self.seen: list[int] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.found.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.found.append(f"failed: {r.method} {r.url} {r.failure}"))
        page.on("response", self._response)

    def expect(self, status: int, path: str) -> None:
        """The next response for `path` is meant to have this error status."""
        self.expected.append((status, path))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            path = re.sub(r"^https?://[^/]+", "", response.url)
            if (response.status, path) in self.expected:
                self.expected.remove((response.status, path))
                self.seen.append(response.status)
            else:
                self.found.append(f"status {response.status}: {response.request.method} {response.url}")

    def check(self) -> None:
        """Fail with every problem seen so far (and if an expected error status did not happen)."""
        console = list(self.console)
        # Chromium logs every error status as a console error, even that of a page it shows:
        # one such line per expected status is expected too.
        for status in self.seen:
            line = next((c for c in console if c.startswith(
                f"Failed to load resource: the server responded with a status of {status} ")), None)
            if line is not None:
                console.remove(line)
        assert self.found + [f"console: {c}" for c in console] == [], "\n".join(self.found + console)
        assert self.expected == [], f"expected error statuses that did not happen: {self.expected}"


def submit(page: Any, button: str, problems: Problems | None = None, *, refused: bool = False) -> Any:
    """Click a submit button and wait for the page it leads to; `refused`: a 422 is expected."""
    if refused and problems is not None:
        path = re.sub(r"^https?://[^/]+", "", page.url)
        problems.expect(422, path)
    with page.expect_navigation(timeout=15000) as navigation:
        page.click(button)
    response = navigation.value
    assert response is not None
    assert response.status == (422 if refused else 200), (response.status, page.url)
    return response


def error_next_to(page: Any, field: str) -> str:
    """The error message shown right after a field (and checks that it is right after it)."""
    assert page.evaluate(f"document.querySelector('#{field}').nextElementSibling.id") == f"{field}-error"
    assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
    return str(page.text_content(f"#{field}-error"))


def contact_names(page: Any) -> list[str]:
    """The names in the contact table, top to bottom."""
    return [str(n) for n in page.locator("#contacts tbody tr td:first-child strong").all_text_contents()]


def test_datebook_flow_in_chromium(browser: Any, tmp_path: Path) -> None:
    with running_example("datebook", env={"KALI_DATEBOOK_DB": str(tmp_path / "db.sqlite3"),
                                          "KALI_DATEBOOK_TODAY": ""}) as url:
        page = browser.new_page()
        problems = Problems(page)
        page.goto(url)
        assert page.title() == "Dashboard · Datebook"
        assert "Your datebook is empty" in str(page.text_content("main"))
        # The stylesheets arrived and apply (kali.css's variables, datebook.css's grid).
        assert page.evaluate("getComputedStyle(document.querySelector('.stats')).display") == "grid"
        assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--accent').trim()") == "#2b5fd9"

        # -- add a contact: a bad form first
        with page.expect_navigation():
            page.click("main >> text=New contact")
        assert page.url == f"{url}contacts/new"
        page.fill("#name", "   ")
        page.fill("#email", "ada@example")
        page.fill("#phone", "call me maybe")
        page.fill("#birthday", "2999-12-10")
        page.fill("#notes", 'Met at the "analytical engine" <meetup>.\nSecond line.')
        submit(page, "text=Save contact", problems, refused=True)
        assert error_next_to(page, "name") == "This field is required."
        assert error_next_to(page, "email") == "Enter an e-mail address like ann@example.org."
        assert error_next_to(page, "phone") == "Use digits, spaces and + ( ) - . only, like +44 20 7946 0958."
        assert error_next_to(page, "birthday") == "A birthday cannot be in the future."
        assert page.get_attribute("#notes", "aria-invalid") is None
        # Exactly what was typed is still there.
        assert page.input_value("#name") == "   "
        assert page.input_value("#email") == "ada@example"
        assert page.input_value("#phone") == "call me maybe"
        assert page.input_value("#birthday") == "2999-12-10"
        assert page.input_value("#notes") == 'Met at the "analytical engine" <meetup>.\nSecond line.'

        # -- fix it and save
        page.fill("#name", "Ada Lovelace")
        page.fill("#email", "ada@example.org")
        page.fill("#phone", "+44 20 7946 0018")
        page.fill("#birthday", "1990-12-10")
        submit(page, "text=Save contact")
        assert re.fullmatch(rf"{re.escape(url)}contacts/\d+", page.url)
        ada_url = page.url
        assert page.text_content("h1") == "Ada Lovelace"
        # The flash message the save left shows once: a reload does not bring it back.
        assert page.text_content(".flash.success") == "Contact saved."
        page.reload()
        assert page.text_content("h1") == "Ada Lovelace" and page.locator(".flash").count() == 0
        assert page.input_value("#notes") == 'Met at the "analytical engine" <meetup>.\nSecond line.'

        # Two more contacts, the second of which takes Ada's address: a SaveError from the UNIQUE constraint.
        for name, email in (("Grace Hopper", "grace@example.com"), ("Ada Byron", "ADA@example.org")):
            page.goto(f"{url}contacts/new")
            page.fill("#name", name)
            page.fill("#email", email)
            page.fill("#phone", "+1 202 555 0143")
            submit(page, "text=Save contact", problems, refused=name == "Ada Byron")
        assert error_next_to(page, "email") == "Ada Lovelace already has this e-mail address."
        assert page.input_value("#name") == "Ada Byron"
        assert page.input_value("#email") == "ADA@example.org"
        assert page.input_value("#phone") == "+1 202 555 0143"
        page.fill("#email", "")
        submit(page, "text=Save contact")
        assert page.text_content("h1") == "Ada Byron"

        # -- find it by search (the box in the top bar), and an empty search result
        page.fill(".bar .search input", "lovelace")
        with page.expect_navigation():
            page.press(".bar .search input", "Enter")
        assert page.url == f"{url}contacts/?q=lovelace"
        assert contact_names(page) == ["Ada Lovelace"]
        assert page.input_value(".filter input[name=q]") == "lovelace"
        page.fill(".filter input[name=q]", "7946 0018")
        with page.expect_navigation():
            page.click(".filter button")
        assert contact_names(page) == ["Ada Lovelace"]
        page.fill(".filter input[name=q]", "nobody at all")
        with page.expect_navigation():
            page.click(".filter button")
        assert contact_names(page) == []
        assert page.text_content("#no-contacts") == "No contact matches “nobody at all”. Show all contacts or add one."

        # -- sorting: by name, reversed by a second click, then by e-mail (no address last)
        page.goto(f"{url}contacts/")
        assert contact_names(page) == ["Ada Byron", "Ada Lovelace", "Grace Hopper"]
        with page.expect_navigation():
            page.click("#contacts th >> text=Name")
        assert page.url.endswith("?sort=-name")
        assert contact_names(page) == ["Grace Hopper", "Ada Lovelace", "Ada Byron"]
        assert page.get_attribute("#contacts th:first-child", "aria-sort") == "descending"
        with page.expect_navigation():
            page.click("#contacts th >> text=E-mail")
        assert contact_names(page) == ["Ada Lovelace", "Grace Hopper", "Ada Byron"]

        # -- an appointment with Ada, from her page; a cross-field error first
        page.goto(ada_url)
        with page.expect_navigation():
            page.click("text=New appointment with Ada Lovelace")
        assert page.evaluate("document.querySelector('#contact_id').selectedOptions[0].text") == "Ada Lovelace"
        assert page.input_value("#day") == TODAY.isoformat()
        page.fill("#title", "Coffee and the Bernoulli notes")
        page.fill("#starts", "09:30")
        page.fill("#ends", "09:00")
        page.fill("#place", "Café Babbage")
        submit(page, "text=Save appointment", problems, refused=True)
        assert error_next_to(page, "ends") == "The end must be after the start (09:30)."
        assert page.input_value("#title") == "Coffee and the Bernoulli notes"
        assert page.input_value("#place") == "Café Babbage"
        page.fill("#ends", "10:15")
        submit(page, "text=Save appointment")
        assert page.url == f"{url}appointments/"
        assert "Coffee and the Bernoulli notes" in str(page.text_content(".day.is-today"))

        # -- a task about Ada
        page.click("header nav >> text=Tasks")
        page.wait_for_url(f"{url}tasks/")
        with page.expect_navigation():
            page.click("main >> text=New task")
        page.fill("#title", "Send Ada the annotated translation")
        page.fill("#due", TODAY.isoformat())
        page.select_option("#priority", "High")
        page.select_option("#contact_id", label="Ada Lovelace")
        submit(page, "text=Save task")
        assert page.url == f"{url}tasks/"
        assert page.locator("#task-list li").all_text_contents()[0].split() == [
            "Send", "Ada", "the", "annotated", "translation", "Ada", "Lovelace", "High", "today"]

        # -- the dashboard shows both, and the counts
        page.click("header nav >> text=Dashboard")
        page.wait_for_url(url)
        assert "Coffee and the Bernoulli notes" in str(page.text_content("#today"))
        assert "with Ada Lovelace" in str(page.text_content("#today"))
        assert "Send Ada the annotated translation" in str(page.text_content("#open-tasks"))
        stats = [" ".join(s.split()) for s in page.locator(".stats li").all_text_contents()]
        assert stats == ["1 appointment today", "0 appointments in the next 7 days", "1 task open",
                         "0 tasks overdue", "3 contacts in the book"]

        # -- tick the task off: a POST, then back to the dashboard
        with page.expect_navigation():
            page.click("[aria-label='Mark Send Ada the annotated translation as done']")
        assert page.url == url
        assert page.locator("#open-tasks").count() == 0
        assert "Nothing to do." in str(page.text_content("main"))
        page.goto(f"{url}tasks/?show=done")
        assert page.locator("#task-list li.done").count() == 1

        # -- every page once more, and a 404 in the datebook's own layout
        for path in ("", "contacts/", "appointments/?when=all", "tasks/?show=all", ada_url.removeprefix(url),
                     f"{ada_url.removeprefix(url)}/delete", "appointments/new", "tasks/new"):
            response = page.goto(url + path)
            assert response is not None and response.status == 200, path
        problems.expect(404, "/contacts/999")
        response = page.goto(f"{url}contacts/999")
        assert response is not None and response.status == 404
        assert page.title() == "404 Not Found · Datebook"
        assert page.is_visible("header.bar nav")
        problems.check()
        page.close()


def test_a_missing_page_inside_the_datebook_shows_its_navigation(browser: Any, tmp_path: Path) -> None:
    with running_example("datebook", env={"KALI_DATEBOOK_DB": str(tmp_path / "db.sqlite3")}) as url:
        page = browser.new_page()
        problems = Problems(page)
        for path, section in (("/contacts/999", "Contacts"), ("/tasks/nothing/here", "Tasks"), ("/nowhere", None)):
            problems.expect(404, path)
            response = page.goto(url + path.lstrip("/"), wait_until="load")
            assert response is not None and response.status == 404
            # The datebook's own bar: its sections (the one the path is in is current) and its search.
            assert page.title() == "404 Not Found · Datebook"
            nav = page.locator(".bar nav[aria-label=Sections] a")
            assert nav.all_text_contents() == ["Dashboard", "Contacts", "Appointments", "Tasks"]
            current = page.locator(".bar nav a[aria-current=page]").all_text_contents()
            assert current == ([section] if section else [])
            assert page.is_visible(".bar .search input")
            # Styled like every other page (kali.css's bar, datebook.css), with a way back.
            assert page.eval_on_selector(".bar", "e => getComputedStyle(e).display") == "flex"
            assert page.get_attribute("main a[href='/']", "href") == "/"
        with page.expect_navigation():
            page.click(".bar nav >> text=Tasks")
        assert page.url == f"{url}tasks/"
        problems.check()
        page.close()


def test_dashboard_screenshot_for_the_readme(browser: Any, tmp_path: Path) -> None:
    """The sample data on a pinned day, photographed for docs/datebook.png (written only when it changed)."""
    env = {"KALI_DATEBOOK_DB": str(tmp_path / "db.sqlite3"), "KALI_DATEBOOK_TODAY": SCREENSHOT_DAY}
    with running_example("datebook", env=env) as url:
        page = browser.new_page()
        problems = Problems(page)
        page.goto(url)
        with page.expect_navigation():
            page.click("text=Fill it with sample data")
        assert page.url == url
        assert page.text_content("h1") == "Tuesday 3 June 2025"
        assert page.locator("#today li").count() == 3
        assert page.locator("#open-tasks li.overdue").count() == 1
        assert "Ada Lovelace turns 36" in " ".join(str(page.text_content("#birthdays")).split())
        # Fonts and images are in before the picture is taken.
        page.evaluate("document.fonts.ready")
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        problems.check()
        png = page.screenshot(full_page=True, animations="disabled", timeout=15000)
        page.close()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    if not SCREENSHOT.exists() or SCREENSHOT.read_bytes() != png:
        SCREENSHOT.write_bytes(png)
