"""`run --reload`: a supervisor process that keeps the socket, the record and the window, and swaps in new code.

`python -m kali run --reload app.py` (or `KALI_RELOAD=1 python app.py`, or
`./demo.sh NAME --reload`) starts this supervisor.  It never runs the app's
code itself (under `KALI_RELOAD=1` the first process has run the module once,
and becomes the supervisor instead of serving).  The app runs in a child
process, started afresh for each version of the code, so module code runs
exactly once per process:

- the first app process to call `serve_http` tells the supervisor its settings;
  the supervisor then takes the instance record, binds the port and opens the
  window (`kali.reload_home.AppHome`), once for the whole run;
- every app process is handed the listening socket over its control channel
  (`kali.reload_channel`: SCM_RIGHTS on POSIX, `socket.share` on Windows) and
  says when it is ready (`kali.reload_child` lists the messages);
- the supervisor polls the app's files (`kali.watch.SourceWatcher`).  When
  Python code changes it starts a new app process, and only when that one is
  ready does it ask the old one to stop: the old one finishes the responses in
  flight while the new one already accepts, and connections arriving meanwhile
  wait in the listen backlog, so none is refused.  When a template or static
  file changes, the running app reads it again itself and the open pages are
  told to reload;
- code that does not start (a SyntaxError, an exception at import time) gets
  its debug page served by the supervisor itself (`kali.reload_home.StandIn`)
  until the next save that starts;
- the pages: every HTML page carries kali's page script, whose stream to
  `/_kali/events` closes when the process serving it stops; it reconnects, meets
  another process's boot id, and reloads (or, with a half-typed form, shows a
  "code changed -- reload" notice);
- stopping: what stops the app (its own signal handling, a `shut_down`
  response, the last page closed, the window closed) stops the supervisor;
  Ctrl-C reaches both processes (one process group); a signal sent to the
  supervisor alone is passed on as a `stop` command, a second one as `stop-now`.

The signing key is handed down in KALI_SIGNING_KEY, so forms' tokens and flash
messages stay valid across a swap.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, NamedTuple

from .app_script import AppScript
from .log import get_logger
from .reload_channel import ENVIRONMENT_VARIABLE as CHANNEL_VARIABLE
from .reload_channel import Channel, ChannelClosed, channel_pair
from .reload_home import AppHome, StandIn, default_settings
from .watch import CODE, PAGES, Change, Saves, SourceWatcher

__all__ = ["supervise", "Supervisor", "AppProcess"]

logger = get_logger()

#: How long an old app process may take to finish its responses before it is stopped at once.
_PATIENCE = 10.0
#: How long a process stopped at once (or a starting one that was terminated) may take before it is killed.
_LAST_CHANCE = 5.0

_WAKE = object()


def supervise(script: AppScript, argv: list[str]) -> None:
    """Run `script` (with `argv`) in app processes that reload on change, until the app stops."""
    from .launch import _configure_logging
    _configure_logging(True)
    Supervisor(script, argv).run()


class AppProcess:
    """One app process: the child, its control channel, and where it is in its life."""

    STARTING, SERVING, STOPPING = "starting", "serving", "stopping"

    def __init__(self, number: int, script: AppScript, argv: list[str], env: dict[str, str],
                 control: socket.socket | None) -> None:
        import secrets
        from .reload_child import bootstrap_command
        #: 1 for the first app process, then 2, 3...
        self.number = number
        self.token = secrets.token_hex(16)
        channel, value, inherited = channel_pair(self.token, control)
        options: dict[str, Any] = {}
        if inherited is not None:
            options["pass_fds"] = [inherited.fileno()]
        try:
            self.process = subprocess.Popen(bootstrap_command(script, argv), env={**env, CHANNEL_VARIABLE: value},
                                            **options)
        finally:
            if inherited is not None:
                inherited.close()
        #: The control channel (on Windows: None until the process connects).
        self.channel: Channel | None = channel
        self.state = self.STARTING
        self.started = time.monotonic()
        self.settings: dict[str, Any] | None = None
        #: The supervisor asked it to stop (or terminated it): its end is no news.
        self.asked_to_stop = False
        #: When to escalate a stop (stop-now, then kill).
        self.deadline: float | None = None
        self.stopped_now = False
        #: Why it stopped, as it said itself; its failure report, if it failed.
        self.reason: str | None = None
        self.failure: dict[str, Any] | None = None
        self.channel_closed = False
        #: Linux: a descriptor that becomes readable when the process ends (None: its end is polled for).
        self.exit_fd: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self.exit_fd = os.pidfd_open(self.process.pid)
            except OSError:
                pass            # a kernel before 5.3

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def send(self, message: dict[str, Any]) -> bool:
        """Send a command; False if the process is gone."""
        if self.channel is None or self.channel_closed:
            return False
        try:
            self.channel.send(message)
        except ChannelClosed:
            return False
        return True

    def ask_to_stop(self, reason: str) -> None:
        """Finish the responses in flight, then stop (a starting process is terminated: it has none)."""
        if self.asked_to_stop:
            return
        self.asked_to_stop = True
        if self.state == self.STARTING:
            self.terminate()
            return
        self.state = self.STOPPING
        self.deadline = time.monotonic() + _PATIENCE
        if not self.send({"command": "stop", "reason": reason}):
            self.terminate()

    def stop_now(self) -> None:
        """Stop at once, as a second Ctrl-C does."""
        self.asked_to_stop = True
        if not self.stopped_now:
            self.stopped_now = True
            self.deadline = time.monotonic() + _LAST_CHANCE
            if self.state == self.STARTING or not self.send({"command": "stop-now"}):
                self.terminate()

    def terminate(self) -> None:
        """End the process (it serves nothing yet, or does not answer); killed if it lingers."""
        self.asked_to_stop = self.stopped_now = True
        if self.process.poll() is None:
            try:
                self.process.terminate()
            except OSError:
                pass
        self.deadline = time.monotonic() + _LAST_CHANCE

    def escalate(self, now: float) -> None:
        """A stop that takes too long: stop at once, then kill."""
        if self.deadline is None or now < self.deadline or self.process.poll() is not None:
            return
        if not self.stopped_now:
            print(f"kali: the old app process (pid {self.pid}) is still finishing a response after "
                  f"{_PATIENCE:.0f} s; stopping it at once", flush=True)
            self.stop_now()
        else:
            self.deadline = None
            try:
                self.process.kill()
            except OSError:
                pass

    def close_exit_fd(self) -> None:
        """Close the descriptor that watched for the end of the process."""
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None

    def close_channel(self) -> None:
        """Forget the channel (the process closed it, or is gone)."""
        self.channel_closed = True
        if self.channel is not None:
            self.channel.close()

    def detach(self, selector: selectors.BaseSelector) -> None:
        """Take the ended process's channel and exit descriptor out of `selector`, and close them."""
        if self.channel is not None and not self.channel_closed:
            selector.unregister(self.channel.sock)
            self.close_channel()
        if self.exit_fd is not None:
            selector.unregister(self.exit_fd)
            self.close_exit_fd()


