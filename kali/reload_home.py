"""What the `run --reload` supervisor keeps for the whole run, and its server while the app does not start.

`AppHome` is everything that must not change when new code comes in: the
listening socket (so the port, the origin and the browser's cookies stay, and
no connection is ever refused), the single-instance record, and the window,
opened once.  It is set up from the settings of the first app process that
calls `serve_http` (the supervisor never imports the app, so it cannot know
them sooner), with the same parts `serve_http` uses (`kali.launch`).

`StandIn` is the supervisor's own server, on the same listening socket, while
the app does not start (a SyntaxError, an exception at import time): every
page is the error as a debug page (to this machine only; a plain 500 for
anyone else), and the pages' event channel and the ping still answer, so open
pages show the error at once and reload themselves when the app starts again.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .log import get_logger
from .request import Request
from .response import Response

__all__ = ["AppHome", "StandIn", "default_settings"]

logger = get_logger()

#: How long the stand-in may take to stop accepting once the app serves again (it takes milliseconds).
_HAND_OVER_SECONDS = 2.0

#: The settings that decide the socket, the record and the token: a change needs a new run.
_FIXED = ("app", "address", "port", "private", "single_instance", "tls")


def default_settings(app: str) -> dict[str, Any]:
    """serve_http's settings for an app that failed before calling it: its defaults and the environment."""
    from .launch import _settings
    from .sqlite import data_folder
    port, start, window, linger = _settings(None, "", "app", None)
    return {"app": app, "address": "127.0.0.1", "port": port, "start": start, "window": window, "linger": linger,
            "private": False, "single_instance": True, "tls": False, "allowed_hosts": [],
            "data_folder": str(data_folder(app, create=False))}


class AppHome:
    """The listening socket, the instance record and the window of a reloading app (see the module docstring)."""

    def __init__(self, settings: dict[str, Any], listener: socket.socket, record: Any) -> None:
        self.settings = settings
        self.listener = listener
        self.record = record
        self.app: str = settings["app"]
        self.folder = Path(settings["data_folder"])
        from .server import local_url
        self.url = local_url(listener.getsockname(), "https" if settings.get("tls") else "http")
        #: A private app's launch token, the same for every app process.
        self.token: str | None = None
        #: The ping's secret, published in the record.
        self.secret: str | None = None
        #: The app window kali started (None: a tab, or no browser).
        self.window: Any = None
        self.tab_url: str | None = None
        self._launch_folder: str | None = None
        self._noted: set[str] = set()

    @classmethod
    def establish(cls, settings: dict[str, Any]) -> AppHome | None:
        """Take the record, bind the port, publish; None when another instance runs (its browser was opened).

        SystemExit with a one-line message when the port cannot be had, as serve_http does.
        """
        from .instance import InstanceRecord
        from .launch import _join_running_instance, _listen
        from .sqlite import data_folder
        name = settings["app"]
        folder = data_folder(name)
        record = None
        if settings.get("single_instance", True):
            record = InstanceRecord(folder)
            if not record.acquire() and _join_running_instance(record, name, settings.get("start"),
                                                               settings.get("window", "app"), folder):
                return None
        try:
            remembered = record.remembered_port() if record is not None else None
            listener, note = _listen(settings.get("address", "127.0.0.1"), settings.get("port"), remembered)
        except BaseException:
            if record is not None:
                record.release()
            raise
        if note:
            print(f"kali: {note}", flush=True)
        home = cls(settings, listener, record)
        if settings.get("private"):
            import secrets
            home.token = secrets.token_urlsafe(32)
        if record is not None:
            home.secret = record.publish(app=name, url=home.url, port=listener.getsockname()[1], token=home.token)
        return home

    def launch_url(self) -> str:
        """The URL the browser opens: the start page, with a private app's token."""
        from .security import TOKEN_PARAMETER
        url = self.url + (self.settings.get("start") or "").lstrip("/")
        if self.token is not None:
            url += ("&" if "?" in url else "?") + f"{TOKEN_PARAMETER}={self.token}"
        return url

    def open_window(self) -> None:
        """Open the app's window or tab, once for the whole run (a reload never opens another)."""
        if self.settings.get("start") is None:
            return
        from .launch import _open_window, _private_launch_page
        url = self.launch_url()
        if self.token is not None:
            self._launch_folder, url = _private_launch_page(url)
        self.window = _open_window(url, self.settings.get("window", "app"), self.folder, self.app,
                                   cleanup=self._launch_folder)
        self.tab_url = url

    def greet(self, script: str) -> None:
        """Say where the app is served (once for the whole run)."""
        print(f"kali: serving {self.url} (reloading {script} when its code changes)", flush=True)
        if self.token is not None:
            print(f"kali: private app: open {self.launch_url()}", flush=True)
        if self.settings.get("tls"):
            print("kali: with TLS, the supervisor cannot show an error page while the code does not start "
                  "(the console shows the error)", flush=True)

    def window_closed(self) -> bool:
        """Whether the user closed the app window kali started (a window that failed to open becomes a tab)."""
        if self.window is None:
            return False
        from .lifetime import look_at_window
        self.window, closed = look_at_window(self.window, self.tab_url)
        return closed

    def note_changed_settings(self, settings: dict[str, Any]) -> None:
        """Say once per setting when new code asks serve_http for what only a new run can give."""
        changed = [name for name in _FIXED if settings.get(name) != self.settings.get(name) and name not in self._noted]
        if changed:
            self._noted.update(changed)
            print(f"kali: serve_http's {', '.join(changed)} changed: that takes effect when the app is started "
                  f"again (stop it, then run it again)", flush=True)

    def close(self) -> None:
        """Close the window kali started, release the record, close the socket."""
        window, self.window = self.window, None
        try:
            if window is not None:
                window.close()
        finally:
            if self.record is not None:
                from .launch import _SECOND_LAUNCH_PAGE
                self.record.release()
                (self.folder / _SECOND_LAUNCH_PAGE).unlink(missing_ok=True)
            if self._launch_folder is not None:
                shutil.rmtree(self._launch_folder, ignore_errors=True)
            self.listener.close()


