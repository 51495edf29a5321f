"""The datebook example without a browser: kali.testing.Client against the app object, on a temporary database.

Validation and error redisplay, the UNIQUE e-mail SaveError, search, the sorting
whitelist, SQL injection attempts through ?q= and ?sort=, appointments' cross-field
checks, tasks, deletion, CSRF tokens on the hand-made forms, and the sample data.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import re
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from kali.forms import csrf_token
from kali.testing import Client, TestResponse

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "datebook.py"
TODAY = dt.date.today()


@pytest.fixture()
def datebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh import of examples/datebook.py (the server does not start) on its own database file."""
    monkeypatch.setenv("KALI_DATEBOOK_DB", str(tmp_path / "datebook.sqlite3"))
    name = f"datebook_under_test_{id(tmp_path)}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        if hasattr(module, "db"):
            module.db.close()


@pytest.fixture()
def client(datebook: ModuleType) -> Client:
    """A test client for the guarded app, as serve_http runs it (minus the security wrapper)."""
    return Client(datebook.handler)


@pytest.fixture()
def db(datebook: ModuleType) -> sqlite3.Connection:
    """The example's own connection (rows by column name)."""
    connection: sqlite3.Connection = datebook.db
    return connection


_FORM_WITH_TOKEN = re.compile(r'<form\b([^>]*)><input type="hidden" name="_csrf_token" value="([^"]+)">')


def token_for(page: str, action: str | None = None) -> str:
    """The CSRF token of the POST form in `page` whose action is `action` (None: the form without one)."""
    for match in _FORM_WITH_TOKEN.finditer(page):
        found = re.search(r'action="([^"]*)"', match.group(1))
        if (html.unescape(found.group(1)) if found else None) == action:
            return match.group(2)
    raise AssertionError(f"no POST form with action {action!r} and a CSRF token in the page")


def submit(client: Client, url: str, data: dict[str, str], *, page: str | None = None,
           action: str | None = None) -> TestResponse:
    """Load `page` (default: `url`) like a browser, then post `data` with the token of its form."""
    shown = client.get(page or url)
    assert shown.status == 200, shown.text
    return client.post(url, data={**data, "_csrf_token": token_for(shown.text, action)})


def contact(name: str = "Ann Lee", email: str = "", phone: str = "", birthday: str = "",
            notes: str = "") -> dict[str, str]:
    """The fields of the contact form."""
    return {"name": name, "email": email, "phone": phone, "birthday": birthday, "notes": notes}


def add_contact(client: Client, **fields: str) -> int:
    """Add a contact through its form; its id."""
    response = submit(client, "/contacts/new", contact(**fields))
    assert response.status == 303, response.text
    found = re.fullmatch(r"/contacts/(\d+)", response.location or "")
    assert found, response.location
    return int(found.group(1))


def appointment(title: str = "Lunch", day: dt.date = TODAY, starts: str = "12:00", ends: str = "",
                contact_id: str = "", place: str = "", notes: str = "") -> dict[str, str]:
    """The fields of the appointment form."""
    return {"title": title, "day": day.isoformat(), "starts": starts, "ends": ends, "contact_id": contact_id,
            "place": place, "notes": notes}


def error_of(page: str, field: str) -> str | None:
    """The error message shown right after a field, or None."""
    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', page)
    return html.unescape(found.group(1)) if found else None


def value_of(page: str, field: str) -> str | None:
    """The value an <input id=field> shows."""
    found = re.search(rf'<input\b[^>]*\bid="{field}"[^>]*>', page)
    assert found, f"no input #{field}"
    value = re.search(r'\bvalue="([^"]*)"', found.group(0))
    return html.unescape(value.group(1)) if value else None


def names_in_order(page: str) -> list[str]:
    """The contact names of the contact list, top to bottom."""
    return [html.unescape(n) for n in re.findall(r'<a href="/contacts/\d+"><strong>([^<]*)</strong>', page)]


