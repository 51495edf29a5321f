"""The life of an app as a program: `serve_http` starts it, opens the browser and stops it on a signal.

`kali.server` is the loop and knows nothing of what is here: environment
overrides (`KALI_PORT`, `KALI_NO_BROWSER`), the handler stack an app is served
behind (`kali.exchange.compose_handler`), the log set-up, the browser (and,
for a private app, the launch page that carries its token), the signal
handlers, and tidying up on the way out.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from .exchange import compose_handler
from .log import get_logger
from .response import Handler
from .security import TOKEN_PARAMETER, SecurityWrapper, is_loopback_address
from .server import Server

__all__ = ["serve_http"]

logger = get_logger()

#: How long the private launch page stays on disk after the browser was asked to open it.
_LAUNCH_PAGE_SECONDS = 60


def serve_http(handler: Handler, *, port: int = 8080, address: str = "127.0.0.1",
               start: str | None = "", timeout: float = 1.0, request_timeout: float = 10.0,
               max_body_size: int | None = 4 << 30, debug: bool | None = None,
               access_log: bool = True, ssl_context: Any = None, secure: bool = True,
               allowed_hosts: Iterable[str] = (), allow_cross_site: Iterable[str] = (),
               private: bool = False) -> None:
    """Serve `handler` on one thread until Ctrl-C, SIGTERM or a `shut_down` response.

    `KALI_PORT` (0 picks a free port) and `KALI_NO_BROWSER=1` override the
    arguments, so scripts and tests can run any app unattended.

    Unless `secure=False`, the handler is wrapped by `kali.security.secure`:
    only requests naming this server in `Host` (plus `allowed_hosts`) are
    answered, other sites cannot POST/PUT/PATCH/DELETE (except to the
    `allow_cross_site` path patterns), and every response gets protective
    headers.  `private=True` also requires the launch token the browser is
    opened with.  `debug` (tracebacks on 500 pages, only ever shown to this
    machine) defaults to on for loopback binds and off otherwise.
    """
    port, start = _environment_overrides(port, start)
    loopback = is_loopback_address(address)
    if debug is None:
        debug = loopback
    token: str | None = None
    if private:
        import secrets
        token = secrets.token_urlsafe(32)
    handler = compose_handler(handler, secure=secure, allowed_hosts=allowed_hosts,
                              allow_cross_site=allow_cross_site, private_token=token, debug=debug,
                              caller="serve_http()")
    # An app that secured itself names its hosts there.
    hosts = handler.allowed_hosts if isinstance(handler, SecurityWrapper) else ()
    if secure and not loopback and not hosts:
        raise ValueError(
            f"serve_http(address={address!r}) makes the app reachable from other machines, so it must "
            f"name the hosts browsers will use to reach it: pass allowed_hosts=[...] (for example "
            f"the machine's name or IP address), or bind to address='127.0.0.1' to keep it private")
    _configure_logging(access_log)
    server = Server(handler, port=port, address=address, timeout=timeout,
                    request_timeout=request_timeout, max_body_size=max_body_size, debug=debug,
                    ssl_context=ssl_context)
    if not loopback:
        _warn_about_the_network(server, address, hosts if secure else None)
    print(f"kali: serving {server.url}", flush=True)
    url = server.url + (start or "").lstrip("/")
    if token is not None:
        url += ("&" if "?" in url else "?") + f"{TOKEN_PARAMETER}={token}"
        print(f"kali: private app: open {url}", flush=True)
    launch_folder: str | None = None
    if start is not None:
        if token is not None:
            # A URL given to the browser lands on its command line, which other users of the
            # machine can read (ps); a page only this user can read carries the token instead.
            launch_folder, launch_url = _private_launch_page(url)
            _open_browser(launch_url, cleanup=launch_folder)
        else:
            _open_browser(url)
    restore = _install_signal_handlers(server)
    try:
        server.run()
    finally:
        restore()
        if launch_folder is not None:
            import shutil
            shutil.rmtree(launch_folder, ignore_errors=True)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _environment_overrides(port: int, start: str | None) -> tuple[int, str | None]:
    """(port, start) after KALI_PORT and KALI_NO_BROWSER, which win over the app's arguments."""
    env_port = os.environ.get("KALI_PORT", "").strip()
    if env_port:
        if not env_port.isdigit() or int(env_port) > 65535:
            raise ValueError(f"KALI_PORT must be a port number, not {env_port!r}")
        port = int(env_port)
    if _env_flag("KALI_NO_BROWSER"):
        start = None
    return port, start


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


def _private_launch_page(url: str) -> tuple[str, str]:
    """A page readable by this user only that sends the browser on to `url`: (its folder, its URL)."""
    import html
    from pathlib import Path
    import tempfile
    folder = tempfile.mkdtemp(prefix="kali-launch-")         # mode 0700
    path = os.path.join(folder, "open.html")
    link = html.escape(url)
    page = (f'<!DOCTYPE html>\n<meta charset="utf-8"><meta http-equiv="refresh" content="0;url={link}">'
            f'<title>Opening the app</title>\n<p><a href="{link}">Open the app</a></p>\n')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    return folder, Path(path).as_uri()


def _open_browser(url: str, cleanup: str | None = None) -> None:
    def target() -> None:
        import webbrowser
        try:
            webbrowser.open(url)
        except Exception as exc:    # a missing browser must not stop the app
            logger.warning("could not open a browser: %s", exc)
        if cleanup is not None:
            time.sleep(_LAUNCH_PAGE_SECONDS)     # long enough for the browser to read the launch page
            import shutil
            shutil.rmtree(cleanup, ignore_errors=True)
    # Some platforms' webbrowser.open waits for the browser process; the loop must not.
    import threading
    threading.Thread(target=target, name="kali-browser", daemon=True).start()


def _install_signal_handlers(server: Server) -> Callable[[], None]:
    """Stop `server` on SIGINT/SIGTERM (main thread only); returns what puts the old handlers back."""
    import signal       # here: building its enums costs start-up time, and only serve_http needs it
    import threading
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        logger.info("signal %d: finishing responses in flight, then stopping", signum)
        server.stop()

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore
