"""An app for the tests of an app's life as a program: two pages, a slow page, a database, serve_http options from the environment.

Environment: LIFE_DB (a database file: the app writes to it), LIFE_OPTIONS (a JSON object
of serve_http keyword arguments).
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from kali import Request, Response, serve_http  # noqa: E402

db = None
if os.environ.get("LIFE_DB"):
    from kali.sqlite import open_database
    db = open_database(os.environ["LIFE_DB"], schema="CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);")


def app(request: Request) -> object:
    if request.path == "/":
        return '<!DOCTYPE html>\n<title>first</title><h1>first</h1><a id="next" href="/other">other page</a>\n'
    if request.path == "/other":
        return '<!DOCTYPE html>\n<title>other</title><h1>other</h1><a id="next" href="/">first page</a>\n'
    if request.path == "/write" and db is not None:
        with db:
            db.execute("INSERT INTO note (text) VALUES (?)", (request.GET["text"],))
        return Response.plain_text("written\n")
    if request.path == "/slow":
        if db is not None:
            # A transaction left open by a handler that never finishes: a forced stop rolls it back.
            db.execute("BEGIN")
            db.execute("INSERT INTO note (text) VALUES ('never committed')")
        print("slow handler started", flush=True)
        time.sleep(60)
        return "slow"
    if request.path == "/signal-from-a-thread":
        # The kernel may deliver a signal to any thread: this one takes a SIGTERM while the
        # main thread waits in select().
        import signal
        import threading

        def take_it() -> None:
            time.sleep(0.3)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            time.sleep(30)

        threading.Thread(target=take_it, daemon=True).start()
        return "a thread will take a SIGTERM"
    if request.path == "/quit":
        return Response("bye", shut_down=True)
    return Response.generic(404, "nothing here")


if __name__ == "__main__":
    serve_http(app, **json.loads(os.environ.get("LIFE_OPTIONS", "{}")))
