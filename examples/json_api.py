"""A small JSON API, and a page that uses it with fetch().

Run it with `./demo.sh json_api`: add and delete notes on the page, which
never reloads; its script (examples/static/json_api/notes.js) calls the API.
Handlers read JSON with `request.json()` and answer with a dict (sent as
JSON) or `Response.json(...)`; a bad request gets a 400 whose JSON body says
which field is wrong, so the page can show it.
"""

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import Request, Response, Router, StaticFolder, TemplateFolder, serve_http  # noqa: E402

# The layout all the examples share (templates/common/layout.tpl) shows flash messages; this
# example never flashes one, so `flashes` is a global name: empty unless a handler passes some.
templates = TemplateFolder(HERE.parent / "templates", globals={"flashes": ()})

MAX_LENGTH = 200

#: The notes, in memory (one thread runs every handler, so a dict needs no lock), by id.
notes: dict[int, dict[str, Any]] = {1: {"id": 1, "text": "Notes come from GET /api/notes", "priority": 2}}
next_id = 2


class Invalid(Exception):
    """A request body the API refuses: the message and the field it is about."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def validate(value: Any) -> dict[str, Any]:
    """The note described by a request's JSON, checked field by field."""
    if not isinstance(value, dict):
        raise Invalid("Send a JSON object like {\"text\": \"...\", \"priority\": 2}.", "")
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("A note needs some text.", "text")
    if len(text) > MAX_LENGTH:
        raise Invalid(f"A note has at most {MAX_LENGTH} characters; this one has {len(text)}.", "text")
    priority = value.get("priority", 2)
    # bool is a kind of int in Python; JSON's true is not a priority.
    if type(priority) is not int or not 1 <= priority <= 3:
        raise Invalid("The priority is 1 (low), 2 (normal) or 3 (high).", "priority")
    return {"text": text.strip(), "priority": priority}


def not_found(note_id: int) -> Response:
    """A 404 whose body is JSON too, so the page's script can read it like any other answer."""
    return Response.json({"error": f"There is no note {note_id}.", "field": "id"}, 404)


app = Router()
app.delegate_folder("/static/", StaticFolder(HERE / "static"))


@app.function("/")
def page(request: Request) -> list[object]:
    """The HTML page; everything after this comes from the script calling the API."""
    return templates("json_api/index", max_length=MAX_LENGTH, origin=request.origin)


@app.function("/api/notes")
def list_notes() -> dict[str, Any]:
    """GET: every note. A dict returned by a handler is sent as JSON."""
    # Wrapped in an object rather than a bare list: room to add fields (a count, a next page) later.
    # (A bare list would be sent as HTML pieces: for a list use Response.json(the_list).)
    return {"notes": sorted(notes.values(), key=lambda n: (-n["priority"], n["id"]))}


@app.function("/api/notes", methods="POST")
def create_note(request: Request) -> Any:
    """POST: a new note from the JSON body; 201 and the note, or 400 and what is wrong."""
    global next_id
    # request.json() parses the body; a body that is not JSON (or not sent as application/json)
    # is already a 400 before this line returns.
    try:
        fields = validate(request.json())
    except Invalid as problem:
        # (dict, status) is a JSON response with that status.
        return {"error": str(problem), "field": problem.field}, 400
    note = {"id": next_id, **fields}
    notes[next_id] = note
    next_id += 1
    return Response.json(note, 201, headers={"Location": f"/api/notes/{note['id']}"})


@app.function("/api/notes/*")
def get_note(note_id: int) -> Any:
    """GET one note. The wildcard is converted to int: /api/notes/abc never reaches this function."""
    return notes.get(note_id) or not_found(note_id)


@app.function("/api/notes/*", methods="DELETE")
def delete_note(note_id: int) -> Any:
    """DELETE one note: 204 No Content (what a handler returning None answers), or 404."""
    if notes.pop(note_id, None) is None:
        return not_found(note_id)
    return None


if __name__ == "__main__":
    # serve_http refuses POST and DELETE requests that other web sites make your browser send;
    # the page's own fetch() calls are same-origin, and pass.
    serve_http(app)
