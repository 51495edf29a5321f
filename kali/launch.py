"""The life of an app as a program: `serve_http` starts it, keeps it to one instance, opens its window, stops it.

`kali.server` is the loop and knows nothing of what is here:

- environment overrides (`KALI_PORT`, `KALI_NO_BROWSER`, `KALI_WINDOW`,
  `KALI_QUIT_AFTER`) and the handler stack the app is served behind
  (`kali.exchange.compose_handler`, with kali's live channels);
- the app's identity and the single-instance record (`kali.instance`): a second
  launch finds the first one and opens the browser there instead;
- a port that stays: the one used last time, else 8080, else the next free one,
  bound first and never probed (`choose_listener`);
- the window (`kali.window`) and quitting when the last page closes
  (`kali.presence`), watched by `kali.lifetime.Lifetime`;
- signals (a second Ctrl-C stops at once) and, on every way out, checkpointing
  every database and releasing the record.

A supervisor (`run --reload`) that owns the socket, the record and the window
starts the app in a child process with `KALI_LISTEN_FD`: `serve_http` then
serves that inherited socket and leaves the record, the port and the window alone.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

from .exchange import compose_handler
from .lifetime import Interrupted, Lifetime
from .log import get_logger
from .response import Handler
from .security import TOKEN_PARAMETER, SecurityWrapper, is_loopback_address
from .server import Server, listening_socket

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Iterable
    from pathlib import Path

__all__ = ["serve_http", "choose_listener", "FIRST_PORT", "LISTEN_FD_VARIABLE", "RELOAD_VARIABLE", "DEFAULT_LINGER"]

logger = get_logger()

#: The port an app tries the first time (then the next free ones, then any).
FIRST_PORT = 8080
#: How many ports from the preferred one are tried before any free port is taken.
_PORTS_TRIED = 20
#: Seconds without an open page before an app that quits when closed stops.
DEFAULT_LINGER = 10.0
#: How long a second launch waits for the running instance to answer its ping.
_JOIN_SECONDS = 5.0
#: A supervisor's child process serves the listening socket inherited as this file descriptor.
LISTEN_FD_VARIABLE = "KALI_LISTEN_FD"
#: KALI_RELOAD=1: the process becomes the `run --reload` supervisor (kali.reload) and runs the app in child processes.
RELOAD_VARIABLE = "KALI_RELOAD"
#: How long the private launch page stays on disk after the browser was asked to open it.
_LAUNCH_PAGE_SECONDS = 60
#: The page a second launch of a private app opens, in its data folder.
_SECOND_LAUNCH_PAGE = "kali-open.html"


def serve_http(handler: Handler, *, port: int | None = None, address: str = "127.0.0.1",
               start: str | None = "", timeout: float = 1.0, request_timeout: float = 10.0,
               max_body_size: int | None = 4 << 30, debug: bool | None = None,
               access_log: bool = True, ssl_context: Any = None, secure: bool = True,
               allowed_hosts: Iterable[str] = (), allow_cross_site: Iterable[str] = (),
               private: bool = False, app_name: str | None = None, single_instance: bool = True,
               window: str = "app", quit_when_closed: bool | float | None = None) -> None:
    """Serve `handler` on one thread as a program: one instance, its own window, until it is closed or stopped.

    It runs until the last page of the app has been closed for a while (when
    kali opened the window itself, or `quit_when_closed` says so), Ctrl-C,
    SIGTERM or a `shut_down` response.  Without `port`, the app uses the port
    it used last time (8080, or the next free one, the first time).  A second
    launch of the same `app_name` opens the browser at the running instance
    and returns.  `window="app"` opens a window of its own in a Chromium-family
    browser when one is installed, else a tab (`window="tab"`).

    `KALI_PORT` (0: any free port), `KALI_NO_BROWSER=1`, `KALI_WINDOW=app|tab`
    and `KALI_QUIT_AFTER=SECONDS` override the arguments, so scripts and
    tests can run any app unattended.  Unless `secure=False` the handler is
    wrapped by `kali.security.secure` (see docs/security.md); `private=True`
    also requires the launch token the browser is opened with; `debug`
    (tracebacks on 500 pages, only ever shown to this machine) defaults to on
    for loopback binds.  See docs/launching.md for the whole life of an app.
    """
    port, start, window, linger = _settings(port, start, window, quit_when_closed)
    loopback = is_loopback_address(address)
    if debug is None:
        debug = loopback
    from .instance import InstanceRecord, PingChannel, default_app_name
    name = app_name if app_name is not None else default_app_name()
    from .sqlite import data_folder
    folder = data_folder(name, create=False)        # checks the name before anything happens
    allowed_hosts = tuple(allowed_hosts)
    # An app that secured itself names its hosts there.
    hosts = handler.allowed_hosts if isinstance(handler, SecurityWrapper) else allowed_hosts
    if secure and not loopback and not hosts:
        raise ValueError(
            f"serve_http(address={address!r}) makes the app reachable from other machines, so it must "
            f"name the hosts browsers will use to reach it: pass allowed_hosts=[...] (for example "
            f"the machine's name or IP address), or bind to address='127.0.0.1' to keep it private")
    child = _reload_child()
    if child is None and _env_flag(RELOAD_VARIABLE) and _supervise():
        return          # this process was the reload supervisor; the app ran in its child processes
    token: str | None = None
    if private and child is None:
        import secrets
        token = secrets.token_urlsafe(32)
    grant = None
    if child is not None:
        # An app process of `run --reload`: the supervisor owns the socket, the record and the window.
        grant = child.announce({
            "app": name, "address": address, "port": port, "start": start, "window": window, "linger": linger,
            "private": private, "single_instance": single_instance, "tls": ssl_context is not None,
            "allowed_hosts": list(hosts), "data_folder": str(folder)})
        if grant is None:
            return      # another instance of the app is running: the supervisor opened the browser there
        inherited: socket.socket | None = grant.listener
        token = grant.token if private else None
    else:
        inherited = _inherited_listener()
    channels: dict[str, Any] = {}
    events = None
    if linger is not None or child is not None:
        # Under --reload every page keeps the stream open: it is how the pages learn of new code.
        from .presence import EventChannel
        events = channels["events"] = EventChannel(stamp_pages=child is not None)
    record = None
    ping: PingChannel | None = None
    if single_instance and inherited is None:
        channels["ping"] = ping = PingChannel(name)
    elif grant is not None and grant.secret is not None:
        # The record is the supervisor's: the ping proves its secret and names its pid.
        channels["ping"] = reload_ping = PingChannel(name, pid=grant.pid)
        reload_ping.url, reload_ping.secret = grant.url, grant.secret
    handler = compose_handler(handler, secure=secure, allowed_hosts=allowed_hosts,
                              allow_cross_site=allow_cross_site, private_token=token, debug=debug,
                              caller="serve_http()", channels=channels)
    _configure_logging(access_log)

    if inherited is None:
        folder = data_folder(name)
        if single_instance:
            record = InstanceRecord(folder)
            if not record.acquire() and _join_running_instance(record, name, start, window, folder):
                return
    lifetime: Lifetime | None = None
    launch_folder: str | None = None
    try:
        if inherited is not None:
            listener = inherited
        else:
            remembered = record.remembered_port() if record is not None else _remembered_port(folder)
            listener, note = _listen(address, port, remembered)
            if note:
                print(f"kali: {note}", flush=True)
        server = Server(handler, timeout=timeout, request_timeout=request_timeout,
                        max_body_size=max_body_size, debug=debug, ssl_context=ssl_context, sock=listener)
        lifetime = Lifetime(server, events=events, linger=linger)
        # Before the URL is printed: whoever reads it may stop the app at once.
        lifetime.handle_signals()
        try:
            if not loopback:
                _warn_about_the_network(server, address, hosts if secure else None)
            if record is not None and ping is not None:
                # Published before the URL is printed: a second launch that saw it finds the record.
                ping.url = server.url
                ping.secret = record.publish(app=name, url=server.url, port=server.port, token=token)
            if child is not None:
                assert events is not None
                child.ready(events, lifetime)       # the supervisor said where the app is served
            else:
                print(f"kali: serving {server.url}", flush=True)
            url = server.url + (start or "").lstrip("/")
            if token is not None and child is None:
                url += ("&" if "?" in url else "?") + f"{TOKEN_PARAMETER}={token}"
                print(f"kali: private app: open {url}", flush=True)
            if start is not None and inherited is None:
                if token is not None:
                    # A URL given to the browser lands on its command line, which other users of the
                    # machine can read (ps); a page only this user can read carries the token instead.
                    launch_folder, url = _private_launch_page(url)
                lifetime.window = _open_window(url, window, folder, name, cleanup=launch_folder)
                lifetime.tab_url = url
        except Interrupted as interruption:
            lifetime.interrupted(interruption)
            server.close()
        else:
            lifetime.run()
    finally:
        # Every way out, an exception escaping the loop included: the window closes, every
        # database is checkpointed (the .sqlite3 file alone then holds every committed row)
        # and the record is released for the next launch.
        try:
            if lifetime is not None:
                lifetime.close_window()
            if "kali.sqlite" in sys.modules:
                from .sqlite import close_all_databases
                close_all_databases()
        finally:
            if record is not None:
                record.release()
                # A second launch's page for a private app: its token is dead now.
                (folder / _SECOND_LAUNCH_PAGE).unlink(missing_ok=True)
            if launch_folder is not None:
                import shutil
                shutil.rmtree(launch_folder, ignore_errors=True)
            if lifetime is not None:
                lifetime.restore_signals()
    if child is not None:
        child.stopped(lifetime.reason)      # the supervisor says why the app stopped
    else:
        print(f"kali: stopped ({lifetime.reason})", flush=True)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _settings(port: int | None, start: str | None, window: str,
              quit_when_closed: bool | float | None) -> tuple[int | None, str | None, str, float | None]:
    """(port, start, window, linger) after the environment, which wins over the app's arguments.

    `linger` is None when the app does not quit once its pages are closed, else
    the seconds it waits for one to open again.
    """
    env_port = os.environ.get("KALI_PORT", "").strip()
    if env_port:
        if not env_port.isdigit() or int(env_port) > 65535:
            raise ValueError(f"KALI_PORT must be a port number, not {env_port!r}")
        port = int(env_port)
    elif port is not None and (type(port) is not int or not 0 <= port <= 65535):
        raise ValueError(f"serve_http(port={port!r}): a port is a number from 0 to 65535 (0: any free port)")
    if _env_flag("KALI_NO_BROWSER"):
        start = None
    env_window = os.environ.get("KALI_WINDOW", "").strip().lower()
    if env_window:
        if env_window not in ("app", "tab"):
            raise ValueError(f"KALI_WINDOW must be 'app' or 'tab', not {env_window!r}")
        window = env_window
    elif window not in ("app", "tab"):
        raise ValueError(f"serve_http(window={window!r}): a window is 'app' (a window of its own) or 'tab'")
    linger: float | None
    env_linger = os.environ.get("KALI_QUIT_AFTER", "").strip()
    if env_linger:
        try:
            linger = float(env_linger)
        except ValueError:
            linger = -1.0
        if not 0 <= linger < float("inf"):
            raise ValueError(f"KALI_QUIT_AFTER must be a number of seconds, not {env_linger!r}")
    elif quit_when_closed is None:
        # Quit when closed exactly when kali opened the window or tab itself.
        linger = DEFAULT_LINGER if start is not None else None
    elif quit_when_closed is True:
        linger = DEFAULT_LINGER
    elif quit_when_closed is False:
        linger = None
    elif isinstance(quit_when_closed, (int, float)) and 0 <= quit_when_closed < float("inf"):
        linger = float(quit_when_closed)
    else:
        raise ValueError(f"serve_http(quit_when_closed={quit_when_closed!r}): True, False, None or seconds")
    return port, start, window, linger


def _reload_child() -> Any:
    """This process's link to its `run --reload` supervisor, if it is one of its app processes."""
    # Only an app process started by the supervisor has loaded kali.reload_child (its bootstrap
    # did): a plain app never pays for importing it.
    module = sys.modules.get(__package__ + ".reload_child")
    return module.current() if module is not None else None


