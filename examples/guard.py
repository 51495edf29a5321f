"""The SQLite transaction guard: a forgotten commit gets a 500 page instead of a silent loss.

Run it with `./demo.sh guard`, add a task with each button, and write a note
or two in the journal. The database lives in your per-user data folder
(~/.local/share/kali-guard/ on Linux) unless KALI_GUARD_DB names another file.
"""

# kali calls every handler on one thread, so an app opens ONE database connection at
# start-up and uses it in every handler: no pool, no locks. The classic mistake with a
# shared connection is a handler that writes and forgets to commit. The page looks fine,
# the data is gone when the app stops, and meanwhile every other program that opens the
# file gets "database is locked". `guard(app, db)` checks the connection after every
# request: a transaction left open is rolled back and the visitor gets a 500 page that
# says so, instead of a success page that lies.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Let the example run from a checkout without installing kali.
sys.path.insert(0, os.path.dirname(HERE))

from kali import Request, Response, Router, escape, guard, open_database, serve_http  # noqa: E402
from kali.reserved import asset_url  # noqa: E402

# open_database() sets the file up the way a personal tool should: WAL (another program can
# read it while the app runs), synchronous=FULL (a saved write survives a crash or power
# loss), foreign keys on, a 5 s busy timeout, rows you can index by column name, and the
# schema in guard.sql applied on the very first run.
db = open_database(os.environ.get("KALI_GUARD_DB") or None, app_name="kali-guard",
                   schema=os.path.join(HERE, "guard.sql"))


def home_page() -> list[object]:
    """The task list, the journal, and the buttons that show the guard at work."""
    tasks = db.execute("SELECT id, title FROM task ORDER BY id").fetchall()
    notes = db.execute("SELECT text, created FROM note ORDER BY id DESC LIMIT 10").fetchall()
    database_file = db.execute("PRAGMA database_list").fetchone()["file"]
    return [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Guard - kali</title>",
        # kali's stylesheet and icon ship with kali, at the /_kali/ addresses asset_url() gives.
        "<link rel='icon' href='", asset_url("icon.svg"), "'><link rel='stylesheet' href='", asset_url("kali.css"),
        "'></head><body><header class='bar'><a class='brand' href='/'><img src='", asset_url("icon.svg"),
        "' alt='' width='22' height='22'>kali</a>",
        "<span class='example'>guard</span></header><main>",
        "<h1>Tasks</h1><ul class='items' id='tasks'>",
        # Rows from open_database() are addressable by column name.
        [["<li><span class='grow'>", escape(task["title"]), "</span></li>"] for task in tasks],
        "</ul>",
        "<form method='post' action='/tasks' class='row'><input name='title' required placeholder='a task' "
        "aria-label='Task'> <button>Add (commits)</button></form>",
        "<form method='post' action='/tasks/forgetful' class='row'><input name='title' required "
        "placeholder='a task' aria-label='Task, forgotten'> <button class='danger'>Add (forgets to commit)"
        "</button></form>",
        "<h2>Journal</h2><p>This part runs in <em>per-request</em> mode: its handler never commits; "
        "the guard commits when the response is a success and rolls back when it is an error.</p>",
        "<form method='post' action='/journal' class='row'><input name='text' aria-label='Note' "
        "placeholder='a note (leave empty to see the rollback)'> <button>Write</button></form>",
        "<ul class='items' id='journal'>",
        [["<li><small>", escape(note["created"]), "</small><span class='grow'>", escape(note["text"]),
          "</span></li>"] for note in notes],
        "</ul><p class='muted'>The database is <code>", escape(database_file), "</code>. Another program "
        "can read and write it while this app runs, e.g. <code>sqlite3 FILE \"INSERT INTO task (title) "
        "VALUES ('from a terminal')\"</code>.</p>",
        "<p class='muted'>Next: <code>./demo.sh datebook</code>.</p></main></body></html>",
    ]


# The app is a Router; the whole of it is guarded below, in serve_http(guard(app, db)).
app = Router()


@app.function("/")
def home() -> object:
    """The home page only reads, so it needs no transaction at all."""
    return home_page()


@app.function("/tasks", methods="POST")
def add_task(request: Request) -> object:
    """The right way: `with db:` opens a transaction (BEGIN IMMEDIATE) and commits it at the end."""
    with db:
        db.execute("INSERT INTO task (title) VALUES (?)", (request.POST["title"],))
        # Had anything in this block raised, the block would have rolled back instead.
    return Response.redirect("/")


@app.function("/tasks/forgetful", methods="POST")
def add_task_forgetfully(request: Request) -> object:
    """The mistake: this INSERT opens a transaction that nothing commits."""
    db.execute("INSERT INTO task (title) VALUES (?)", (request.POST["title"],))
    # Without the guard, this redirect would look like success and the task would vanish
    # later. With it, the INSERT is rolled back and the browser gets a 500 page naming
    # this request.
    return Response.redirect("/")


def write_note(request: Request) -> object:
    """The journal, in per-request mode: there is no commit anywhere in this function."""
    text = request.POST.get("text", "").strip()
    # Written before it is checked, on purpose: the error below must undo it.
    db.execute("INSERT INTO note (text) VALUES (?)", (text,))
    if not text:
        # Any status >= 400 (or an exception) makes the guard roll the request's transaction back.
        return Response.generic(400, "A note needs some text; nothing was saved.")
    return Response.redirect("/")


# A guard is an ordinary wrapper, handler -> handler, so guards nest: this one gives each
# journal request its own transaction, committed when the response is a success. The outer
# guard around the whole app then finds nothing left open.
app.delegate("/journal", guard(write_note, db, per_request=True), methods="POST")


if __name__ == "__main__":
    serve_http(guard(app, db))