# -- pages ---------------------------------------------------------------------------------

def test_every_page_renders_on_an_empty_datebook(client: Client) -> None:
    for path in ("/", "/contacts/", "/contacts/new", "/appointments/", "/appointments/?when=past",
                 "/appointments/new", "/tasks/", "/tasks/?show=all&sort=title", "/tasks/new",
                 "/static/datebook.css"):
        response = client.get(path)
        assert response.status == 200, (path, response.text)
    assert "Your datebook is empty" in client.get("/").text
    assert "No contacts yet" in client.get("/contacts/").text
    assert "No tasks here" in client.get("/tasks/").text
    assert "No appointments here" in client.get("/appointments/").text


def test_missing_records_are_404_pages(client: Client) -> None:
    for path in ("/contacts/999", "/contacts/abc", "/appointments/999", "/tasks/999", "/contacts/999/delete"):
        response = client.get(path)
        assert response.status == 404, path
    assert "There is no contact number 999" in client.get("/contacts/999").text


def test_saving_a_record_deleted_meanwhile_is_a_404(client: Client, db: sqlite3.Connection) -> None:
    ann = add_contact(client, name="Ann")
    form = client.get(f"/contacts/{ann}").text
    with db:
        db.execute("DELETE FROM contact")
    response = client.post(f"/contacts/{ann}", data={**contact(name="Ann B"), "_csrf_token": token_for(form)})
    assert response.status == 404
    assert "deleted while you were editing it" in response.text
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 0


def test_error_pages_wear_the_layout_with_the_section_of_the_path(client: Client) -> None:
    response = client.get("/contacts/999")
    assert response.status == 404
    page = response.text
    assert "<title>404 Not Found · Datebook</title>" in page
    assert "There is no contact number 999" in page
    # The datebook's bar: every section, the one the path is in marked as current, the search box.
    assert re.search(r'<a href="/contacts/" aria-current="page">Contacts</a>', page)
    assert 'href="/tasks/"' in page and 'role="search"' in page
    # The router's own 404 and 405, and an HTTPError's 403, wear it too.
    nowhere = client.get("/nowhere")
    assert nowhere.status == 404 and "· Datebook</title>" in nowhere.text and 'aria-label="Sections"' in nowhere.text
    refused = client.put("/tasks/")
    assert refused.status == 405 and "405 Method Not Allowed · Datebook" in refused.text
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
    token_less = client.post("/tasks/1/delete", data={})
    assert token_less.status == 403 and "security token" in token_less.text and "· Datebook" in token_less.text


def test_errors_are_json_for_a_client_that_asks_for_json(client: Client) -> None:
    response = client.get("/contacts/999", headers={"Accept": "application/json"})
    assert response.status == 404 and response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"status": 404, "reason": "Not Found",
                                         "message": "There is no contact number 999; it may have been deleted."}}


# -- contacts: validation, saving, SaveError -------------------------------------------------

def test_bad_contact_shows_every_error_next_to_its_field_and_keeps_the_input(client: Client,
                                                                             db: sqlite3.Connection) -> None:
    typed = contact(name="   ", email="ann@nowhere", phone="call me", birthday="2999-01-01",
                    notes='Line one\n<b>"two"</b>')
    response = submit(client, "/contacts/new", typed)
    assert response.status == 422
    page = response.text
    assert error_of(page, "name") == "This field is required."
    assert error_of(page, "email") == "Enter an e-mail address like ann@example.org."
    assert error_of(page, "phone") == "Use digits, spaces and + ( ) - . only, like +44 20 7946 0958."
    assert error_of(page, "birthday") == "A birthday cannot be in the future."
    # What was typed comes back exactly, escaped.
    assert value_of(page, "name") == "   "
    assert value_of(page, "email") == "ann@nowhere"
    assert value_of(page, "phone") == "call me"
    assert value_of(page, "birthday") == "2999-01-01"
    assert "Line one\n&lt;b&gt;&quot;two&quot;&lt;/b&gt;</textarea>" in page
    assert 'aria-invalid="true"' in page
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 0

    # An impossible date and one before 1900 get their own messages.
    assert error_of(submit(client, "/contacts/new", contact(birthday="2023-02-30")).text,
                    "birthday") == "2023-02-30 is not a date in the calendar."
    assert error_of(submit(client, "/contacts/new", contact(birthday="1850-01-01")).text,
                    "birthday") == "Enter a date on or after 1900-01-01."


