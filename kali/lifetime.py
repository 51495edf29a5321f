"""How a running app comes to stop, and why: a signal (a second one stops at once), its window closed, its last page gone.

`Lifetime.run` serves until one of these happens:

- Ctrl-C or SIGTERM: the loop finishes the responses in flight, then returns;
  if that takes more than a second the console says "press Ctrl-C again", and
  a second signal raises `Interrupted` out of the signal handler, so even a
  handler stuck in Python code is abandoned at once (SQLite rolls back what it
  left open when the launcher closes the databases);
- the app window kali started exits (the user closed it);
- no page of the app has been open for `linger` seconds (`kali.presence`);
- a response with `shut_down=True`.

The window and the pages are watched by a small thread, which only reads
counters and calls `Server.stop()` (safe from any thread): application code
still runs on the loop's thread alone.
"""

from __future__ import annotations

import socket
import time

from .log import get_logger

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable
    import threading

    from .presence import EventChannel
    from .server import Server
    from .window import AppWindow

__all__ = ["Lifetime", "Interrupted", "leave_signals_to_the_main_thread", "look_at_window"]

logger = get_logger()

#: How often the watcher looks at the window and the pages (seconds).
_TICK = 0.5
#: How long a stop may take before the console offers to stop at once.
_PATIENCE = 1.0


def leave_signals_to_the_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling (non-main) thread, so the kernel delivers them to the main one.

    A signal delivered to another thread sets Python's flag but interrupts nothing in the
    main thread: a handler sleeping there, or the loop waiting in select(), would not see
    it until they return by themselves.
    """
    import signal
    import threading
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def look_at_window(window: AppWindow, tab_url: str | None) -> tuple[AppWindow | None, bool]:
    """(the window still to watch, or None; whether the user closed it), after one look at its browser.

    A window that failed to open is replaced by a tab at `tab_url`.
    """
    state = window.state()
    if state == window.CLOSED:
        return None, True
    if state == window.FAILED:
        print(f"kali: the app window did not open ({window.failure()}); opening a tab instead", flush=True)
        if tab_url is not None:
            from .window import open_tab
            open_tab(tab_url)
        return None, False
    if state == window.HANDED_OFF:
        # The URL went to a browser already running with this profile: the pages say when it closes.
        return None, False
    return window, False


class Interrupted(BaseException):
    """Raised out of the signal handler by a second Ctrl-C/SIGTERM: the request in flight is abandoned.

    A BaseException, so the handler's own `except Exception` cannot swallow it.
    """


class Lifetime:
    """Why and when one server stops (see the module docstring); `reason` says why it did."""

    def __init__(self, server: Server, *, events: EventChannel | None = None, linger: float | None = None) -> None:
        self.server = server
        #: The event channel whose open streams are the open pages (None: not watched).
        self.events = events
        #: Seconds without an open page before stopping (None: never stop for that).
        self.linger = linger
        #: The app window kali started, watched for its exit.
        self.window: AppWindow | None = None
        #: What a tab opens if the app window fails to start.
        self.tab_url: str | None = None
        #: Why the server stopped (or is stopping): 'Ctrl-C was pressed', 'the last window was closed'...
        self.reason: str | None = None
        self._stop_asked: float | None = None
        self._signalled = False
        self._finishing = False
        import threading    # a server is starting: `import kali` need not load it
        self._done = threading.Event()
        self._restore: Callable[[], None] = lambda: None
        self._wake: socket.socket | None = None
        self._previous_wakeup = -1

    def stop(self, reason: str, *, finish_requests: bool = False) -> None:
        """Ask the server to finish the responses in flight and stop (safe from any thread or signal handler).

        `finish_requests`: answer the requests still arriving on accepted connections too (`Server.stop`).
        """
        if self.reason is None:
            self.reason = reason
        if self._stop_asked is None:
            self._stop_asked = time.monotonic()
        self.server.stop(finish_requests=finish_requests)

    def handle_signals(self) -> None:
        """Handle SIGINT and SIGTERM from now on (until `restore_signals`): call before the URL is printed."""
        self._restore = self._install_signal_handlers()

    def run(self) -> None:
        """Serve until the server stops; signals stay handled until `restore_signals` (cleanup is not cut short)."""
        import threading
        watcher = threading.Thread(target=self._watch, name="kali-lifetime", daemon=True)
        watcher.start()
        try:
            self.server.run()
        except Interrupted as interruption:
            self.interrupted(interruption)
        finally:
            self._finishing = True
            self._done.set()
            self._stop_waking_on_signals()
        if self.reason is None:
            self.reason = "a response asked the app to stop (shut_down)"

    def interrupted(self, interruption: Interrupted) -> None:
        """Note that a second signal stopped the app at once (whatever it was doing)."""
        self._finishing = True
        self._done.set()
        self._stop_waking_on_signals()
        self.reason = f"at once, by a second {interruption.args[0]}: the request in flight was abandoned"

    def close_window(self) -> None:
        """Close the app window kali started, if it is still open."""
        window, self.window = self.window, None
        if window is not None:
            window.close()

    def restore_signals(self) -> None:
        """Put back the signal handlers that were there before `run`."""
        restore, self._restore = self._restore, lambda: None
        restore()

    # -- the watcher -----------------------------------------------------------------------------

    def _watch(self) -> None:
        leave_signals_to_the_main_thread()
        offered = False
        while not self._done.wait(_TICK):
            now = time.monotonic()
            if self._stop_asked is not None:
                if not offered and now - self._stop_asked >= _PATIENCE:
                    offered = True
                    again = " again" if self._signalled else ""
                    print(f"kali: still finishing a response; press Ctrl-C{again} to stop at once", flush=True)
                continue
            try:
                self._look(now)
            except Exception:
                logger.exception("watching the app's window failed")

    def _look(self, now: float) -> None:
        if self.window is not None:
            self.window, closed = look_at_window(self.window, self.tab_url)
            if closed:
                self.stop("the app window was closed")
                return
        if self.events is not None and self.linger is not None:
            gone = self.events.closed_for(now)
            if gone is not None and gone >= self.linger:
                self.stop("the last window was closed")

    # -- signals ---------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        """Handle SIGINT/SIGTERM (main thread only); returns what puts the old handlers back."""
        import signal       # here: building its enums costs start-up time, and only serve_http needs it
        import threading
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            if self._finishing:
                return          # checkpointing and closing: a second press must not cut that short
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            if self._stop_asked is not None:
                # Stopping at once now: a further signal (the terminal's and the reload
                # supervisor's at the same moment) must not interrupt the cleanup.
                self._finishing = True
                raise Interrupted(name)
            self._signalled = True
            logger.info("signal %d: finishing responses in flight, then stopping", signum)
            self.stop("Ctrl-C was pressed" if signum == signal.SIGINT else f"{name} was received")

        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, on_signal)
        self._wake_on_signals()

        def restore() -> None:
            self._stop_waking_on_signals()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return restore

    def _wake_on_signals(self) -> None:
        """Have a signal wake the loop from select(), even one the kernel delivered to another thread."""
        import signal
        wake = self.server.wakeup_socket()
        wake.setblocking(False)
        try:
            self._previous_wakeup = signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            wake.close()
            return
        self._wake = wake

    def _stop_waking_on_signals(self) -> None:
        """Put the previous wakeup fd back and close ours (the loop is gone: nothing reads it)."""
        wake, self._wake = self._wake, None
        if wake is not None:
            import signal
            signal.set_wakeup_fd(self._previous_wakeup)
            wake.close()
