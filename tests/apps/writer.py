"""A writer app for the durability tests: each POST stores a parent row and its children in one transaction."""

# Environment: WRITER_DB (the database file), WRITER_STYLE ("with": `with db:` blocks,
# "commit": explicit db.commit(), "per_request": guard(per_request=True) commits).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from kali import Request, Response, serve_http  # noqa: E402
from kali.sqlite import guard, open_database  # noqa: E402

STYLE = os.environ.get("WRITER_STYLE", "with")
if STYLE not in ("with", "commit", "per_request"):
    raise SystemExit(f"WRITER_STYLE must be with, commit or per_request, not {STYLE!r}")
db = open_database(os.environ["WRITER_DB"], schema=os.path.join(HERE, "writer.sql"))


def store(token: str, children: int, payload: bytes) -> None:
    cursor = db.execute("INSERT INTO parent (token, children, size) VALUES (?, ?, ?)",
                        (token, children, len(payload)))
    for seq in range(children):
        db.execute("INSERT INTO child (parent_id, seq, payload) VALUES (?, ?, ?)",
                   (cursor.lastrowid, seq, payload))


def app(request: Request) -> Response:
    if request.path == "/write" and request.method == "POST":
        token = request.GET["token"]
        children = int(request.GET["children"])
        if STYLE == "with":
            with db:
                store(token, children, request.body)
        elif STYLE == "commit":
            store(token, children, request.body)
            db.commit()
        else:
            store(token, children, request.body)
        return Response.plain_text(f"ok {token}\n")
    if request.path == "/quit" and request.method == "POST":
        # A normal way out: serve_http returns after this response, the script ends.
        return Response("bye\n", content_type="text/plain; charset=utf-8", shut_down=True)
    if request.path == "/count":
        # A fresh read on every request: kali must see what other processes wrote in between.
        return Response.json({"parents": db.execute("SELECT count(*) FROM parent").fetchone()[0]})
    return Response.generic(404, f"Nothing lives at {request.path}.")


if __name__ == "__main__":
    serve_http(guard(app, db, per_request=STYLE == "per_request"), access_log=False)