def test_good_contact_is_saved_and_shown(client: Client, db: sqlite3.Connection) -> None:
    contact_id = add_contact(client, name="  Zoë O'Hara ", email="zoe@example.org", phone="+33 1 23 45 67 89",
                             birthday="1990-05-17", notes="Met in Lyon.")
    row = db.execute("SELECT * FROM contact WHERE id = ?", (contact_id,)).fetchone()
    assert (row["name"], row["email"], row["phone"], row["birthday"], row["notes"]) == (
        "Zoë O'Hara", "zoe@example.org", "+33 1 23 45 67 89", "1990-05-17", "Met in Lyon.")
    page = client.get(f"/contacts/{contact_id}").text
    # The flash message that the redirect carried shows once, in the layout.
    assert '<p class="flash success">Contact saved.</p>' in page
    assert "Contact saved." not in client.get(f"/contacts/{contact_id}").text
    assert value_of(page, "name") == "Zoë O'Hara"
    assert value_of(page, "birthday") == "1990-05-17"
    # Blank optional fields are NULL, not empty text (so UNIQUE allows many contacts without e-mail).
    other = add_contact(client, name="Bob")
    assert db.execute("SELECT email, phone, birthday FROM contact WHERE id = ?", (other,)).fetchone()[:] == (
        None, None, None)
    assert add_contact(client, name="Carol") != other


def test_duplicate_email_is_a_save_error_next_to_the_email_field(client: Client, db: sqlite3.Connection) -> None:
    ann = add_contact(client, name="Ann Lee", email="ann@example.org")
    response = submit(client, "/contacts/new", contact(name="Annie", email="ANN@example.org", phone="123 456"))
    assert response.status == 422
    assert error_of(response.text, "email") == "Ann Lee already has this e-mail address."
    assert value_of(response.text, "name") == "Annie"
    assert value_of(response.text, "phone") == "123 456"
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 1

    # Editing another contact to take Ann's address is refused the same way; Ann's own edit is fine.
    bob = add_contact(client, name="Bob", email="bob@example.org")
    response = submit(client, f"/contacts/{bob}", contact(name="Bob", email="ann@example.org"))
    assert response.status == 422
    assert error_of(response.text, "email") == "Ann Lee already has this e-mail address."
    assert db.execute("SELECT email FROM contact WHERE id = ?", (bob,)).fetchone()[0] == "bob@example.org"
    response = submit(client, f"/contacts/{ann}", contact(name="Ann Lee-Smith", email="ann@example.org"))
    assert response.status == 303
    assert db.execute("SELECT name FROM contact WHERE id = ?", (ann,)).fetchone()[0] == "Ann Lee-Smith"
    # Nothing was left open for the guard to roll back.
    assert not db.in_transaction


def test_a_form_without_its_token_saves_nothing(client: Client, db: sqlite3.Connection) -> None:
    response = client.post("/contacts/new", data=contact(name="Mallory"))
    assert response.status == 403
    assert value_of(response.text, "name") == "Mallory"
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 0


# -- search and sorting --------------------------------------------------------------------------

@pytest.fixture()
def people(client: Client) -> dict[str, int]:
    """Four contacts to search and sort."""
    return {
        "Ann": add_contact(client, name="Ann Lee", email="ann@work.example", phone="+1 555 0100",
                           birthday="1980-12-01", notes="Tennis partner"),
        "bob": add_contact(client, name="bob Marsh", email="zed@home.example", birthday="1975-03-15"),
        "Cy": add_contact(client, name="Cy Twombly", phone="+44 20 7946 0000", notes="Owes me 50% of lunch_money"),
        "Dee": add_contact(client, name="Dee Lee", email="dee@work.example", notes="tennis coach"),
    }


