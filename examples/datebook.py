"""The flagship: contacts, appointments and tasks in SQLite, with forms, search and a dashboard.

A small personal organiser, and a tour of most of kali in one readable file: a
Router with wildcards and typed query parameters, Formlets (lenses, elements,
cross-field checks, a SaveError from a UNIQUE constraint) that show every error
next to its field and keep what was typed, templates in templates/datebook/ (a
layout every page extends, loops with an "otherwise", conditionals,
formatters), a StaticFolder for the stylesheets, and one SQLite connection
watched by the transaction guard.

Run it with ./demo.sh datebook (options: --port N, --no-browser). The database
is kali-datebook.sqlite3 in your per-user data folder (~/.local/share/kali-datebook/
on Linux) unless the environment variable KALI_DATEBOOK_DB names another file.
"""

# How to read this file: top to bottom. First the database and the templates, then the
# little helpers every page uses, then one part per kind of record (contacts,
# appointments, tasks), then the dashboard, and at the very bottom the three lines that
# serve it all.

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import (HTTPError, Request, Response, Router, StaticFolder, TemplateFolder, error_pages,  # noqa: E402
                  guard, open_database, serve_http)
from kali.forms import (CSRF_FIELD, DATE, FORM_ERRORS, REQUIRED, STRING, Checkbox, ConvertedValues,  # noqa: E402
                        CSVTable, Entry, EnumLens, FileField, Formlet, Lens, Memo, Pick, SaveError, ValidationError,
                        add_csrf_tokens, nullable, read_csv, verify_csrf_token)
from kali.csvio import csv_chunks  # noqa: E402
from kali.flash import flash, flashed_messages  # noqa: E402
from kali.iolist import to_bytes  # noqa: E402


# -- the database ------------------------------------------------------------------------

# One connection for the whole app: kali runs every handler on one thread, so there is no
# pool and no lock. open_database() turns on WAL, synchronous=FULL and foreign keys, and
# runs datebook.sql the first time (when the file has no tables). Reads need nothing
# special; every write below sits in a `with db:` block (one BEGIN IMMEDIATE ... COMMIT),
# and guard(app, db) at the bottom rolls back, and reports, any transaction a handler
# forgets to finish.
db = open_database(os.environ.get("KALI_DATEBOOK_DB") or None, app_name="kali-datebook",
                   schema=HERE / "datebook.sql")

#: Task priorities; the database stores the offset (0, 1, 2), which is what an EnumLens gives.
PRIORITIES = ["Low", "Normal", "High"]


def pinned_day() -> dt.date | None:
    """The day set by KALI_DATEBOOK_TODAY=YYYY-MM-DD, which demos and the README's screenshot use to pretend."""
    text = os.environ.get("KALI_DATEBOOK_TODAY", "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"KALI_DATEBOOK_TODAY must be a date like 2025-06-03, not {text!r}") from None


PINNED_DAY = pinned_day()


def today() -> dt.date:
    """Today's date here, or the pinned day (asked each time: the app may run past midnight)."""
    return PINNED_DAY or dt.date.today()


def as_date(value: dt.date | str) -> dt.date:
    """A date from a date or the ISO text SQLite keeps."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def sql_values(native: dict[str, Any]) -> dict[str, Any]:
    """A Formlet's values ready for SQLite: dates as ISO text (sqlite3's own date adapter is deprecated)."""
    return {key: value.isoformat() if isinstance(value, dt.date) else value for key, value in native.items()}


# -- templates ---------------------------------------------------------------------------

# Formatters are what `{value:name}` calls in a template. They run only for values that are
# not None, so a task without a due date simply shows nothing.

def short_day(value: dt.date | str) -> str:
    """'Tue 4 Jun' (with the year when it is not this year)."""
    day = as_date(value)
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == today().year else f"{text} {day.year}"


def long_day(value: dt.date | str) -> str:
    """'Tuesday 4 June 2024'."""
    day = as_date(value)
    return f"{day:%A} {day.day} {day:%B %Y}"


def relative_day(value: dt.date | str) -> str:
    """'today', 'tomorrow', 'in 3 days', '2 days ago'; further away, the date itself."""
    days = (as_date(value) - today()).days
    named = {0: "today", 1: "tomorrow", -1: "yesterday"}
    if days in named:
        return named[days]
    if 1 < days < 7:
        return f"in {days} days"
    if -7 < days < -1:
        return f"{-days} days ago"
    return short_day(value)


def priority_label(value: int) -> str:
    """The name of a stored priority."""
    return PRIORITIES[value]


# Every page is a .tpl file in templates/datebook/; they extend layout.tpl. The folder
# re-reads a file when it changes, so editing a template shows up on the next reload.
templates = TemplateFolder(HERE.parent / "templates" / "datebook", formatters={
    "short_day": short_day, "long_day": long_day, "when": relative_day, "priority": priority_label,
})

#: The sections in the top bar: (link, label).
SECTIONS = [("/", "Dashboard"), ("/contacts/", "Contacts"), ("/appointments/", "Appointments"),
            ("/tasks/", "Tasks")]


def layout(request: Request, title: str) -> dict[str, Any]:
    """The parameters layout.tpl needs on every page: title, the section bar, the search box, flash messages."""
    try:
        path = request.path
        search = request.GET.get("q", "") if path == "/contacts/" else ""
    except HTTPError:
        # A path or query that is not UTF-8 is a 400 page, which is drawn with this layout too.
        path = search = ""
    nav = [{"href": href, "label": label,
            "current": path == href if href == "/" else path.startswith(href)}
           for href, label in SECTIONS]
    return {"title": title, "nav": nav,
            # The search box in the bar shows the search while one is on screen.
            "search": search,
            # What the last action did ("Contact saved."), flashed by the handler that redirected
            # here; read once, so a reload does not show it again.
            "flashes": flashed_messages(request),
            # Where a little form (Done, Delete) should send the browser back to afterwards.
            "here": request.target}


def render(request: Request, name: str, title: str, **params: Any) -> Response:
    """The page templates/datebook/NAME.tpl, with a CSRF token added to each of its POST forms.

    Formlets add tokens to the forms they display by themselves; the other pages with
    forms (Done and Delete buttons) get theirs here, and their handlers check them with
    `check_token`. serve_http() also refuses POSTs that other sites make, so this is a
    second lock on the same door, one that still holds under a WSGI server.
    """
    page = to_bytes(templates(name, **layout(request, title), **params)).decode("utf-8")
    return Response(add_csrf_tokens(page, request))


def check_token(request: Request) -> None:
    """Refuse a POST without this page's CSRF token (a 403 page that says what to do)."""
    if not verify_csrf_token(request.POST.get(CSRF_FIELD), request.path):
        raise HTTPError(403, "This button's security token is missing or out of date (the app was "
                             "probably restarted after the page was loaded), so nothing was changed. "
                             "Go back, reload the page and try again.")