class StandIn:
    """The supervisor's server while the app does not start: the error page, the pages' channel, the ping."""

    def __init__(self, home: AppHome, summary: str, page: str | None) -> None:
        from .exchange import compose_handler
        from .instance import PingChannel
        from .presence import EventChannel
        from .server import Server
        #: (the one-line summary, the debug page's HTML or None): replaced in one step by `show`.
        self.error = (summary, page)
        #: The open pages (each reloads itself once the app serves again and this stops).
        self.events = EventChannel(stamp_pages=True)
        channels: dict[str, Any] = {"events": self.events}
        if home.secret is not None:
            ping = channels["ping"] = PingChannel(home.app)
            ping.url, ping.secret = home.url, home.secret
        handler = compose_handler(self._answer, allowed_hosts=home.settings.get("allowed_hosts") or (),
                                  private_token=home.token, debug=True, caller="run --reload", channels=channels)
        # A duplicate of the socket: closing this server leaves the supervisor's socket listening.
        self.server = Server(handler, sock=home.listener.dup(), debug=True)
        self.thread = threading.Thread(target=self._run, name="kali-reload-stand-in", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from .lifetime import leave_signals_to_the_main_thread
        leave_signals_to_the_main_thread()
        try:
            self.server.run()
        except Exception:
            logger.exception("the reload supervisor's error page server failed")

    def _answer(self, request: Request) -> Response:
        from .exchange import shows_tracebacks
        if not shows_tracebacks(True, request.client[0]):
            return Response.generic(500, "The app is being changed and does not start just now; try again soon.")
        summary, page = self.error
        if page is not None:
            response = Response(page, code=500)
        else:
            response = Response.generic(500, f"The app does not start: {summary}. Every page shows this "
                                             "until a saved change makes it start again.")
        response.headers["Cache-Control"] = "no-store"
        return response

    def show(self, summary: str, page: str | None) -> None:
        """Show another error (the next save does not start either): the open pages reload to see it."""
        self.error = (summary, page)
        self.events.send("reload", {"changed": []})

    def stop(self) -> None:
        """Stop answering (the pages' streams close, so they reconnect to the app and reload)."""
        self.server.stop()

    def hand_over(self) -> None:
        """The app serves the socket again: stop accepting at once, but answer the requests already accepted.

        Returns once this server accepts no more (a few milliseconds), so that from then on
        every new connection reaches the app; the error pages still being written, and the
        requests on connections accepted just before, are answered meanwhile by its thread.
        """
        self.server.stop(finish_requests=True)
        deadline = time.monotonic() + _HAND_OVER_SECONDS
        while self.server.accepting and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)

    @property
    def done(self) -> bool:
        """Whether its server has stopped."""
        return not self.thread.is_alive()