@pytest.mark.parametrize("q, expected", [
    ("lee", ["Ann Lee", "Dee Lee"]),                  # name, any case
    ("WORK.example", ["Ann Lee", "Dee Lee"]),         # e-mail
    ("7946", ["Cy Twombly"]),                         # phone
    ("tennis", ["Ann Lee", "Dee Lee"]),               # notes
    ("tennis coach", ["Dee Lee"]),                    # every word must match somewhere
    ("lee partner", ["Ann Lee"]),                     # ... in any of the columns
    ("50%", ["Cy Twombly"]),                          # LIKE wildcards are literal text
    ("lunch_", ["Cy Twombly"]),
    ("%", ["Cy Twombly"]),
    ("_", ["Cy Twombly"]),
])
def test_search(client: Client, people: dict[str, int], q: str, expected: list[str]) -> None:
    response = client.get("/contacts/", query={"q": q})
    assert response.status == 200
    assert names_in_order(response.text) == expected
    assert f"{len(expected)} of 4" in response.text


def test_search_without_results_says_so(client: Client, people: dict[str, int]) -> None:
    page = client.get("/contacts/", query={"q": "nobody <here>"}).text
    assert names_in_order(page) == []
    assert "No contact matches “nobody &lt;here&gt;”" in page


@pytest.mark.parametrize("sort, expected", [
    ("name", ["Ann Lee", "bob Marsh", "Cy Twombly", "Dee Lee"]),        # case-insensitive
    ("-name", ["Dee Lee", "Cy Twombly", "bob Marsh", "Ann Lee"]),
    ("email", ["Ann Lee", "Dee Lee", "bob Marsh", "Cy Twombly"]),       # no e-mail: last
    ("-email", ["bob Marsh", "Dee Lee", "Ann Lee", "Cy Twombly"]),      # ... either way
    ("birthday", ["bob Marsh", "Ann Lee", "Cy Twombly", "Dee Lee"]),    # by month and day
    ("added", ["Ann Lee", "bob Marsh", "Cy Twombly", "Dee Lee"]),
    ("-added", ["Dee Lee", "Cy Twombly", "bob Marsh", "Ann Lee"]),
])
def test_sorting(client: Client, people: dict[str, int], sort: str, expected: list[str]) -> None:
    response = client.get("/contacts/", query={"sort": sort})
    assert response.status == 200
    assert names_in_order(response.text) == expected


def test_sort_links_reverse_the_current_column_and_keep_the_search(client: Client, people: dict[str, int]) -> None:
    page = client.get("/contacts/", query={"q": "lee", "sort": "name"}).text
    assert '<th aria-sort="ascending"><a href="?q=lee&amp;sort=-name">Name</a>' in page
    assert '<a href="?q=lee&amp;sort=email">E-mail</a>' in page
    page = client.get("/contacts/", query={"sort": "-name"}).text
    assert '<th aria-sort="descending"><a href="?sort=name">Name</a>' in page


@pytest.mark.parametrize("sort", ["bogus", "name; DROP TABLE contact", "name--", "id", "NAME", "name DESC"])
def test_sort_outside_the_whitelist_is_a_400(client: Client, db: sqlite3.Connection, people: dict[str, int],
                                             sort: str) -> None:
    response = client.get("/contacts/", query={"sort": sort})
    assert response.status == 400
    assert "sort" in response.text and "must be one of" in response.text
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 4


@pytest.mark.parametrize("q", ["'; DROP TABLE contact; --", "' OR 1=1 --", "\" OR \"\"=\"", "\\", "x' ESCAPE 'x",
                               "') UNION SELECT sql, 1, 1, 1, 1, 1, 1, 1, 1 FROM sqlite_master --"])
