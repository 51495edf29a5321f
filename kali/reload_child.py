"""An app process under the `run --reload` supervisor: run the script once, ask for the socket, say when it serves, obey.

The supervisor (`kali.reload`) starts each app process as
`python -c BOOTSTRAP path/to/app.py [args]`, with `KALI_RELOAD_CHANNEL`
naming its control channel (`kali.reload_channel`).  The bootstrap imports
this module from the very kali the supervisor runs, and `main` runs the
script once as `__main__` (`kali.app_script`): module code runs once per
process, never twice.  When the script calls `serve_http`, that function sees
it is a reload child (`current()`), announces its settings, serves the
listening socket the supervisor hands it, and leaves the instance record,
the port and the window to the supervisor (as with `KALI_LISTEN_FD`).

The messages, one JSON object per line.  App process -> supervisor (`event`):

    serve    serve_http was called, with its settings (app name, address, port, window...)
    ready    the server is listening: the modules imported from the app's folder and
             the template files loaded so far
    watch    modules or template files loaded since (looked for once a second)
    pages    (answering `stop`) whether pages were open, or for how long none has been
    stopped  serve_http returned, and why: the app's own reasons end the whole run
    failed   the script raised (or ended) without serving: a summary, the place, the
             debug page to show

Supervisor -> app process (`command`):

    listen        serve the listening socket that comes with it (with the ping's secret
                  and pid, and a private app's token)
    exit          do not serve: another instance of the app is running already
    stop          finish the responses in flight and stop (new code took over)
    stop-now      stop at once, like a second Ctrl-C
    reload-pages  a template or static file changed: every open page reloads itself
    pages-closed  no page had been open for SECONDS before the swap (quitting when the
                  last page closes still counts from then)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from .app_script import AppScript, run_app_script
from .reload_channel import Channel, ChannelClosed, connect_from_environment

if TYPE_CHECKING:
    import socket

    from .lifetime import Lifetime
    from .presence import EventChannel

__all__ = ["Grant", "ReloadChild", "current", "main", "bootstrap_command"]

#: How often the app process looks for modules and template files loaded since it said so.
_REPORT_SECONDS = 1.0

_current: ReloadChild | None = None


def current() -> ReloadChild | None:
    """This process's link to its reload supervisor (None unless it was started by one)."""
    return _current