class Supervisor:
    """The `run --reload` supervisor: app processes, the watcher, signals, and the stand-in for broken code."""

    def __init__(self, script: AppScript, argv: list[str]) -> None:
        from .signing import ENVIRONMENT_VARIABLE as KEY_VARIABLE
        from .signing import signing_key
        self.script = script
        self.argv = argv
        self.env = {name: value for name, value in os.environ.items() if name != "KALI_RELOAD"}
        # One key for every app process: forms' tokens and flash messages survive a swap.
        self.env[KEY_VARIABLE] = signing_key().hex()
        self.processes: list[AppProcess] = []
        self.serving: AppProcess | None = None
        self.starting: AppProcess | None = None
        self.home: AppHome | None = None
        self.stand_in: StandIn | None = None
        self.failure: dict[str, Any] | None = None
        #: Why the run is ending (None while it goes on).
        self.reason: str | None = None
        self.quiet_end = False
        self._count = 0
        self._why = ""
        self._change_seen = 0.0
        self.watcher = SourceWatcher(script.folder, ignore=[default_settings(script.stem)["data_folder"]])
        self.saves = Saves(self.watcher, time.monotonic())
        self.selector = selectors.DefaultSelector()
        self.signals = _SignalInbox()
        self.selector.register(self.signals.wake, selectors.EVENT_READ, _WAKE)
        # Windows: app processes connect to the supervisor (no socket is inherited by number).
        self.connections = _Connections(self) if os.name == "nt" else None

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Start the app and supervise it until it stops; the console's last line says why."""
        restore = self.signals.install()
        # What is loaded now lives as long as the supervisor: kept out of the cyclic garbage
        # collector, it is not walked again and again, nor at exit (tens of ms of Ctrl-C).
        import gc
        gc.freeze()
        try:
            self._start("")
            while not self._finished():
                now = time.monotonic()
                for key, _ in self.selector.select(max(0.0, self._next_deadline(now) - now)):
                    if key.data is _WAKE:
                        self.signals.drain()
                    elif isinstance(key.data, _Exit):
                        pass                    # reaped below
                    elif isinstance(key.data, AppProcess):
                        self._read(key.data)
                    elif self.connections is not None:
                        self.connections.on_readable(key.data)
                self._on_signals()
                now = time.monotonic()
                self._reap(now)
                if self.reason is None:
                    self._on_save(self.saves.look(now))
                self._look_at_pages(now)
        finally:
            for process in self.processes:
                if process.process.poll() is None:
                    process.process.kill()
                    process.process.wait()
                process.close_exit_fd()
            if self.stand_in is not None:
                self.stand_in.stop()
                self.stand_in.thread.join(5)
            try:
                if self.home is not None:
                    self.home.close()
                if "kali.sqlite" in sys.modules:
                    from .sqlite import close_all_databases
                    close_all_databases()       # KALI_RELOAD=1: the module ran here once, and may have opened one
            finally:
                restore()
                self.selector.close()
                self.signals.close()
                if self.connections is not None:
                    self.connections.close()
        if not self.quiet_end:
            print(f"kali: stopped ({self.reason})", flush=True)

    def _finished(self) -> bool:
        return self.reason is not None and not self.processes and (self.stand_in is None or self.stand_in.done)

    def _next_deadline(self, now: float) -> float:
        """When the loop must look again without news: a pending stop, a process that closed its channel."""
        soon = min(now + 0.5, self.saves.next_look)
        for process in self.processes:
            if (process.channel_closed and process.exit_fd is None) or process.channel is None:
                soon = min(soon, now + 0.05)
            elif process.deadline is not None:
                soon = min(soon, process.deadline)
        return soon

    def _stop(self, reason: str) -> None:
        """End the run: every app process finishes its responses in flight, then the supervisor stops."""
        if self.reason is not None:
            return
        self.reason = reason
        for process in self.processes:
            process.ask_to_stop(reason)
        if self.stand_in is not None:
            self.stand_in.stop()

    # -- app processes -----------------------------------------------------------------------------

    def _start(self, why: str) -> None:
        """Start an app process for the code as it is now (a starting one that is out of date is ended)."""
        if self.starting is not None:
            self.starting.ask_to_stop("its code changed again")
        self._count += 1
        control = self.connections.listener if self.connections is not None else None
        process = AppProcess(self._count, self.script, self.argv, self.env, control)
        self.processes.append(process)
        self.starting = process
        if process.exit_fd is not None:
            self.selector.register(process.exit_fd, selectors.EVENT_READ, _Exit(process))
        if process.channel is not None:
            self.selector.register(process.channel.sock, selectors.EVENT_READ, process)

    def _read(self, process: AppProcess) -> None:
        assert process.channel is not None
        try:
            messages = process.channel.receive_ready()
        except ChannelClosed:
            self.selector.unregister(process.channel.sock)
            process.close_channel()
            return
        for message in messages:
            self._on_message(process, message)

    def _on_message(self, process: AppProcess, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "serve":
            self._on_serve(process, message.get("settings") or {})
        elif event == "ready":
            self._on_ready(process, message)
        elif event == "watch":
            _watch_what_it_loaded(self.watcher, message)
        elif event == "failed":
            _watch_what_it_loaded(self.watcher, message)
            process.failure = message
            if process in (self.starting, self.serving) and not process.asked_to_stop and self.reason is None:
                self._show_failure(process, message)
        elif event == "stopped":
            process.reason = message.get("reason") or "the app stopped"
            if process is self.serving and not process.asked_to_stop:
                self._stop(process.reason)      # the app's own way out ends the whole run
        elif event == "pages":
            closed_for = message.get("closed_for")
            if not message.get("open") and isinstance(closed_for, (int, float)) and self.serving is not None \
                    and self.serving is not process:
                self.serving.send({"command": "pages-closed", "seconds": closed_for})

    def _on_serve(self, process: AppProcess, settings: dict[str, Any]) -> None:
        process.settings = settings
        if self.reason is not None or process.asked_to_stop:
            process.send({"command": "exit"})
            return
        if self.home is None:
            if not self._establish(settings, process):
                return
        else:
            self.home.note_changed_settings(settings)
        home = self.home
        assert home is not None and process.channel is not None
        try:
            process.channel.send_listener({"command": "listen", "url": home.url, "pid": os.getpid(),
                                           "secret": home.secret, "token": home.token}, home.listener, process.pid)
        except (ChannelClosed, OSError):
            pass            # it is gone already: its end says the rest

    def _establish(self, settings: dict[str, Any], process: AppProcess | None) -> bool:
        """The first settings: the record, the port, the window (False when this run ends here)."""
        try:
            home = AppHome.establish(settings)
        except SystemExit:              # the port cannot be had: the same one line as serve_http
            if process is not None:
                process.send({"command": "exit"})
            self.quiet_end = True
            self._stop("the port cannot be had")
            raise
        if home is None:
            # Another instance of the app is running: the browser was opened there, and this run ends.
            if process is not None:
                process.send({"command": "exit"})
            self.quiet_end = True
            self._stop("another instance is running")
            return False
        self.home = home
        self.watcher.ignore(settings["data_folder"])
        home.greet(self.script.describe())
        home.open_window()
        return True

    def _on_ready(self, process: AppProcess, message: dict[str, Any]) -> None:
        _watch_what_it_loaded(self.watcher, message)
        if process.asked_to_stop or self.reason is not None:
            return
        process.state = process.SERVING
        old, self.serving = self.serving, process
        if self.starting is process:
            self.starting = None
        if old is not None:
            old.ask_to_stop("new code took over")
        if self.stand_in is not None:
            # Before "starts again" is said, the error page must be gone for every new connection.
            self.stand_in.hand_over()
            self.stand_in = None
        if self.failure is not None:
            self.failure = None
            print(f"kali: {self.script.describe()} starts again", flush=True)
        elif process.number > 1:
            took = time.monotonic() - (self._change_seen or process.started)
            print(f"kali: reloaded in {took:.2f} s ({self._why})", flush=True)

    def _show_failure(self, process: AppProcess, failure: dict[str, Any]) -> None:
        """The new code does not start: its error is every page, until a save that starts."""
        if self.starting is process:
            self.starting = None
        if self.serving is not None:
            self.serving.ask_to_stop("the new code does not start")
            self.serving = None
        self.failure = failure
        summary = failure.get("summary") or "it ended without serving"
        said = (f"kali: {self.script.describe()} does not start: {summary}; every page shows the error until "
                f"the next save")
        if self.home is None and not self._establish(default_settings(self.script.stem), None):
            print(said, flush=True)
            return
        assert self.home is not None
        # The page shows this error before the console says so: a request made on seeing the line gets it.
        if self.stand_in is not None:
            self.stand_in.show(summary, failure.get("page"))
        elif not self.home.settings.get("tls"):
            self.stand_in = StandIn(self.home, summary, failure.get("page"))
        print(said, flush=True)

    def _reap(self, now: float) -> None:
        for process in list(self.processes):
            process.escalate(now)
            code = process.process.poll()
            if code is None:
                continue
            if process.channel is not None and not process.channel_closed:
                self._read(process)         # what it said last, before it ended
            process.detach(self.selector)
            self.processes.remove(process)
            if process is self.serving:
                self.serving = None
                if not process.asked_to_stop and process.reason is None and process.failure is None \
                        and self.reason is None:
                    self._show_failure(process, {"summary": f"the app process ended (exit status {code})"})
            elif process is self.starting:
                self.starting = None
                if not process.asked_to_stop and process.failure is None and self.reason is None \
                        and not self.quiet_end:
                    self._show_failure(process, {"summary": f"the app process ended with exit status {code} "
                                                            f"before it served"})

    # -- files and pages ---------------------------------------------------------------------------

    def _on_save(self, changes: list[Change]) -> None:
        """Code changed: a new app process; only pages changed: the open pages reload."""
        if not changes:
            return
        names = sorted({_shown_name(change.path, str(self.script.folder)) for change in changes})
        if any(change.kind == CODE for change in changes):
            self._change_seen = self.saves.first_seen
            self._why = f"{changed_files(names)} changed"
            print(f"kali: {self._why}: starting the new code", flush=True)
            self._start(self._why)
        elif self.serving is not None:
            self.serving.send({"command": "reload-pages", "changed": names})

    def _look_at_pages(self, now: float) -> None:
        """The app window closed, or (while the code does not start) every page closed for the linger: stop."""
        home = self.home
        if home is None or self.reason is not None:
            return
        if home.window_closed():
            self._stop("the app window was closed")
            return
        linger = home.settings.get("linger")
        if self.stand_in is not None and isinstance(linger, (int, float)):
            gone = self.stand_in.events.closed_for(now)
            if gone is not None and gone >= linger:
                self._stop("the last window was closed")

    # -- signals -----------------------------------------------------------------------------------

    def _on_signals(self) -> None:
        """A first signal stops the app (the processes finish what they are doing); a second one at once."""
        for signum in self.signals.take():
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            if self.reason is None:
                # From a terminal, the app process has the same Ctrl-C: the command only repeats it.
                self._stop("Ctrl-C was pressed" if signum == signal.SIGINT else f"{name} was received")
            else:
                for process in self.processes:
                    process.stop_now()
                if self.stand_in is not None:
                    self.stand_in.stop()


def _watch_what_it_loaded(watcher: SourceWatcher, message: dict[str, Any]) -> None:
    """Watch the modules and templates an app process says it loaded."""
    for path in message.get("modules") or ():
        watcher.watch(path, CODE)
    for entry in message.get("templates") or ():
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str):
            watcher.watch(entry[0], PAGES, seen=entry[1] if isinstance(entry[1], list) else None)