def test_sql_injection_through_the_search_is_harmless(client: Client, db: sqlite3.Connection,
                                                      people: dict[str, int], q: str) -> None:
    response = client.get("/contacts/", query={"q": q})
    assert response.status == 200
    assert names_in_order(response.text) == []
    assert "CREATE TABLE" not in response.text
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 4


# -- appointments ----------------------------------------------------------------------------------

def test_appointment_checks(client: Client, db: sqlite3.Connection) -> None:
    page = submit(client, "/appointments/new", appointment(title="", starts="25:00", ends="9am")).text
    assert error_of(page, "title") == "This field is required."
    assert error_of(page, "starts") == "Enter a time as HH:MM, like 09:30."
    assert error_of(page, "ends") == "Enter a time as HH:MM, like 09:30."
    assert value_of(page, "starts") == "25:00" and value_of(page, "ends") == "9am"

    # Cross-field checks run once every field is valid on its own.
    response = submit(client, "/appointments/new", appointment(starts="14:00", ends="13:30"))
    assert response.status == 422
    assert error_of(response.text, "ends") == "The end must be after the start (14:00)."
    # ...and together with the other fields' errors: one round shows both.
    page = submit(client, "/appointments/new", appointment(title="", starts="14:00", ends="13:30")).text
    assert error_of(page, "title") == "This field is required."
    assert error_of(page, "ends") == "The end must be after the start (14:00)."

    assert submit(client, "/appointments/new", appointment(title="Dentist", starts="9:30", ends="10:30")).status == 303
    assert db.execute("SELECT starts, ends FROM appointment").fetchone()[:] == ("09:30", "10:30")
    response = submit(client, "/appointments/new", appointment(title="Call", starts="10:00"))
    assert response.status == 422
    assert error_of(response.text, "starts") == "This overlaps “Dentist” (09:30–10:30) on that day."
    # Right after it, or on another day, is fine; so is editing the appointment itself.
    assert submit(client, "/appointments/new", appointment(title="Call", starts="10:30")).status == 303
    assert submit(client, "/appointments/new", appointment(
        title="Call", day=TODAY + dt.timedelta(days=1), starts="10:00")).status == 303
    first = db.execute("SELECT id FROM appointment WHERE title = 'Dentist'").fetchone()[0]
    assert submit(client, f"/appointments/{first}", appointment(title="Dentist", starts="09:00",
                                                                 ends="10:15")).status == 303
    assert db.execute("SELECT count(*) FROM appointment").fetchone()[0] == 3


def test_appointment_with_a_contact_shows_on_the_dashboard_and_their_page(client: Client) -> None:
    ann = add_contact(client, name="Ann Lee")
    form = client.get(f"/appointments/new?contact={ann}").text
    assert f'<option value="{ann}" selected>Ann Lee</option>' in form
    response = submit(client, "/appointments/new", appointment(title="Lunch at Rosa's", starts="12:30",
                                                               contact_id=str(ann)),
                      page=f"/appointments/new?contact={ann}")
    assert response.status == 303
    dashboard = client.get("/").text
    today_part = dashboard.split('id="today"', 1)[1].split("</ol>", 1)[0]
    assert "Lunch at Rosa&#39;s" in today_part and "Ann Lee" in today_part
    assert "Lunch at Rosa&#39;s" in client.get(f"/contacts/{ann}").text
    # A contact id that is not an option is refused, not stored.
    response = submit(client, "/appointments/new", appointment(title="Ghost", starts="18:00", contact_id="999"))
    assert response.status == 422
    assert error_of(response.text, "contact_id") == "'999' is not one of the options; choose another."


# -- tasks --------------------------------------------------------------------------------------