def _supervise() -> bool:
    """Become the `run --reload` supervisor of this process's script (KALI_RELOAD=1); False without a script."""
    from .app_script import AppScript
    script = AppScript.of_main()
    if script is None:
        logger.warning("%s=1 needs an app script to run again (this is an interactive session): serving "
                       "without reloading", RELOAD_VARIABLE)
        return False
    from .reload import supervise
    supervise(script, sys.argv[1:])
    return True


def _inherited_listener() -> socket.socket | None:
    """The listening socket a supervisor handed down (KALI_LISTEN_FD), if any."""
    value = os.environ.get(LISTEN_FD_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{LISTEN_FD_VARIABLE} must be a file descriptor number, not {value!r}")
    sock = socket.socket(fileno=int(value))
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"{LISTEN_FD_VARIABLE}={value} is not a stream socket")
    return sock


def _remembered_port(folder: Path) -> int | None:
    from .instance import InstanceRecord
    return InstanceRecord(folder).remembered_port()


# -- the port ----------------------------------------------------------------------------------

def _busy(exc: OSError) -> bool:
    """Whether a bind failed because the port is taken (or reserved), rather than the address being wrong."""
    codes = {errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", -1), getattr(errno, "WSAEACCES", -1)}
    return exc.errno in codes or getattr(exc, "winerror", None) in (10048, 10013)


def choose_listener(address: str, port: int | None, remembered: int | None = None, *,
                    first: int = FIRST_PORT) -> tuple[socket.socket, str | None]:
    """A listening socket for the app, and a note saying why it is not on the port it preferred.

    An explicit `port` is bound or fails (OSError).  Without one, the remembered
    port (else `first`) is tried, then the next ports, then any free port.  Each
    candidate is bound, never probed: the port a note names is the one held.
    """
    if port is not None:
        return listening_socket(address, port), None
    preferred = remembered or first
    candidates = [p for p in range(preferred, preferred + _PORTS_TRIED) if p <= 65535]
    for candidate in candidates:
        try:
            sock = listening_socket(address, candidate)
        except OSError as exc:
            if not _busy(exc):
                raise
            continue
        if candidate == preferred:
            return sock, None
        break
    else:
        sock = listening_socket(address, 0)
    why = "the port it used last time" if remembered else "its usual port"
    return sock, (f"port {preferred} ({why}) is taken by another program, so this time the app "
                  f"is on port {sock.getsockname()[1]}")


def _listen(address: str, port: int | None, remembered: int | None) -> tuple[socket.socket, str | None]:
    """choose_listener, with a one-line error and exit status 1 instead of a traceback."""
    try:
        return choose_listener(address, port, remembered)
    except OSError as exc:
        if port is not None and _busy(exc) and exc.errno != errno.EACCES:
            raise SystemExit(f"kali: port {port} is already in use by another program: choose another "
                             f"(port= or KALI_PORT=), or give none and kali picks a free one") from None
        where = f"{address}:{port}" if port is not None else address
        raise SystemExit(f"kali: cannot listen on {where}: {exc.strerror or exc}") from None


# -- a second launch -----------------------------------------------------------------------------

def _join_running_instance(record: Any, name: str, start: str | None, window: str, folder: Path) -> bool:
    """Open the browser at the instance already running; False if it stopped meanwhile (this launch takes over).

    Exits with a one-line error when the instance holding the lock does not answer.
    """
    import time
    from .instance import ping
    deadline = time.monotonic() + _JOIN_SECONDS
    while True:
        found = record.read()
        if ping(found, timeout=1.0):
            break
        if record.acquire():
            return False                # it stopped between our two looks: take over
        if time.monotonic() >= deadline:
            pid = found.get("pid")
            who = f"pid {pid}" if isinstance(pid, int) else "another process"
            where = f" at {found['url']}" if isinstance(found.get("url"), str) else ""
            raise SystemExit(f"kali: {name} is already running ({who} holds {record.lock_path}) but does not "
                             f"answer{where}; stop that process (or wait for it) and start the app again")
        time.sleep(0.1)
    url = found["url"]
    print(f"kali: {name} is already running at {url}", flush=True)
    if start is not None:
        target = url + start.lstrip("/")
        token = found.get("token")
        if isinstance(token, str):
            target += ("&" if "?" in target else "?") + f"{TOKEN_PARAMETER}={token}"
            target = _launch_page_in(folder, target)
        _open_window(target, window, folder, name, wait=1.0)
    return True


# -- the window ----------------------------------------------------------------------------------

def _open_window(url: str, window: str, folder: Path, name: str, *, cleanup: str | None = None,
                 wait: float = 0.0) -> Any:
    """Open `url` as the app's window or a tab; the AppWindow when kali started a browser process.

    `wait`: seconds to wait for the window to fail (and a tab to be opened instead) before returning.
    """
    from . import window as windows
    if window == "app":
        browser = windows.find_chromium()
        if browser is not None and windows.can_show_window():
            try:
                started = windows.AppWindow.start(browser, url, folder / windows.PROFILE_FOLDER, name=name)
            except OSError as exc:
                print(f"kali: could not start {browser} ({exc}); opening a tab instead", flush=True)
            else:
                if not wait or started.wait_started(wait) != started.FAILED:
                    return started
                print(f"kali: the app window did not open ({started.failure()}); opening a tab instead",
                      flush=True)
    opening = windows.open_tab(url, cleanup=cleanup, keep_seconds=_LAUNCH_PAGE_SECONDS)
    if wait:
        opening.join(wait)          # this process is about to exit: let the browser be asked first
    return None


def _warn_about_the_network(server: Server, address: str, hosts: tuple[str, ...] | None) -> None:
    if address in ("", "0.0.0.0", "::"):
        where = f"every network interface ({address or '*'}:{server.port})"
        reach = f"this machine's port {server.port}"
    else:
        where = reach = f"{address}:{server.port}"
    names = f"it answers to {', '.join(hosts)}" if hosts is not None else "secure=False: no Host or cross-site checks"
    logger.warning("listening on %s, not only on this machine: anyone on the network who can reach %s "
                   "can use this app (%s)", where, reach, names)


def _configure_logging(access_log: bool) -> None:
    import logging      # the app is starting: its log is needed now, not at `import kali`
    from .console_log import AccessLogHandler, ClockFormatter
    kali_logger = logging.getLogger("kali")
    if not kali_logger.handlers and not logging.getLogger().handlers:
        handler = AccessLogHandler()
        handler.setFormatter(ClockFormatter())
        kali_logger.addHandler(handler)
    if kali_logger.level == logging.NOTSET:
        kali_logger.setLevel(logging.INFO if access_log else logging.WARNING)


def _launch_page(url: str) -> str:
    import html
    link = html.escape(url)
    return (f'<!DOCTYPE html>\n<meta charset="utf-8"><meta http-equiv="refresh" content="0;url={link}">'
            f'<title>Opening the app</title>\n<p><a href="{link}">Open the app</a></p>\n')


def _private_launch_page(url: str) -> tuple[str, str]:
    """A page readable by this user only that sends the browser on to `url`: (its folder, its URL)."""
    import tempfile
    from pathlib import Path
    folder = tempfile.mkdtemp(prefix="kali-launch-")         # mode 0700
    path = os.path.join(folder, "open.html")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_launch_page(url))
    return folder, Path(path).as_uri()


def _launch_page_in(folder: Path, url: str) -> str:
    """The launch page for a second launch of a private app, in its (private) data folder: its URL.

    This process exits at once, so the page stays; it holds the running instance's token,
    which the instance record beside it holds too.
    """
    path = folder / _SECOND_LAUNCH_PAGE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_launch_page(url))
    return path.as_uri()
