"""The datebook's Export contacts and Import contacts (upload, preview with errors marked in the rows, confirm)."""

from __future__ import annotations

import csv
import html
import io
import re
import sqlite3

from kali.testing import Client, TestResponse
from test_datebook import client, datebook, db, token_for  # noqa: F401 (fixtures)

HEADER = "name,email,phone,birthday,notes"


def upload(client: Client, data: bytes, filename: str = "contacts.csv") -> TestResponse:
    """Load the import page like a browser, then post the file with the form's token."""
    page = client.get("/contacts/import")
    assert page.status == 200
    return client.post("/contacts/import", data={"_csrf_token": token_for(page.text)},
                       files={"file": (filename, data, "text/csv")})


def confirm_form(preview: TestResponse) -> dict[str, str]:
    """The fields the preview's Import button posts."""
    found = re.search(r'<form method="post" action="/contacts/import/confirm"[^>]*>(.*?)</form>', preview.text, re.S)
    assert found is not None, "the preview has no Import button"
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(1))}


def names(db: sqlite3.Connection) -> list[str]:
    return [row["name"] for row in db.execute("SELECT name FROM contact ORDER BY id")]


def preview_rows(preview: TestResponse) -> dict[int, str]:
    """line -> the HTML of its row in the preview table."""
    return {int(line): row for line, row in
            re.findall(r'<tr(?: class="has-error")? data-line="(\d+)">(.*?)</tr>', preview.text, re.S)}


def test_export_streams_every_contact_as_csv(client: Client, db: sqlite3.Connection) -> None:
    with db:
        db.execute("INSERT INTO contact (name, email, birthday, notes) VALUES ('Zoë Quinn', 'zoe@example.org', "
                   "'1990-05-06', 'likes \"quotes\", commas\nand lines')")
        db.execute("INSERT INTO contact (name, phone) VALUES ('adam', '+44 20 7946 0018')")
    reply = client.get("/contacts/export.csv")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="contacts \d{4}-\d\d-\d\d\.csv"', reply.headers["Content-Disposition"])
    assert list(csv.reader(io.StringIO(reply.body.decode("utf-8"), newline=""))) == [
        HEADER.split(","),
        ["adam", "", "+44 20 7946 0018", "", ""],
        ["Zoë Quinn", "zoe@example.org", "", "1990-05-06", 'likes "quotes", commas\nand lines'],
    ]
    page = client.get("/contacts/")
    assert 'href="/contacts/export.csv"' in page.text and 'href="/contacts/import"' in page.text


def test_a_file_with_errors_on_several_lines_is_previewed_with_them_marked_and_nothing_imported(
        client: Client, db: sqlite3.Connection) -> None:
    with db:
        db.execute("INSERT INTO contact (name, email) VALUES ('Ann Lee', 'ann@example.org')")
    data = ("Name,E-mail,Phone,Birthday,Notes\n"
            "Bo Berg,bo@example.org,,1985-04-01,fine\n"
            ",not-an-address,,2999-01-01,\n"
            "Cy,ANN@example.org,,,\n"
            "Di,di@example.org,call me maybe,,\n"
            "Ed,bo@example.org,,,\n").encode("utf-8")
    preview = upload(client, data)
    assert preview.status == 422
    assert "Nothing was imported" in preview.text
    listed = [html.unescape(item) for item in re.findall(r"<li>(Line \d+.*?)</li>", preview.text)]
    assert listed == [
        "Line 3, Name: This field is required.",
        "Line 3, E-mail: Enter an e-mail address like ann@example.org.",
        "Line 3, Birthday: A birthday cannot be in the future.",
        "Line 4, E-mail: Ann Lee already has this e-mail address.",
        "Line 5, Phone: Use digits, spaces and + ( ) - . only, like +44 20 7946 0958.",
        "Line 6, E-mail: Line 2 has this e-mail address too.",
    ]
    rows = preview_rows(preview)
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert 'class="has-error" data-line="3"' in preview.text and 'class="has-error" data-line="2"' not in preview.text
    assert rows[3].count('class="bad"') == 3 and "not-an-address" in rows[3]    # what was in the file, kept
    assert rows[2].count('class="bad"') == 0
    assert 'action="/contacts/import/confirm"' not in preview.text            # no Import button
    assert names(db) == ["Ann Lee"]


