"""Export and import of contacts in headless Chromium against the datebook as a real process.

A file with errors on several lines is previewed with each error marked in its
row and cell and no Import button; the corrected file is previewed, imported
whole with one click, and the Export button downloads what was imported.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterator

import pytest

from support import chromium, running_example
from test_datebook_browser import Problems, submit


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium"), viewport={"width": 1200, "height": 800},
                  color_scheme="light", locale="en-GB", accept_downloads=True) as context:
        yield context


def test_import_with_errors_then_a_good_file_then_export(browser: Any, tmp_path: Path) -> None:
    bad = tmp_path / "contacts with errors.csv"
    bad.write_text("Name,E-mail,Birthday\nAda Lovelace,ada@example.org,1815-12-10\n"
                   ",grace@example,1906-12-09\nAlan Turing,alan@example.net,1912-06-31\n", encoding="utf-8")
    good = tmp_path / "contacts.csv"
    good.write_text("Name,E-mail,Birthday\nAda Lovelace,ada@example.org,1915-12-10\n"
                    "Grace Hopper,grace@example.com,1906-12-09\nAlan Turing,alan@example.net,1912-06-23\n",
                    encoding="utf-8")
    with running_example("datebook", env={"KALI_DATEBOOK_DB": str(tmp_path / "db.sqlite3")}) as url:
        page = browser.new_page()
        problems = Problems(page)
        page.goto(f"{url}contacts/")
        with page.expect_navigation():
            page.click("main >> text=Import")
        assert page.url == f"{url}contacts/import"

        # -- a file with errors on two lines
        page.set_input_files("#file", str(bad))
        submit(page, "text=Preview", problems, refused=True)
        errors = [str(t).strip() for t in page.locator("#import-errors li").all_text_contents()]
        assert errors == ["Line 2, Birthday: Enter a date on or after 1900-01-01.",
                          "Line 3, Name: This field is required.",
                          "Line 3, E-mail: Enter an e-mail address like ann@example.org.",
                          "Line 4, Birthday: 1912-06-31 is not a date in the calendar."]
        marked = page.locator("#preview tbody tr.has-error")
        assert [marked.nth(i).get_attribute("data-line") for i in range(marked.count())] == ["2", "3", "4"]
        bad_cells = page.locator("#preview td.bad")
        assert bad_cells.count() == 4
        # The marking shows: the error cell is outlined in the error colour.
        assert page.evaluate("getComputedStyle(document.querySelector('#preview td.bad')).outlineStyle") == "solid"
        assert page.locator("#confirm-import").count() == 0

        # -- the corrected file: a preview with the Import button, then the import
        page.goto(f"{url}contacts/import")
        page.set_input_files("#file", str(good))
        submit(page, "text=Preview")
        assert page.locator("#preview tbody tr").count() == 3
        assert page.locator("#preview tbody tr.has-error").count() == 0
        submit(page, "#confirm-import button")
        assert page.url == f"{url}contacts/"
        assert page.text_content(".flash.success") == "Imported 3 contacts."
        assert page.locator("#contacts tbody tr").count() == 3

        # -- export what is there
        with page.expect_download() as waiting:
            page.click("main >> text=Export CSV")
        download = waiting.value
        assert download.suggested_filename.startswith("contacts ") and download.suggested_filename.endswith(".csv")
        rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"), newline="")))
        assert rows == [["name", "email", "phone", "birthday", "notes"],
                        ["Ada Lovelace", "ada@example.org", "", "1915-12-10", ""],
                        ["Alan Turing", "alan@example.net", "", "1912-06-23", ""],
                        ["Grace Hopper", "grace@example.com", "", "1906-12-09", ""]]
        problems.check()