def test_task_flow(client: Client, db: sqlite3.Connection) -> None:
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    response = submit(client, "/tasks/new", {"title": "File taxes", "due": yesterday, "priority": "High",
                                             "contact_id": "", "notes": ""})
    assert response.status == 303 and response.location == "/tasks/"
    response = submit(client, "/tasks/new", {"title": "", "due": "soon", "priority": "Urgent",
                                             "contact_id": "", "notes": ""})
    assert response.status == 422
    assert error_of(response.text, "title") == "This field is required."
    assert error_of(response.text, "due") == "Enter a date as YYYY-MM-DD, like 2024-03-31."
    assert error_of(response.text, "priority") == "'Urgent' is not one of the options; choose another."
    task = db.execute("SELECT * FROM task").fetchone()
    assert (task["title"], task["due"], task["priority"], task["done"]) == ("File taxes", yesterday, 2, 0)

    dashboard = client.get("/").text
    assert 'class="task overdue"' in dashboard and "File taxes" in dashboard
    assert '<span class="prio prio-2">High</span>' in dashboard

    # The Done button posts with its page's token, then goes back to the page it was on.
    action = f"/tasks/{task['id']}/done"
    done = client.post(action, data={"back": "/", "_csrf_token": token_for(dashboard, action)})
    assert done.status == 303 and done.location == "/"
    assert db.execute("SELECT done FROM task").fetchone()[0] == 1
    assert "File taxes" not in client.get("/").text
    assert "File taxes" in client.get("/tasks/?show=done").text
    # ... and undone from the task list.
    page = client.get("/tasks/?show=done").text
    undo = client.post(action, data={"done": "0", "back": "/tasks/?show=done",
                                     "_csrf_token": token_for(page, action)})
    assert undo.status == 303 and undo.location == "/tasks/?show=done"
    assert db.execute("SELECT done FROM task").fetchone()[0] == 0


def test_hand_made_forms_check_their_token_and_keep_redirects_local(client: Client, db: sqlite3.Connection) -> None:
    submit(client, "/tasks/new", {"title": "Water plants", "due": "", "priority": "Low", "contact_id": "",
                                  "notes": ""})
    task_id = db.execute("SELECT id FROM task").fetchone()[0]
    action = f"/tasks/{task_id}/done"
    refused = client.post(action, data={"back": "/"})
    assert refused.status == 403 and "security token" in refused.text
    refused = client.post(action, data={"_csrf_token": csrf_token("/sample")})
    assert refused.status == 403                     # another form's token
    assert db.execute("SELECT done FROM task").fetchone()[0] == 0
    token = token_for(client.get("/tasks/").text, action)
    for back in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "\t//evil.example",
                 "/ok\r\nSet-Cookie: x=1", "javascript:alert(1)"):
        response = client.post(action, data={"back": back, "_csrf_token": token})
        assert response.status == 303 and response.location == "/tasks/", back
    assert client.post("/tasks/999/done", data={"_csrf_token": token}).status in (403, 404)


def test_edit_and_delete_a_task(client: Client, db: sqlite3.Connection) -> None:
    submit(client, "/tasks/new", {"title": "Draft", "due": "", "priority": "Normal", "contact_id": "", "notes": ""})
    task_id = db.execute("SELECT id FROM task").fetchone()[0]
    page = client.get(f"/tasks/{task_id}").text
    assert '<option value="Normal" selected>Normal</option>' in page
    response = submit(client, f"/tasks/{task_id}", {"title": "Final", "due": TODAY.isoformat(), "priority": "Low",
                                                    "contact_id": "", "notes": "n", "done": "on"})
    assert response.status == 303
    assert db.execute("SELECT title, due, priority, done FROM task").fetchone()[:] == (
        "Final", TODAY.isoformat(), 0, 1)
    action = f"/tasks/{task_id}/delete"
    response = client.post(action, data={"_csrf_token": token_for(client.get(f"/tasks/{task_id}").text, action)})
    assert response.status == 303
    assert db.execute("SELECT count(*) FROM task").fetchone()[0] == 0