def bootstrap_command(script: AppScript, argv: list[str]) -> list[str]:
    """The command line of an app process: this Python, importing this kali, running `script` with `argv`."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # The kali folder goes first on the path only while kali is imported, so the app sees
    # the path `python app.py` would give it.
    code = (f"import sys; sys.path.insert(0, {package_parent!r}); import kali.reload_child as child; "
            f"del sys.path[0]; child.main()")
    return [sys.executable, *(f"-W{option}" for option in sys.warnoptions), "-c", code,
            *script.arguments(), *argv]


class Grant(NamedTuple):
    """What the supervisor hands an app process that may serve."""

    listener: socket.socket
    #: The base URL the app is served at.
    url: str
    #: The pid in the instance record (the supervisor's): the ping answers with it.
    pid: int
    #: The ping's secret from the record (None: the app keeps no record).
    secret: str | None
    #: A private app's launch token, the same in every process.
    token: str | None


class ReloadChild:
    """The app process's side of the control channel (see the module docstring)."""

    def __init__(self, channel: Channel, folder: str) -> None:
        self.channel = channel
        #: The app's folder: modules imported from inside it are reported for watching.
        self.folder = os.path.abspath(folder) + os.sep
        self.announced = False
        self.serving = False
        #: serve_http returned normally (and said why).
        self.ended = False
        self._modules: set[str] = set()
        self._templates: list[tuple[str, list[int] | None]] = []
        self._events: EventChannel | None = None
        self._lifetime: Lifetime | None = None

    # -- called by serve_http ----------------------------------------------------------------

    def announce(self, settings: dict[str, Any]) -> Grant | None:
        """Tell the supervisor serve_http was called; the socket to serve, or None when the app must not serve."""
        if self.announced:
            raise RuntimeError("under run --reload, serve_http() can run once per app process")
        self.announced = True
        try:
            self.channel.send({"event": "serve", "pid": os.getpid(), "settings": settings})
            while True:
                message = self.channel.receive()
                if message is None:
                    continue
                command = message.get("command")
                if command == "listen":
                    return Grant(self.channel.take_listener(message), message["url"], message["pid"],
                                 message.get("secret"), message.get("token"))
                if command == "exit":
                    self.ended = True
                    return None
                if command in ("stop", "stop-now"):
                    raise SystemExit(0)         # replaced before it served: nothing to finish
        except ChannelClosed:
            raise SystemExit("kali: the reload supervisor is gone") from None

    def ready(self, events: EventChannel, lifetime: Lifetime) -> None:
        """The server is listening: say so, then obey the supervisor from a thread of its own."""
        self.serving = True
        self._events = events
        self._lifetime = lifetime
        self._send({"event": "ready", "pid": os.getpid(), "boot": events.boot, "modules": self._new_modules(),
                    "templates": self._take_templates()})
        threading.Thread(target=self._obey, name="kali-reload-child", daemon=True).start()

    def stopped(self, reason: str | None) -> None:
        """serve_http is returning: say why (the supervisor stops too unless it asked for this)."""
        self.ended = True
        self._send({"event": "stopped", "reason": reason})

    # -- called by the bootstrap -------------------------------------------------------------

    def failed(self, error: BaseException, script: str) -> None:
        """The script raised before it served (or its serving ended in an exception): send the debug page."""
        from .debug_page import startup_error_page, startup_error_place
        place = startup_error_place(error)
        kind = type(error).__name__
        message = str(error.msg) if isinstance(error, SyntaxError) else str(error)
        summary = f"{kind}: {message}" if message else kind
        if place is not None:
            summary += f" ({os.path.basename(place[0])}, line {place[1]})"
        try:
            page = "".join(startup_error_page(error, script))
        except Exception as exc:       # a page that cannot be drawn must not hide the error itself
            import html
            page = f"<!DOCTYPE html><title>500</title><pre>{html.escape(summary)}\n\n({html.escape(repr(exc))})</pre>"
        self.ended = True
        self._send({"event": "failed", "summary": summary, "place": list(place) if place else None, "page": page,
                    "modules": self._new_modules()})

    def did_not_serve(self, summary: str) -> None:
        """The script ended without serving (it never called serve_http, or exited first)."""
        self.ended = True
        self._send({"event": "failed", "summary": summary, "place": None, "page": None,
                    "modules": self._new_modules()})

    def template_loaded(self, path: os.PathLike[str]) -> None:
        """kali.templates' hook: a TemplateFolder read this file (the supervisor watches it from now on)."""
        from .watch import stamp
        file = os.path.abspath(path)
        # The version read now: an edit made before the supervisor hears of it is still an edit.
        self._templates.append((file, stamp(file)))

    # -- the channel ---------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.channel.send(message)
        except ChannelClosed:
            pass            # the supervisor is gone: _obey stops the app

    def _new_modules(self) -> list[str]:
        found = []
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and file not in self._modules:
                self._modules.add(file)
                path = os.path.abspath(file)
                if path.startswith(self.folder):
                    found.append(path)
        return found

    def _take_templates(self) -> list[tuple[str, list[int] | None]]:
        taken = []
        while self._templates:
            taken.append(self._templates.pop(0))
        return taken

    def _obey(self) -> None:
        from .lifetime import leave_signals_to_the_main_thread
        leave_signals_to_the_main_thread()
        lifetime, events = self._lifetime, self._events
        assert lifetime is not None and events is not None
        while True:
            try:
                message = self.channel.receive(timeout=_REPORT_SECONDS)
            except ChannelClosed:
                lifetime.stop("the reload supervisor ended")
                return
            if message is not None:
                command = message.get("command")
                if command == "stop":
                    gone = events.closed_for()
                    self._send({"event": "pages", "open": events.open, "closed_for": gone})
                    # New code serves the same socket already: requests still arriving on
                    # connections this process accepted are answered here, not dropped.
                    lifetime.stop(str(message.get("reason") or "new code took over"), finish_requests=True)
                elif command == "stop-now":
                    _interrupt_main_thread()
                elif command == "reload-pages":
                    events.send("reload", {"changed": message.get("changed", [])})
                elif command == "pages-closed":
                    seconds = message.get("seconds")
                    if isinstance(seconds, (int, float)) and not events.opened:
                        events.empty_since = time.monotonic() - seconds
            modules, templates = self._new_modules(), self._take_templates()
            if modules or templates:
                self._send({"event": "watch", "modules": modules, "templates": templates})


def _interrupt_main_thread() -> None:
    """Stop at once, as a second Ctrl-C would: a SIGTERM handled by the main thread (which is stopping already)."""
    import signal
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
    else:
        import _thread
        _thread.interrupt_main(signal.SIGTERM)


_KALI_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _drop_bootstrap_frames(error: BaseException) -> None:
    """Start the traceback at the script: the bootstrap's, kali's and runpy's frames before it say nothing."""
    tb = error.__traceback__
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if not (file.startswith(_KALI_FOLDER) or file in ("<string>", "<frozen runpy>") or
                os.path.basename(file) == "runpy.py"):
            break
        tb = tb.tb_next
    error.__traceback__ = tb


def main() -> None:
    """The app process: run the script named on the command line once, for the supervisor that started it."""
    global _current
    if len(sys.argv) < 2:
        raise SystemExit("usage: the reload supervisor starts this with the app script and its arguments")
    script, argv = AppScript.from_arguments(sys.argv[1:])
    channel = connect_from_environment()
    if channel is None:
        raise SystemExit("kali: an app process of `run --reload` needs the supervisor's KALI_RELOAD_CHANNEL")
    _current = child = ReloadChild(channel, str(script.folder))
    from . import templates
    templates.on_template_file = child.template_loaded
    name = script.describe()
    try:
        run_app_script(script, argv)
    except SystemExit as exc:
        if not child.announced:
            code = exc.code
            why = f"exited with status {code}" if isinstance(code, int) else \
                (f"exited: {code}" if code is not None else "exited")
            child.did_not_serve(f"{name} {why} before calling serve_http()")
        raise
    except BaseException as exc:
        _drop_bootstrap_frames(exc)
        if not child.ended:
            child.failed(exc, name)
        # What `python app.py` would print: the traceback from the script on, then status 1.
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        raise SystemExit(1) from None
    if not child.announced:
        child.did_not_serve(f"{name} ran to its end without calling serve_http()")