def plural(count: int, one: str, many: str) -> str:
    """'1 task', '3 tasks'."""
    return f"{count} {one if count == 1 else many}"


def local_target(target: str, fallback: str) -> str:
    """`target` if it is a path on this site, else `fallback`: a form's "back" field must not send the browser away."""
    # Browsers read '\\' as '/' and drop tabs and newlines, so '/\\evil.example' and
    # '/\t/evil.example' would both lead to another site: only printable ASCII passes.
    if re.fullmatch(r"/(?![/\\])[!-~]*", target) and "\\" not in target:
        return target
    return fallback


def find(table: Literal["contact", "appointment", "task"], record_id: int) -> sqlite3.Row:
    """One row by id, or a 404 page naming what is missing."""
    # `table` comes from this file, never from a request (the Literal says so to a type checker).
    row: sqlite3.Row | None = db.execute(f"SELECT * FROM {table} WHERE id = ?", (record_id,)).fetchone()
    if row is None:
        raise HTTPError(404, f"There is no {table} number {record_id}; it may have been deleted.")
    return row


def updated(cursor: sqlite3.Cursor, table: str, record_id: int) -> None:
    """A 404 page when an UPDATE found no row: it was deleted meanwhile (in another tab, say)."""
    # Raised inside `with db:`, so the block rolls back; there was nothing to undo anyway.
    if cursor.rowcount == 0:
        raise HTTPError(404, f"There is no {table} number {record_id}; it was deleted while you were editing it, "
                             "so your changes were not saved.")


def contact_choices() -> list[tuple[int, str]]:
    """(id, name) of every contact, for the "with whom" pickers; read fresh for every form."""
    return [(row["id"], row["name"])
            for row in db.execute("SELECT id, name FROM contact ORDER BY name COLLATE NOCASE, id")]


def contact_from_query(request: Request) -> int | None:
    """The contact named by ?contact=ID if it exists (links like "New appointment with Ann")."""
    text = request.GET.get("contact", "")
    if text.isascii() and text.isdigit():
        row = db.execute("SELECT id FROM contact WHERE id = ?", (int(text),)).fetchone()
        if row is not None:
            return int(row["id"])
    return None


# The app is a Router: a handler that sends each request to what is published at its path.
# The whole of it is wrapped by guard() at the bottom of the file.
app = Router()
app.delegate_folder("/static/", StaticFolder(HERE / "static"))


# -- lenses: how the text of a field becomes a value ---------------------------------------

# kali has lenses for text, numbers, dates, times and choices. A lens of your own can be one
# function: parse the text, or raise ValidationError with a message for the user. This TIME
# replaces kali.forms.TIME (which gives a datetime.time) because the datebook stores, compares
# and shows times as 'HH:MM' text, and it forgives '9:30' typed by hand.

def parse_time(text: str) -> str:
    """'9:30' or '09:30' (or '09:30:00', which some browsers send) -> '09:30'."""
    value = text.strip()
    if not value:
        raise ValidationError("This field is required.")
    # [0-9], not \d: \d also matches other scripts' digits, which SQLite would not sort.
    found = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::00)?", value)
    if found is None:
        raise ValidationError("Enter a time as HH:MM, like 09:30.")
    return f"{int(found[1]):02d}:{found[2]}"


TIME = Lens(to_native=parse_time)