def changed_files(names: list[str], most: int = 3) -> str:
    """The changed files as the console names them: all of a few, else the first ones and a count.

    A folder of sources unpacked beside the script (a checkout, a download) changes hundreds
    of files at once; one line must still say what happened.
    """
    if len(names) <= most + 1:
        return ", ".join(names)
    return f"{', '.join(names[:most])} and {len(names) - most} other files"


def _shown_name(path: str, root: str) -> str:
    """`path` as the console names it: relative to the app's folder when it is inside it."""
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


class _Exit(NamedTuple):
    """Selector data: the process whose exit descriptor became readable (it ended)."""

    process: AppProcess


class _Connections:
    """Windows: the loopback socket app processes connect to; each connection names its process by token."""

    def __init__(self, supervisor: Supervisor) -> None:
        from .server import listening_socket
        self.supervisor = supervisor
        self.listener = listening_socket("127.0.0.1", 0)
        supervisor.selector.register(self.listener, selectors.EVENT_READ, self.listener)

    def on_readable(self, data: Any) -> None:
        """A new connection (`data` is the listener), or the first message of one (`data` is its Channel)."""
        selector = self.supervisor.selector
        if data is self.listener:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, Channel(sock))
            return
        channel: Channel = data
        try:
            messages = channel.receive_ready()
        except ChannelClosed:
            messages = []
        if not messages and not channel.closed:
            return
        selector.unregister(channel.sock)
        token = messages[0].get("token") if messages else None
        owner = next((p for p in self.supervisor.processes if p.channel is None and p.token == token), None)
        if owner is None:
            channel.close()
            return
        owner.channel = channel
        selector.register(channel.sock, selectors.EVENT_READ, owner)
        for message in messages[1:]:
            self.supervisor._on_message(owner, message)

    def close(self) -> None:
        """Close the listening socket."""
        self.listener.close()


class _SignalInbox:
    """SIGINT and SIGTERM, noted by their handler and read by the supervisor's loop, which they wake."""

    def __init__(self) -> None:
        self.wake, self._wake_w = socket.socketpair()
        for end in (self.wake, self._wake_w):
            end.setblocking(False)
        self._received: list[int] = []
        self._taken = 0

    def install(self) -> Any:
        """Handle the signals from now on (main thread only); returns what puts the old handlers back."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            self._received.append(signum)

        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, on_signal)
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

        def restore() -> None:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return restore

    def take(self) -> list[int]:
        """The signals received since the last call."""
        taken = self._received[self._taken:]
        self._taken += len(taken)
        return taken

    def drain(self) -> None:
        """Empty the wake-up socket."""
        try:
            while self.wake.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        """Close the wake-up socket's two ends."""
        self.wake.close()
        self._wake_w.close()
