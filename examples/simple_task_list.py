"""An in-memory to-do list: servlets, a service, POST forms and redirects.

Run it with `./demo.sh simple_task_list`, add a few tasks, tick them off,
rename one, delete one. It shows the two class-based ways to publish pages:
a *service* (one class owning a folder of pages: the list, "add", "clear")
and a *servlet* (one class per URL pattern, here one task: /task/3). The tasks
live in a Python dict, so they are gone when the app stops; the `guard` and
`datebook` examples keep theirs in SQLite.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import HTTPError, Request, Response, Router, escape, serve_http  # noqa: E402
from kali.reserved import asset_url  # noqa: E402


# -- the data --------------------------------------------------------------------------------

@dataclass
class Task:
    """One thing to do."""

    id: int
    title: str
    done: bool = False


class TaskList:
    """The tasks, in memory.

    kali runs every handler on one thread, one request at a time, so plain Python objects are
    safe to share between requests: no locks, no race between two clicks.
    """

    def __init__(self) -> None:
        self.tasks: dict[int, Task] = {}
        self.next_id = 1

    def add(self, title: str) -> Task:
        """Create a task and return it."""
        task = Task(self.next_id, title)
        self.tasks[task.id] = task
        self.next_id += 1
        return task

    def get(self, task_id: int) -> Task:
        """The task with this id, or a 404 page for the visitor."""
        task = self.tasks.get(task_id)
        if task is None:
            # HTTPError can be raised anywhere, however deep: the visitor gets this status and text.
            raise HTTPError(404, f"There is no task {task_id}; it may have been deleted.")
        return task


tasks = TaskList()
tasks.add("Read examples/simple_task_list.py")
tasks.add("Tick this task off")


# -- the pages -------------------------------------------------------------------------------

def page(title: str, *body: object) -> list[object]:
    """The HTML around every page (the templates_tour example shows a neater way: template files)."""
    return [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>", escape(title), " - kali tasks</title>",
        # kali's stylesheet and icon ship with kali, at the /_kali/ addresses asset_url() gives.
        "<link rel='icon' href='", asset_url("icon.svg"), "'><link rel='stylesheet' href='", asset_url("kali.css"),
        "'></head><body><header class='bar'><a class='brand' href='/'>",
        "<img src='", asset_url("icon.svg"), "' alt='' width='22' height='22'>kali</a>",
        "<span class='example'>simple_task_list</span></header>",
        "<main>", body, "</main></body></html>",
    ]


def clean_title(request: Request) -> str:
    """The form's title field, trimmed; a 400 page if it is empty."""
    # request.POST["title"] is itself a 400 naming the field when the form did not send it.
    title = request.POST["title"].strip()
    if not title:
        raise HTTPError(400, "A task needs a title.")
    return title


def task_row(task: Task) -> list[object]:
    """One task in the list: its title, a button to tick it off (or back on), a link to edit it."""
    # Every value that came from a visitor goes through escape() on its way into HTML, so a task
    # called <script>...</script> is shown, not run.
    return [
        f"<li class='{'done' if task.done else ''}'>",
        f"<form method='post' action='/task/{task.id}' class='inline'>",
        f"<button name='action' value='toggle' class='quiet' title='Mark as {'not ' if task.done else ''}done'>",
        "&#x2611;" if task.done else "&#x2610;", "</button></form>",
        f"<span class='grow'><a href='/task/{task.id}'>", escape(task.title), "</a></span>",
        f"<form method='post' action='/task/{task.id}' class='inline'>",
        "<button name='action' value='delete' class='danger'>Delete</button></form></li>",
    ]


app = Router()


# A service is a class owning a folder: do_GET_index answers GET / (the folder itself),
# do_POST_add answers POST /add, do_POST_clear answers POST /clear. A new instance answers
# each request, so __init__ is the place for what every page of the folder needs.
@app.service("/")
class TaskPages:
    """The list of tasks and the actions on the whole list."""

    def do_GET_index(self, request: Request) -> list[object]:
        """The list, with a form per task and the form to add one."""
        done = sum(task.done for task in tasks.tasks.values())
        rows = [task_row(task) for task in tasks.tasks.values()]
        return page(
            "Tasks",
            "<h1>Tasks</h1>",
            # A plain HTML form. method='post' because it changes something; the browser sends
            # the fields as the request body and the handler reads them from request.POST.
            "<form method='post' action='/add' class='row'>",
            "<input name='title' required placeholder='What needs doing?' aria-label='New task' autofocus>",
            "<button>Add</button></form>",
            ["<ul class='items' id='tasks'>", rows, "</ul>"] if rows else
            "<p class='muted' id='tasks'>Nothing to do. Add a task above.</p>",
            f"<p class='muted'>{done} of {len(rows)} done.</p>",
            "<form method='post' action='/clear'><button class='quiet'>Remove finished tasks</button></form>"
            if done else "",
            "<p class='muted'>Next: <code>./demo.sh templates_tour</code>.</p>",
        )

    def do_POST_add(self, request: Request) -> Response:
        """Add a task, then send the browser back to the list."""
        tasks.add(clean_title(request))
        # Answer a POST with a redirect (303 See Other), never with a page: the browser then GETs
        # the list, so reloading it does not send the form again and add the task twice.
        return Response.redirect("/")

    def do_POST_clear(self, request: Request) -> Response:
        """Remove every finished task."""
        for task in [t for t in tasks.tasks.values() if t.done]:
            del tasks.tasks[task.id]
        return Response.redirect("/")


# A servlet is a class published at a URL pattern. The wildcard goes to the constructor,
# converted by its annotation: /task/7 makes TaskPage(7), and /task/seven is a 404 without
# your code running. Then do_GET or do_POST answers, according to the request's method.
@app.servlet("/task/*")
class TaskPage:
    """One task: GET shows a form to edit it, POST changes it."""

    def __init__(self, task_id: int) -> None:
        self.task = tasks.get(task_id)

    def do_GET(self, request: Request) -> list[object]:
        """The edit form."""
        task = self.task
        return page(
            task.title,
            "<h1>Edit task ", str(task.id), "</h1>",
            f"<form method='post' action='/task/{task.id}'>",
            "<label for='title'>Title</label>",
            "<p class='row'><input id='title' name='title' required value='", escape(task.title), "'>",
            "<button name='action' value='rename'>Save</button></p></form>",
            "<p><a href='/'>Back to the list</a></p>",
        )

    def do_POST(self, request: Request) -> Response:
        """Rename, tick off or delete, according to the button that was pressed."""
        # Several buttons can share one form: the one clicked sends its name=value pair.
        action = request.POST.get("action")
        if action == "toggle":
            self.task.done = not self.task.done
        elif action == "rename":
            self.task.title = clean_title(request)
        elif action == "delete":
            del tasks.tasks[self.task.id]
        else:
            raise HTTPError(400, f"Unknown action {action!r}: expected toggle, rename or delete.")
        return Response.redirect("/")


if __name__ == "__main__":
    # serve_http also refuses POSTs that another web site makes your browser send (it reads the
    # Sec-Fetch-Site and Origin headers browsers add), so forms written by hand like these need
    # no hidden token. (kali.forms.Formlet, used by the datebook example, adds one anyway.)
    serve_http(app)
