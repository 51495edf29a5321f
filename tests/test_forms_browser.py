"""A real form in headless Chromium: errors shown next to fields with input kept, saving, uploads, CSRF refusal."""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
from support import chromium, running_server

from kali.forms import INT, REQUIRED, Entry, FileField, Formlet, Memo, SaveError
from kali.http import HTTPError
from kali.request import Request
from kali.response import Response





@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile."""
    with chromium(tmp_path_factory.mktemp("chromium")) as context:
        yield context


class EditPerson(Formlet):
    """The app under test: edit person 1; saving goes to /saved."""

    title = "Person"

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__({
            "name": Entry(lens=REQUIRED, label="Name"),
            "age": Entry(lens=INT(min=0, max=150), inputmode="numeric", label="Age"),
            "bio": Memo(label="Biography"),
            "photo": FileField(max_size=10_000, label="Photo"),
        })
        self.db = db

    def get_native(self, request: Any) -> Any:
        return self.db.execute("select * from person where id=1").fetchone()

    def save(self, native: dict[str, Any], request: Any) -> Any:
        photo = native["photo"]
        if native["name"] == "Taken":
            raise SaveError({"name": "Someone else is called that."})
        with self.db:
            self.db.execute("update person set name=?, age=?, bio=?, photo=? where id=1",
                            (native["name"], native["age"], native["bio"],
                             f"{photo.filename} ({photo.size} bytes): {photo.read().decode()}" if photo else None))
        return Response.redirect("/saved")


def make_app() -> tuple[Any, sqlite3.Connection]:
    # The server thread runs the handler; the test thread reads the table afterwards.
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("create table person(id integer primary key, name text, age integer, bio text, photo text)")
    db.execute("insert into person values (1, 'Ann', 30, 'Writes.', null)")

    def app(request: Request) -> Any:
        if request.path == "/person":
            return EditPerson(db).handle(request)
        if request.path == "/saved":
            row = db.execute("select * from person where id=1").fetchone()
            return ["<!DOCTYPE html><title>Saved</title><h1>Saved</h1><p id=name>", html.escape(row["name"]),
                    "</p><p id=age>", str(row["age"]), "</p><p id=photo>", html.escape(row["photo"] or ""), "</p>"]
        raise HTTPError(404, "no such page")
    return app, db


def test_form_in_chromium(browser: Any, tmp_path: Path) -> None:
    app, db = make_app()
    photo = tmp_path / "été ☀.txt"
    photo.write_text("sunny", encoding="utf-8")
    with running_server(app) as server:
        page = browser.new_page()
        page.goto(f"{server.url}person")
        assert page.input_value("#name") == "Ann"
        assert page.input_value("#age") == "30"

        # Bad input: every error is shown next to its field, with exactly what was typed.
        page.fill("#name", '  Zoë "Z" <b>bold</b>  ')
        page.fill("#age", "twelve")
        page.fill("#bio", "Line one\nLine <two>")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.text_content("#age-error") == "Enter a whole number, like 42."
        assert page.evaluate("document.querySelector('#age').nextElementSibling.id") == "age-error"
        assert page.get_attribute("#age", "aria-invalid") == "true"
        assert page.input_value("#age") == "twelve"
        assert page.input_value("#name") == '  Zoë "Z" <b>bold</b>  '
        assert page.input_value("#bio") == "Line one\nLine <two>"
        assert db.execute("select name from person").fetchone()[0] == "Ann"

        # A SaveError shows next to its field too.
        page.fill("#name", "Taken")
        page.fill("#age", "12")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.text_content("#name-error") == "Someone else is called that."
        assert page.input_value("#age") == "12"

        # Fixed: the form saves (with the upload) and the browser follows the redirect.
        page.fill("#name", '  Zoë "Z" <b>bold</b>  ')
        page.set_input_files("#photo", str(photo))
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == f"{server.url}saved"
        assert page.text_content("#name") == 'Zoë "Z" <b>bold</b>'
        assert page.text_content("#age") == "12"
        assert page.text_content("#photo") == "été ☀.txt (5 bytes): sunny"
        row = db.execute("select name, age, bio from person").fetchone()
        assert tuple(row) == ('Zoë "Z" <b>bold</b>', 12, "Line one\nLine <two>")
        page.close()


def test_cross_site_form_is_refused_in_chromium(browser: Any) -> None:
    app, db = make_app()
    with running_server(app) as target:
        # Another origin (same host, another port: "same-site" to the browser, but not ours).
        evil_page = (f'<!DOCTYPE html><form id=f method=post action="{target.url}person">'
                     '<input name=name value=Mallory><input name=age value=1></form>'
                     '<script>document.getElementById("f").submit()</script>')
        with running_server(lambda request: evil_page) as evil:
            page = browser.new_page()
            with page.expect_navigation(url=f"{target.url}person"):
                page.goto(evil.url)
            assert "403" in page.title()
            body = page.text_content("body") or ""
            assert "nothing was saved" in body
            assert "go back" in body
            page.close()
    assert db.execute("select name from person").fetchone()[0] == "Ann"