def test_a_good_file_is_previewed_then_imported_whole(client: Client, db: sqlite3.Connection) -> None:
    data = "\ufeffName;E-mail;Birthday;Notes\nBo Berg;bo@example.org;1985-04-01;\"two\nlines\"\nCy;;;\n"
    preview = upload(client, data.encode("utf-8"), filename="Adressbuch.csv")
    assert preview.status == 200
    assert "Import 2 contacts" in preview.text and "Adressbuch.csv" in preview.text
    assert names(db) == []                                   # nothing saved by the preview
    reply = client.post("/contacts/import/confirm", data=confirm_form(preview))
    assert reply.status == 303 and reply.location == "/contacts/"
    assert names(db) == ["Bo Berg", "Cy"]
    row = db.execute("SELECT * FROM contact WHERE name = 'Bo Berg'").fetchone()
    assert (row["email"], row["phone"], row["birthday"], row["notes"]) == ("bo@example.org", None, "1985-04-01",
                                                                           "two\nlines")
    listing = client.get(reply.location).text
    assert '<p class="flash success">Imported 2 contacts.</p>' in listing
    assert "Imported 2 contacts." not in client.get(reply.location).text     # shown once


def test_an_import_is_all_or_nothing(client: Client, db: sqlite3.Connection) -> None:
    preview = upload(client, f"{HEADER}\nAl,,,,\nBo,,,,\nCy,,,,\n".encode())
    fields = confirm_form(preview)
    # Something the preview could not know refuses the third row when it is inserted.
    with db:
        db.execute("CREATE TRIGGER no_cy BEFORE INSERT ON contact WHEN NEW.name = 'Cy' "
                   "BEGIN SELECT RAISE(ABORT, 'Cy may not be added'); END")
    reply = client.post("/contacts/import/confirm", data=fields)
    assert reply.status == 422
    assert "Nothing was imported: Cy may not be added." in html.unescape(reply.text)
    assert names(db) == []                                   # Al and Bo were rolled back with Cy
    assert not db.in_transaction


def test_the_confirmed_data_is_checked_again(client: Client, db: sqlite3.Connection) -> None:
    preview = upload(client, f"{HEADER}\nAl,al@example.org,,,\n".encode())
    fields = confirm_form(preview)
    with db:        # meanwhile, in another tab
        db.execute("INSERT INTO contact (name, email) VALUES ('Alice', 'al@example.org')")
    reply = client.post("/contacts/import/confirm", data=fields)
    assert reply.status == 422 and "Alice already has this e-mail address." in reply.text
    assert names(db) == ["Alice"]
    # A token is needed, as for every button.
    assert client.post("/contacts/import/confirm", data={"data": fields["data"]}).status == 403


def test_the_upload_form_refuses_what_is_not_a_csv_file(client: Client, db: sqlite3.Connection) -> None:
    page = client.get("/contacts/import")
    assert 'enctype="multipart/form-data"' in page.text and 'accept=".csv,text/csv"' in page.text
    reply = client.post("/contacts/import", data={"_csrf_token": token_for(page.text)},
                        files={"file": ("photo.png", b"\x89PNG\r\n", "image/png")})
    assert reply.status == 422 and "is not of an accepted type" in reply.text
    reply = upload(client, "name\nZoë\n".encode("cp1252"))
    assert reply.status == 422 and "The file is not UTF-8 text" in reply.text
    assert names(db) == []


def test_export_then_import_gives_the_same_contacts(client: Client, db: sqlite3.Connection) -> None:
    reply = client.post("/sample", data={"_csrf_token": token_for(client.get("/").text, "/sample")})
    assert reply.status == 303
    exported = client.get("/contacts/export.csv").body
    before = [tuple(row) for row in db.execute("SELECT name, email, phone, birthday, notes FROM contact ORDER BY name")]
    with db:
        db.execute("DELETE FROM contact")
    preview = upload(client, exported)
    assert preview.status == 200, preview.text
    assert client.post("/contacts/import/confirm", data=confirm_form(preview)).status == 303
    after = [tuple(row) for row in db.execute("SELECT name, email, phone, birthday, notes FROM contact ORDER BY name")]
    assert after == before and len(after) == 5
