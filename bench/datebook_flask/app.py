"""The datebook's dashboard (examples/datebook.py, `/`) written for Flask + Jinja2, for bench/datebook.py.

The same SQL, the same page (templates/*.html mirror templates/datebook/*.tpl), a CSRF
token in each POST form computed the same way (an HMAC of the form's path), served by
waitress. Only the dashboard: it is the page the benchmark loads.

    KALI_DATEBOOK_DB=FILE [KALI_DATEBOOK_TODAY=YYYY-MM-DD] python app.py PORT
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
import sqlite3
import sys
from pathlib import Path

from flask import Flask, render_template, request
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
PRIORITIES = ["Low", "Normal", "High"]
SECTIONS = [("/", "Dashboard"), ("/contacts/", "Contacts"), ("/appointments/", "Appointments"),
            ("/tasks/", "Tasks")]
TODAY = os.environ.get("KALI_DATEBOOK_TODAY", "").strip()
SECRET = secrets.token_bytes(32)

app = Flask(__name__, template_folder=str(HERE / "templates"))
db = sqlite3.connect(os.environ["KALI_DATEBOOK_DB"], check_same_thread=False)
db.row_factory = sqlite3.Row


def today() -> dt.date:
    return dt.date.fromisoformat(TODAY) if TODAY else dt.date.today()


def as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@app.template_filter("short_day")
def short_day(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    day = as_date(value)
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == today().year else f"{text} {day.year}"


@app.template_filter("long_day")
def long_day(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    day = as_date(value)
    return f"{day:%A} {day.day} {day:%B %Y}"


@app.template_filter("when")
def relative_day(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    days = (as_date(value) - today()).days
    named = {0: "today", 1: "tomorrow", -1: "yesterday"}
    if days in named:
        return named[days]
    if 1 < days < 7:
        return f"in {days} days"
    if -7 < days < -1:
        return f"{-days} days ago"
    return short_day(value)


@app.template_filter("priority")
def priority_label(value: int | None) -> str:
    return "" if value is None else PRIORITIES[value]


@app.template_global()
def csrf_input(path: str) -> Markup:
    """A hidden input with the form's token (what Flask-WTF's csrf_token() would add)."""
    digest = hmac.new(SECRET, b"kali-form\0" + path.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return Markup(f'<input type="hidden" name="csrf_token" value="{token}">')


def task_rows(where: str, order: str, limit: int = -1, **params: object) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT task.*, contact.name AS contact_name, NOT done AND due < :today AS overdue "
        f"FROM task LEFT JOIN contact ON contact.id = task.contact_id WHERE {where} ORDER BY {order} LIMIT {limit:d}",
        {"today": today().isoformat(), **params}).fetchall()


def upcoming_birthdays(within_days: int = 30) -> list[dict[str, object]]:
    start = today()
    found = []
    for row in db.execute("SELECT id, name, birthday FROM contact WHERE birthday IS NOT NULL"):
        born = as_date(row["birthday"])
        for year in (start.year, start.year + 1):
            try:
                day = born.replace(year=year)
            except ValueError:
                day = dt.date(year, 3, 1)
            if day >= start:
                break
        if (day - start).days <= within_days:
            found.append({"id": row["id"], "name": row["name"], "day": day, "age": day.year - born.year})
    return sorted(found, key=lambda b: (b["day"], b["name"].casefold()))


@app.route("/")
def dashboard() -> str:
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

    def stat(value: int, one: str, many: str, label: str, href: str, alert: bool = False) -> dict[str, object]:
        return {"value": value, "what": one if value == 1 else many, "label": label, "href": href, "alert": alert}

    stats = [
        stat(counts["today"], "appointment", "appointments", "today", "/appointments/"),
        stat(counts["week"], "appointment", "appointments", "in the next 7 days", "/appointments/"),
        stat(counts["open"], "task", "tasks", "open", "/tasks/"),
        stat(counts["overdue"], "task", "tasks", "overdue", "/tasks/", alert=counts["overdue"] > 0),
        stat(counts["contacts"], "contact", "contacts", "in the book", "/contacts/"),
    ]
    appointments = ("SELECT appointment.*, contact.name AS contact_name FROM appointment "
                    "LEFT JOIN contact ON contact.id = appointment.contact_id ")
    open_count = counts["open"]
    more = open_count - 10
    nav = [{"href": href, "label": label,
            "current": request.path == href if href == "/" else request.path.startswith(href)}
           for href, label in SECTIONS]
    return render_template(
        "dashboard.html", title="Dashboard", nav=nav, search="", here=request.full_path.rstrip("?"),
        day=day, stats=stats, empty=counts["contacts"] == 0 and counts["records"] == 0,
        today_appointments=db.execute(appointments + "WHERE day = :today ORDER BY starts", params).fetchall(),
        coming=db.execute(appointments + "WHERE day > :today AND day <= :fortnight ORDER BY day, starts LIMIT 8",
                          params).fetchall(),
        tasks=task_rows("NOT done", "due IS NULL, due, priority DESC, task.id", limit=10),
        more_tasks=(f"{more} more open task" if more == 1 else f"{more} more open tasks") if open_count > 10 else None,
        birthdays=upcoming_birthdays())


if __name__ == "__main__":
    from waitress import serve
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), _quiet=True)