# `.check(...)` adds a test after a lens: a regular expression the whole text must match,
# or a function of the converted value. nullable() makes a blank field None (NULL).
EMAIL = nullable(STRING(max_length=254).check(
    r"[^@\s]+@[^@\s]+\.[^@\s.]+", "Enter an e-mail address like ann@example.org."))
PHONE = nullable(STRING(max_length=40).check(
    r"\+?\(?[0-9][0-9 ()./-]{2,}", "Use digits, spaces and + ( ) - . only, like +44 20 7946 0958."))
BIRTHDAY = nullable(DATE(min=dt.date(1900, 1, 1)).check(
    lambda day: day <= today(), "A birthday cannot be in the future."))


# == contacts ==============================================================================

#: How the contact list may be sorted: the only texts ?sort= accepts. The router refuses
#: anything else with a 400 page, so text from the URL never reaches the SQL below.
ContactSort = Literal["name", "-name", "email", "-email", "phone", "-phone",
                      "birthday", "-birthday", "added", "-added"]

#: The ORDER BY clause for each sort key (blanks last either way, then by name).
CONTACT_ORDER: dict[str, str] = {
    "name": "name COLLATE NOCASE, id",
    "-name": "name COLLATE NOCASE DESC, id DESC",
    "email": "email IS NULL, email COLLATE NOCASE, name COLLATE NOCASE",
    "-email": "email IS NULL, email COLLATE NOCASE DESC, name COLLATE NOCASE",
    "phone": "phone IS NULL, phone, name COLLATE NOCASE",
    "-phone": "phone IS NULL, phone DESC, name COLLATE NOCASE",
    # By month and day: the order birthdays come round in a year.
    "birthday": "birthday IS NULL, strftime('%m-%d', birthday), name COLLATE NOCASE",
    "-birthday": "birthday IS NULL, strftime('%m-%d', birthday) DESC, name COLLATE NOCASE",
    "added": "created, id",
    "-added": "created DESC, id DESC",
}

#: The sortable columns of the contact list: (sort key, heading).
CONTACT_COLUMNS = [("name", "Name"), ("email", "E-mail"), ("phone", "Phone"), ("birthday", "Birthday"),
                   ("added", "Added")]


def like_pattern(word: str) -> str:
    """A LIKE pattern finding `word` anywhere, with LIKE's own wildcards (% and _) taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_contacts(q: str, sort: str) -> list[sqlite3.Row]:
    """Contacts whose name, e-mail, phone or notes contain every word of `q`, in `sort` order."""
    # Each word adds the same fixed condition with its own numbered parameter; the words
    # themselves travel only as parameters, never as SQL text.
    words = q.split()[:10]
    params: dict[str, Any] = {"today": today().isoformat()}
    conditions = []
    for n, word in enumerate(words):
        params[f"w{n}"] = like_pattern(word)
        conditions.append(f"(name LIKE :w{n} ESCAPE '\\' OR email LIKE :w{n} ESCAPE '\\' "
                          f"OR phone LIKE :w{n} ESCAPE '\\' OR notes LIKE :w{n} ESCAPE '\\')")
    where = " AND ".join(conditions) or "1"
    return db.execute(
        "SELECT id, name, email, phone, birthday, notes, date(created, 'localtime') AS added, "
        "  (SELECT min(day) FROM appointment WHERE contact_id = contact.id AND day >= :today) AS next_day, "
        "  (SELECT count(*) FROM task WHERE contact_id = contact.id AND NOT done) AS open_tasks "
        f"FROM contact WHERE {where} ORDER BY {CONTACT_ORDER[sort]}", params).fetchall()


@app.function("/contacts/")
def contact_list(request: Request, q: str = "", sort: ContactSort = "name") -> Response:
    """The contacts, searched by ?q= and sorted by ?sort= (a leading '-' reverses)."""
    # Wildcards and query fields arrive as typed arguments: the router converted and checked
    # them against the annotations (`sort` can only be one of ContactSort's texts).
    rows = search_contacts(q, sort)
    columns = []
    for key, heading in CONTACT_COLUMNS:
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # A click on the current column reverses it; on another column sorts by it.
        next_sort = ("-" + key if not descending else key) if current else key
        query = {"q": q, "sort": next_sort} if q else {"sort": next_sort}
        columns.append({"heading": heading, "href": "?" + urlencode(query),
                        "sort": ("descending" if descending else "ascending") if current else "none",
                        "arrow": ("▼" if descending else "▲") if current else ""})
    total = db.execute("SELECT count(*) FROM contact").fetchone()[0]
    return render(request, "contacts", "Contacts", contacts=rows, columns=columns, q=q, sort=sort,
                  count=f"{len(rows)} of {total}" if q else str(total))


class ContactForm(Formlet):
    """Add a contact (/contacts/new) or edit one (/contacts/ID, which also lists their appointments and tasks)."""

    def __init__(self, contact_id: int | None = None) -> None:
        # A Formlet is a set of named elements; each element has a lens that converts its
        # text, and HTML attributes. The names are the columns they are saved to. (The
        # labels are in the template, next to the fields: see templates/datebook/contact.tpl.)
        super().__init__({
            "name": Entry(lens=REQUIRED(max_length=120), autocomplete="off"),
            "email": Entry("email", lens=EMAIL),
            "phone": Entry("tel", lens=PHONE),
            "birthday": Entry("date", lens=BIRTHDAY),
            "notes": Memo(rows=4),
        })
        self.contact_id = contact_id

    def get_native(self, request: Request) -> Any:
        """The stored contact (a 404 if there is none), or nothing for a new one."""
        return None if self.contact_id is None else find("contact", self.contact_id)

    def save(self, native: dict[str, Any], request: Request) -> Response:
        """Insert or update; an e-mail address another contact has is the user's to fix."""
        values = sql_values(native)
        try:
            with db:
                if self.contact_id is None:
                    cursor = db.execute("INSERT INTO contact (name, email, phone, birthday, notes) "
                                        "VALUES (:name, :email, :phone, :birthday, :notes)", values)
                    self.contact_id = cursor.lastrowid
                else:
                    updated(db.execute("UPDATE contact SET name = :name, email = :email, phone = :phone, "
                                       "birthday = :birthday, notes = :notes WHERE id = :id",
                                       dict(values, id=self.contact_id)), "contact", self.contact_id)
        except sqlite3.IntegrityError as exc:
            # The UNIQUE constraint is the truth (checking first could race another program
            # writing the file); the failed block was rolled back by `with db:`.
            if "contact.email" not in str(exc):
                raise
            owner = db.execute("SELECT name FROM contact WHERE email = ?", (values["email"],)).fetchone()
            who = owner["name"] if owner is not None else "Another contact"
            # SaveError shows the form again, with this message next to the e-mail field.
            raise SaveError({"email": f"{who} already has this e-mail address."}) from None
        # The contact's page says so once, after the redirect: flash() carries the message there in
        # a signed cookie, and the page's layout shows it (a reload does not show it again).
        return flash(Response.redirect(app.url_for(ContactForm, self.contact_id)), "Contact saved.", "success")

    def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
        """The contact page: the form (each field's HTML carries its error), and what links to the contact."""
        request = self.request
        params: dict[str, Any] = {"fields": fields, "form_error": errors.get(FORM_ERRORS),
                                  "contact": None, "appointments": None, "tasks": None}
        if self.contact_id is None:
            title = "New contact"
        else:
            contact = find("contact", self.contact_id)
            title = contact["name"]     # the stored name: the typed one may be blank or wrong
            params.update(
                contact=contact,
                appointments=db.execute(
                    "SELECT * FROM appointment WHERE contact_id = ? ORDER BY day DESC, starts DESC LIMIT 20",
                    (self.contact_id,)).fetchall(),
                tasks=task_rows("task.contact_id = :id", "done, " + TASK_ORDER["due"], id=self.contact_id))
        # Formlet.show() adds the CSRF tokens to this page's forms and sends it with the
        # right status (422 when there are errors).
        return templates("contact", **layout(request, title), **params)


# The same class publishes two paths: '/contacts/new' is literal, so it wins over the
# wildcard; the wildcard's text becomes the constructor's argument, converted by its
# annotation (a 404 for /contacts/abc, since 'abc' is not an int).
app.servlet("/contacts/new")(ContactForm)
app.servlet("/contacts/*")(ContactForm)


@app.servlet("/contacts/*/delete")
class DeleteContact:
    """A page asking "really delete?" (GET) and the deletion (POST): a confirmation without JavaScript."""

    def __init__(self, contact_id: int) -> None:
        self.contact = find("contact", contact_id)

    def do_GET(self, request: Request) -> Response:
        """The question, saying what happens to the contact's appointments and tasks."""
        linked = db.execute(
            "SELECT (SELECT count(*) FROM appointment WHERE contact_id = :id) AS appointments, "
            "(SELECT count(*) FROM task WHERE contact_id = :id) AS tasks", {"id": self.contact["id"]}).fetchone()
        return render(request, "delete_contact", f"Delete {self.contact['name']}?", contact=self.contact,
                      appointments=linked["appointments"] and plural(linked["appointments"], "appointment",
                                                                     "appointments"),
                      tasks=linked["tasks"] and plural(linked["tasks"], "task", "tasks"))

    def do_POST(self, request: Request) -> Response:
        """Delete; the schema's ON DELETE SET NULL keeps their appointments and tasks, unlinked."""
        check_token(request)
        with db:
            db.execute("DELETE FROM contact WHERE id = ?", (self.contact["id"],))
        return Response.redirect("/contacts/")


# == exporting and importing contacts =====================================================

#: The columns of an exported file, which an import reads back: field name -> lens (the form's own).
CONTACT_CSV_COLUMNS: dict[str, Lens] = {"name": REQUIRED(max_length=120), "email": EMAIL, "phone": PHONE,
                                        "birthday": BIRTHDAY, "notes": STRING}


@app.function("/contacts/export.csv")
def export_contacts(request: Request) -> Response:
    """Every contact as a CSV file, streamed row by row straight from the cursor."""
    # The header is the cursor's column names, which are the names an import expects.
    rows = db.execute("SELECT name, email, phone, birthday, notes FROM contact ORDER BY name COLLATE NOCASE, id")
    return Response.csv(rows, filename=f"contacts {today().isoformat()}.csv")