# -- deleting a contact ----------------------------------------------------------------------------

def test_deleting_a_contact_keeps_their_appointments_and_tasks(client: Client, db: sqlite3.Connection) -> None:
    ann = add_contact(client, name="Ann Lee")
    submit(client, "/appointments/new", appointment(title="Lunch", contact_id=str(ann)))
    submit(client, "/tasks/new", {"title": "Call Ann", "due": "", "priority": "Normal", "contact_id": str(ann),
                                  "notes": ""})
    confirm = client.get(f"/contacts/{ann}/delete")
    assert confirm.status == 200
    assert "Their 1 appointment will stay in the agenda" in confirm.text
    assert "Their 1 task will stay on the task list" in confirm.text
    response = client.post(f"/contacts/{ann}/delete", data={"_csrf_token": token_for(confirm.text)})
    assert response.status == 303 and response.location == "/contacts/"
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 0
    assert db.execute("SELECT contact_id FROM appointment").fetchone()[0] is None
    assert db.execute("SELECT contact_id FROM task").fetchone()[0] is None
    assert client.get(f"/contacts/{ann}").status == 404


# -- the dashboard and sample data ----------------------------------------------------------------

def test_sample_data_fills_an_empty_datebook_once(client: Client, db: sqlite3.Connection) -> None:
    page = client.get("/").text
    response = client.post("/sample", data={"_csrf_token": token_for(page, "/sample")})
    assert response.status == 303
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 5
    dashboard = client.get("/").text
    assert "Your datebook is empty" not in dashboard
    assert "Coffee and the Bernoulli notes" in dashboard.split('id="today"', 1)[1]
    assert "Ada Lovelace</a> turns 36" in dashboard
    again = client.post("/sample", data={"_csrf_token": token_for(page, "/sample")})
    assert again.status == 409
    assert db.execute("SELECT count(*) FROM contact").fetchone()[0] == 5
    for path in ("/contacts/", "/appointments/?when=all", "/tasks/?show=all", "/contacts/1", "/appointments/1",
                 "/tasks/1", "/contacts/1/delete"):
        assert client.get(path).status == 200, path


@pytest.mark.parametrize("born, today, expected", [
    ("1990-06-10", dt.date(2024, 6, 1), (dt.date(2024, 6, 10), 34)),
    ("1990-05-31", dt.date(2024, 6, 1), None),                          # just passed: next year is too far
    ("1990-06-01", dt.date(2024, 6, 1), (dt.date(2024, 6, 1), 34)),     # today
    ("1990-01-05", dt.date(2024, 12, 20), (dt.date(2025, 1, 5), 35)),   # over new year
    ("2000-02-29", dt.date(2025, 2, 20), (dt.date(2025, 3, 1), 25)),    # no 29 February this year
])
def test_upcoming_birthdays(datebook: ModuleType, monkeypatch: pytest.MonkeyPatch, born: str, today: dt.date,
                            expected: Any) -> None:
    with datebook.db:
        datebook.db.execute("INSERT INTO contact (name, birthday) VALUES ('Kim', ?)", (born,))
    monkeypatch.setattr(datebook, "today", lambda: today)
    found = [(b["day"], b["age"]) for b in datebook.upcoming_birthdays(30)]
    assert found == ([expected] if expected else [])


@pytest.mark.parametrize("text, expected", [("9:30", "09:30"), (" 09:05 ", "09:05"), ("23:59:00", "23:59"),
                                            ("00:00", "00:00")])
def test_time_lens_accepts(datebook: ModuleType, text: str, expected: str) -> None:
    assert datebook.TIME.to_native(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9", "9:3", "09:60", "0930", "9:30pm", "-1:00", "09:30:15", "١٢:٠٠"])
def test_time_lens_refuses(datebook: ModuleType, text: str) -> None:
    from kali.forms import ValidationError
    with pytest.raises(ValidationError):
        datebook.TIME.to_native(text)