def read_contacts(source: Any) -> CSVTable:
    """Read an uploaded contacts file; every problem is marked, including e-mail addresses already taken."""
    table = read_csv(source, CONTACT_CSV_COLUMNS)
    # read_csv checked each cell on its own; the UNIQUE e-mail rule needs the other rows and the
    # database. (The INSERTs would catch it too, but only the first one, and without a line number.)
    first_line: dict[str, int] = {}
    for row in table.rows:
        email = row.values.get("email")
        if not email:
            continue
        key = email.casefold()
        if key in first_line:
            table.add_error(row.line, "email", f"Line {first_line[key]} has this e-mail address too.")
            continue
        first_line[key] = row.line
        owner = db.execute("SELECT name FROM contact WHERE email = ?", (email,)).fetchone()
        if owner is not None:
            table.add_error(row.line, "email", f"{owner['name']} already has this e-mail address.")
    return table


def import_preview(request: Request, table: CSVTable, filename: str, problem: str | None = None) -> Response:
    """The preview: every row of the file with its errors marked, and the button that imports them."""
    headings = [table.headings[name] for name in table.columns]
    rows = [{"line": row.line, "bad": bool(row.errors), "line_error": row.errors.get(""),
             "cells": [{"text": row.texts.get(name, ""), "error": row.errors.get(name)} for name in table.columns]}
            for row in table.rows]
    # What the confirm button posts: the file again, as checked CSV text (the upload itself is gone).
    data = to_bytes(csv_chunks([[row.texts[name] for name in table.columns] for row in table.rows],
                               header=table.columns)).decode("utf-8")
    file_errors = [{"line": e.line, "column": table.headings.get(e.column, e.column), "message": e.message}
                   for e in table.errors]
    response = render(request, "import_preview", "Import contacts", rows=rows, headings=headings,
                      errors=file_errors, ok=table.ok and not problem, problem=problem, data=data,
                      filename=filename, count=plural(len(table.rows), "contact", "contacts"))
    if not table.ok or problem:
        response.code = 422
    return response


class ImportContacts(Formlet):
    """Step 1 of an import: choose a CSV file (/contacts/import); posting it shows the preview."""

    def __init__(self) -> None:
        super().__init__({"file": FileField(accept=".csv,text/csv", max_size=5 << 20, required=True)})

    def save(self, native: dict[str, Any], request: Request) -> Response:
        """Nothing is saved yet: read the file and show what would be imported."""
        upload = native["file"]
        return import_preview(request, read_contacts(upload), upload.filename)

    def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
        """The upload page."""
        return templates("import", **layout(self.request, "Import contacts"), fields=fields,
                         form_error=errors.get(FORM_ERRORS), columns=", ".join(CONTACT_CSV_COLUMNS))


app.servlet("/contacts/import")(ImportContacts)


@app.function("/contacts/import/confirm", methods="POST")
def confirm_import(request: Request, data: str, filename: str = "") -> Response:
    """Step 2: import every row of the previewed file in one transaction, or none of them."""
    check_token(request)
    # Checked again: the file travelled through the browser, and the datebook may have changed.
    table = read_contacts(data)
    if not table.ok:
        return import_preview(request, table, filename)
    values = [sql_values(record) for record in table.records()]
    try:
        with db:
            db.executemany("INSERT INTO contact (name, email, phone, birthday, notes) "
                           "VALUES (:name, :email, :phone, :birthday, :notes)", values)
    except sqlite3.IntegrityError as exc:
        # `with db:` rolled back every row: an import is all or nothing.
        return import_preview(request, table, filename, problem=f"Nothing was imported: {exc}.")
    return flash(Response.redirect("/contacts/"), f"Imported {plural(len(values), 'contact', 'contacts')}.",
                 "success")


# == appointments ==========================================================================

class AppointmentForm(Formlet):
    """Add an appointment (/appointments/new, ?contact=ID picks who with) or edit one (/appointments/ID)."""

    def __init__(self, appointment_id: int | None = None) -> None:
        super().__init__({
            "title": Entry(lens=REQUIRED(max_length=120)),
            # A Pick's options come from the database: (id, name) pairs. The browser sends the
            # id's text; the lens gives back the int, or None for the empty first option.
            "contact_id": Pick(contact_choices(), empty="(nobody in particular)"),
            "day": Entry("date", lens=DATE),
            "starts": Entry("time", lens=TIME),
            "ends": Entry("time", lens=nullable(TIME)),
            "place": Entry(lens=STRING(max_length=120)),
            "notes": Memo(rows=3),
        })
        self.appointment_id = appointment_id

    def get_native(self, request: Request) -> Any:
        """The stored appointment, or a new one today (with the contact from ?contact=)."""
        if self.appointment_id is not None:
            return find("appointment", self.appointment_id)
        return {"day": today(), "contact_id": contact_from_query(request)}

    def semantic_checks(self, native: ConvertedValues) -> dict[str, str] | None:
        """Rules about several fields. They run with the fields' own checks, so a typo in the title
        and an end before the start show up together; each rule needs its fields to be valid."""
        if not native.converted("starts", "ends"):
            return None         # a time that is not a time has its own message already
        starts, ends = native["starts"], native["ends"]
        if ends is not None and ends <= starts:
            return {"ends": f"The end must be after the start ({starts})."}
        if not native.converted("day"):
            return None
        # Two appointments may not overlap. An appointment without an end is a moment.
        clash = db.execute(
            "SELECT title, starts, ends FROM appointment WHERE day = :day AND id IS NOT :id "
            "AND (starts = :starts OR (starts < coalesce(:ends, :starts) AND :starts < coalesce(ends, starts))) "
            "ORDER BY starts LIMIT 1",
            {"day": native["day"].isoformat(), "id": self.appointment_id, "starts": starts, "ends": ends},
        ).fetchone()
        if clash is not None:
            span = clash["starts"] + (f"–{clash['ends']}" if clash["ends"] else "")
            return {"starts": f"This overlaps “{clash['title']}” ({span}) on that day."}
        return None

    def save(self, native: dict[str, Any], request: Request) -> Response:
        """Insert or update, then show the agenda."""
        values = sql_values(native)
        with db:
            if self.appointment_id is None:
                db.execute("INSERT INTO appointment (contact_id, day, starts, ends, title, place, notes) "
                           "VALUES (:contact_id, :day, :starts, :ends, :title, :place, :notes)", values)
            else:
                updated(db.execute("UPDATE appointment SET contact_id = :contact_id, day = :day, starts = :starts, "
                                   "ends = :ends, title = :title, place = :place, notes = :notes WHERE id = :id",
                                   dict(values, id=self.appointment_id)), "appointment", self.appointment_id)
        return Response.redirect("/appointments/" if native["day"] >= today() else "/appointments/?when=past")

    def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
        """The appointment form page."""
        title = "New appointment" if self.appointment_id is None else find("appointment", self.appointment_id)["title"]
        return templates("appointment", **layout(self.request, title), fields=fields,
                         form_error=errors.get(FORM_ERRORS), appointment_id=self.appointment_id)


app.servlet("/appointments/new")(AppointmentForm)
app.servlet("/appointments/*")(AppointmentForm)

#: Which appointments the agenda shows.
When = Literal["upcoming", "past", "all"]


@app.function("/appointments/")
def agenda(request: Request, when: When = "upcoming") -> Response:
    """Appointments grouped by day: from today on, before today, or all."""
    where, order = {"upcoming": ("day >= :today", "day, starts"),
                    "past": ("day < :today", "day DESC, starts"),
                    "all": ("1", "day DESC, starts")}[when]
    rows = db.execute(
        "SELECT appointment.*, contact.name AS contact_name FROM appointment "
        f"LEFT JOIN contact ON contact.id = appointment.contact_id WHERE {where} ORDER BY {order}",
        {"today": today().isoformat()}).fetchall()
    # Group the rows into days, so the template can loop over days and, inside, their rows.
    days: list[dict[str, Any]] = []
    for row in rows:
        if not days or days[-1]["day"] != row["day"]:
            days.append({"day": row["day"], "is_today": row["day"] == today().isoformat(), "appointments": []})
        days[-1]["appointments"].append(row)
    filters = [{"href": f"?when={key}", "label": label, "current": key == when}
               for key, label in (("upcoming", "Upcoming"), ("past", "Past"), ("all", "All"))]
    return render(request, "agenda", "Appointments", days=days, filters=filters, when=when)


@app.function("/appointments/*/delete", methods="POST")
def delete_appointment(request: Request, appointment_id: int) -> Response:
    """Delete an appointment (the button on its page)."""
    check_token(request)
    find("appointment", appointment_id)
    with db:
        db.execute("DELETE FROM appointment WHERE id = ?", (appointment_id,))
    return Response.redirect("/appointments/")


# == tasks =================================================================================

class TaskForm(Formlet):
    """Add a task (/tasks/new) or edit one (/tasks/ID, where it can also be ticked off)."""

    def __init__(self, task_id: int | None = None) -> None:
        elements = {
            "title": Entry(lens=REQUIRED(max_length=200)),
            "due": Entry("date", lens=nullable(DATE)),
            # An EnumLens stores the offset of the chosen label: 0 Low, 1 Normal, 2 High.
            "priority": Pick(lens=EnumLens(PRIORITIES), required=True),
            "contact_id": Pick(contact_choices(), empty="(nobody)"),
            "notes": Memo(rows=3),
        }
        if task_id is not None:
            elements["done"] = Checkbox()
        super().__init__(elements)
        self.task_id = task_id

    def get_native(self, request: Request) -> Any:
        """The stored task, or a new one of Normal priority."""
        if self.task_id is not None:
            return find("task", self.task_id)
        return {"priority": 1, "contact_id": contact_from_query(request)}

    def save(self, native: dict[str, Any], request: Request) -> Response:
        """Insert or update, then show the task list."""
        values = sql_values(native)
        with db:
            if self.task_id is None:
                db.execute("INSERT INTO task (title, due, priority, contact_id, notes) "
                           "VALUES (:title, :due, :priority, :contact_id, :notes)", values)
            else:
                updated(db.execute("UPDATE task SET title = :title, due = :due, priority = :priority, "
                                   "contact_id = :contact_id, notes = :notes, done = :done WHERE id = :id",
                                   dict(values, id=self.task_id)), "task", self.task_id)
        return Response.redirect("/tasks/")

    def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
        """The task form page."""
        title = "New task" if self.task_id is None else find("task", self.task_id)["title"]
        return templates("task", **layout(self.request, title), fields=fields,
                         form_error=errors.get(FORM_ERRORS), task_id=self.task_id)


app.servlet("/tasks/new")(TaskForm)
app.servlet("/tasks/*")(TaskForm)

Show = Literal["open", "done", "all"]
TaskSort = Literal["due", "priority", "title", "added"]

#: The ORDER BY clause for each task sort key.
TASK_ORDER: dict[str, str] = {
    "due": "due IS NULL, due, priority DESC, task.id",
    "priority": "priority DESC, due IS NULL, due, task.id",
    "title": "title COLLATE NOCASE, task.id",
    "added": "task.created DESC, task.id DESC",
}


def task_rows(where: str, order: str, limit: int = -1, **params: Any) -> list[sqlite3.Row]:
    """Tasks with their contact's name and whether they are overdue; `where`/`order` are this file's SQL."""
    return db.execute(
        "SELECT task.*, contact.name AS contact_name, NOT done AND due < :today AS overdue "
        f"FROM task LEFT JOIN contact ON contact.id = task.contact_id WHERE {where} ORDER BY {order} LIMIT {limit:d}",
        {"today": today().isoformat(), **params}).fetchall()


@app.function("/tasks/")
def task_list(request: Request, show: Show = "open", sort: TaskSort = "due") -> Response:
    """Tasks: open, done or all (?show=), by due date, priority, title or age (?sort=)."""
    where = {"open": "NOT done", "done": "done", "all": "1"}[show]
    tasks = task_rows(where, "done, " + TASK_ORDER[sort])
    filters = [{"href": "?" + urlencode({"show": key, "sort": sort}), "label": label, "current": key == show}
               for key, label in (("open", "Open"), ("done", "Done"), ("all", "All"))]
    sorts = [{"href": "?" + urlencode({"show": show, "sort": key}), "label": label, "current": key == sort}
             for key, label in (("due", "Due date"), ("priority", "Priority"), ("title", "Title"),
                                ("added", "Newest"))]
    return render(request, "tasks", "Tasks", tasks=tasks, filters=filters, sorts=sorts, show=show)


@app.function("/tasks/*/done", methods="POST")
def mark_task(request: Request, task_id: int, done: bool = True, back: str = "/tasks/") -> Response:
    """Tick a task off (or back on with done=0), then return to the page the button was on."""
    # `done` and `back` are fields of the posted form; the router converts them like query fields.
    check_token(request)
    find("task", task_id)
    with db:
        db.execute("UPDATE task SET done = ? WHERE id = ?", (done, task_id))
    # POST, then redirect (303): reloading the next page does not submit the button again.
    return Response.redirect(local_target(back, "/tasks/"))


@app.function("/tasks/*/delete", methods="POST")
def delete_task(request: Request, task_id: int) -> Response:
    """Delete a task (the button on its page)."""
    check_token(request)
    find("task", task_id)
    with db:
        db.execute("DELETE FROM task WHERE id = ?", (task_id,))
    return Response.redirect("/tasks/")


# == the dashboard =========================================================================

def upcoming_birthdays(within_days: int = 30) -> list[dict[str, Any]]:
    """Birthdays in the coming days, soonest first, with the age each contact turns."""
    start = today()
    found = []
    for row in db.execute("SELECT id, name, birthday FROM contact WHERE birthday IS NOT NULL"):
        born = as_date(row["birthday"])
        for year in (start.year, start.year + 1):
            try:
                day = born.replace(year=year)
            except ValueError:          # born on 29 February: celebrated on 1 March otherwise
                day = dt.date(year, 3, 1)
            if day >= start:
                break
        if (day - start).days <= within_days:
            found.append({"id": row["id"], "name": row["name"], "day": day, "age": day.year - born.year})
    return sorted(found, key=lambda b: (b["day"], b["name"].casefold()))


@app.function("/")
def dashboard(request: Request) -> Response:
    """Today at a glance: counts, today's and the coming appointments, open tasks, birthdays."""
    day = today()
    params = {"today": day.isoformat(), "week": (day + dt.timedelta(days=7)).isoformat(),
              "fortnight": (day + dt.timedelta(days=14)).isoformat()}
    counts = db.execute(
        "SELECT (SELECT count(*) FROM contact) AS contacts, "
        "(SELECT count(*) FROM appointment WHERE day = :today) AS today, "
        "(SELECT count(*) FROM appointment WHERE day > :today AND day <= :week) AS week, "
        "(SELECT count(*) FROM task WHERE NOT done) AS open, "
        "(SELECT count(*) FROM task WHERE NOT done AND due < :today) AS overdue, "
        "(SELECT count(*) FROM appointment) + (SELECT count(*) FROM task) AS records", params).fetchone()

    def stat(value: int, one: str, many: str, label: str, href: str, alert: bool = False) -> dict[str, Any]:
        return {"value": value, "what": one if value == 1 else many, "label": label, "href": href,
                "alert": alert}

    stats = [
        stat(counts["today"], "appointment", "appointments", "today", "/appointments/"),
        stat(counts["week"], "appointment", "appointments", "in the next 7 days", "/appointments/"),
        stat(counts["open"], "task", "tasks", "open", "/tasks/"),
        stat(counts["overdue"], "task", "tasks", "overdue", "/tasks/", alert=counts["overdue"] > 0),
        stat(counts["contacts"], "contact", "contacts", "in the book", "/contacts/"),
    ]
    appointments = (
        "SELECT appointment.*, contact.name AS contact_name FROM appointment "
        "LEFT JOIN contact ON contact.id = appointment.contact_id ")
    return render(
        request, "dashboard", "Dashboard", day=day, stats=stats,
        empty=counts["contacts"] == 0 and counts["records"] == 0,
        today_appointments=db.execute(appointments + "WHERE day = :today ORDER BY starts", params).fetchall(),
        coming=db.execute(appointments + "WHERE day > :today AND day <= :fortnight ORDER BY day, starts LIMIT 8",
                          params).fetchall(),
        tasks=task_rows("NOT done", TASK_ORDER["due"], limit=10),
        more_tasks=plural(counts["open"] - 10, "more open task", "more open tasks") if counts["open"] > 10 else None,
        birthdays=upcoming_birthdays())


# == sample data ===========================================================================

@app.function("/sample", methods="POST")
def add_sample_data(request: Request) -> Response:
    """Fill an empty datebook with a few made-up people, appointments and tasks around today."""
    check_token(request)
    if db.execute("SELECT EXISTS (SELECT 1 FROM contact) OR EXISTS (SELECT 1 FROM task)").fetchone()[0]:
        raise HTTPError(409, "The datebook is not empty, so no sample data was added.")
    day = today()

    def on(offset: int) -> str:
        return (day + dt.timedelta(days=offset)).isoformat()

    def born(years: int, offset: int) -> str:
        # Someone whose birthday is `offset` days away, turning `years`.
        anniversary = day + dt.timedelta(days=offset)
        try:
            return anniversary.replace(year=anniversary.year - years).isoformat()
        except ValueError:
            return dt.date(anniversary.year - years, 2, 28).isoformat()

    people = [
        ("Ada Lovelace", "ada@example.org", "+44 20 7946 0018", born(36, 3), "Met at the analytical engine meetup."),
        ("Grace Hopper", "grace@example.com", "+1 202 555 0143", born(85, 19), "Prefers mornings. Bring cookies."),
        ("Alan Turing", "alan@example.net", "+44 161 496 0321", None, "Chess on Thursdays."),
        ("Katherine Johnson", "katherine@example.org", None, born(50, 45), "Orbital mechanics questions."),
        ("Tim Berners-Lee", None, "+41 22 767 6111", None, "Ask about the proposal draft."),
    ]
    with db:
        ids = [db.execute("INSERT INTO contact (name, email, phone, birthday, notes) VALUES (?, ?, ?, ?, ?)",
                          person).lastrowid for person in people]
        db.executemany(
            "INSERT INTO appointment (contact_id, day, starts, ends, title, place) VALUES (?, ?, ?, ?, ?, ?)", [
                (ids[0], on(0), "09:30", "10:15", "Coffee and the Bernoulli notes", "Café Babbage"),
                (ids[2], on(0), "14:00", "15:30", "Code review", "Room 101"),
                (None, on(0), "18:30", None, "Yoga", "Studio 4"),
                (ids[1], on(1), "11:00", "12:00", "Compiler design chat", "Video call"),
                (ids[3], on(3), "16:00", "17:00", "Trajectory check", "Hangar B"),
                (ids[4], on(6), "10:00", None, "Proposal review", ""),
                (ids[2], on(-2), "15:00", "16:00", "Chess", "Club"),
            ])
        db.executemany("INSERT INTO task (title, due, priority, contact_id, done) VALUES (?, ?, ?, ?, ?)", [
            ("Send Ada the annotated translation", on(-1), 2, ids[0], 0),
            ("Book a room for the review", on(0), 1, ids[2], 0),
            ("Buy a birthday card for Ada", on(2), 1, ids[0], 0),
            ("Renew the library card", on(9), 0, None, 0),
            ("Read the hypertext proposal", None, 1, ids[4], 0),
            ("Water the plants", on(-3), 0, None, 1),
        ])
    return Response.redirect("/")


# == serving ===============================================================================

def error_page(request: Request, error: HTTPError) -> Any:
    """Error pages (404, 405, 400, 403, 409, 422...) in the datebook's own layout: its bar, its sections."""
    return templates("error", **layout(request, error.title), message=error.message, detail=error.detail)


#: The app as the server runs it. error_pages() draws the error pages made inside the app with
#: error_page() (a request that asks for JSON gets JSON instead), and every request goes through
#: the transaction guard.
handler = guard(error_pages(app, error_page), db)


if __name__ == "__main__":
    serve_http(handler)
