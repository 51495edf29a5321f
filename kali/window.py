"""The app's window: a Chromium-family browser in app mode with its own profile, or a tab of the default browser.

`window="app"`: when Chrome, Chromium, Edge or Brave is installed, kali starts
it itself with `--app=URL` (a window without tabs or address bar) and a
browser profile kept in the app's data folder, so the window does not clash
with the user's running browser and the app's cookies live with the app.
kali holds the browser's process (`AppWindow`): when that process ends, the
user closed the window; when kali stops, it closes the window it started.

`window="tab"`, or when no such browser is found (or there is no display):
the default browser opens a tab (`webbrowser`, which honours `$BROWSER`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Sequence

__all__ = ["WINDOW_MODES", "PROFILE_FOLDER", "find_chromium", "can_show_window", "AppWindow", "open_tab",
           "browser_candidates"]

logger = logging.getLogger("kali")

#: The values of serve_http(window=...) and KALI_WINDOW.
WINDOW_MODES = ("app", "tab")
#: The app window's browser profile, in the app's data folder.
PROFILE_FOLDER = "kali-browser"
#: A browser that exits within this many seconds of its start did not open a window of its own:
#: with a failure (no display, a broken install) or by handing the URL to a browser already
#: running with the same profile.
STARTUP_SECONDS = 5.0

# Program names on PATH (Linux, BSD, and macOS command-line installs), in order of preference.
_PATH_NAMES = ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser", "microsoft-edge",
               "microsoft-edge-stable", "brave-browser", "brave")
# macOS application bundles: (bundle, executable inside Contents/MacOS).
_MAC_APPS = (("Google Chrome.app", "Google Chrome"), ("Chromium.app", "Chromium"),
             ("Microsoft Edge.app", "Microsoft Edge"), ("Brave Browser.app", "Brave Browser"))
# Windows installs, under %LOCALAPPDATA% (per user) and the program folders (per machine).
_WINDOWS_PATHS = (r"Google\Chrome\Application\chrome.exe", r"Chromium\Application\chrome.exe",
                  r"Microsoft\Edge\Application\msedge.exe", r"BraveSoftware\Brave-Browser\Application\brave.exe")


def browser_candidates(platform: str = sys.platform, environ: Any = None) -> list[str]:
    """Where a Chromium-family browser is looked for on `platform`, in order (paths or PATH names)."""
    env = os.environ if environ is None else environ
    if platform == "win32":
        bases = [env.get(name) for name in ("LOCALAPPDATA", "PROGRAMFILES", "PROGRAMFILES(X86)", "ProgramW6432")]
        found = [base.rstrip("\\/") + "\\" + path for path in _WINDOWS_PATHS for base in bases if base]
        return found + ["chrome", "msedge"]
    if platform == "darwin":
        home = env.get("HOME") or str(Path.home())
        return ([f"{root}/{bundle}/Contents/MacOS/{program}" for bundle, program in _MAC_APPS
                 for root in ("/Applications", f"{home}/Applications")] + list(_PATH_NAMES))
    return list(_PATH_NAMES)


def find_chromium() -> str | None:
    """The path of an installed Chromium-family browser (Chrome, Chromium, Edge, Brave), or None."""
    for candidate in browser_candidates():
        if os.sep in candidate or (os.altsep and os.altsep in candidate):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        else:
            found = shutil.which(candidate)
            if found:
                return found
    return None


def can_show_window(platform: str = sys.platform, environ: Any = None) -> bool:
    """Whether a graphical window can appear: always on Windows and macOS; elsewhere only with X11 or Wayland."""
    if platform in ("win32", "darwin"):
        return True
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def app_window_arguments(browser: str, url: str, profile: str | os.PathLike[str],
                         name: str | None = None) -> list[str]:
    """The command line that opens `url` as an app window with its own profile."""
    arguments = [browser, f"--app={url}", f"--user-data-dir={os.fspath(profile)}", "--no-first-run",
                 "--no-default-browser-check"]
    if name and sys.platform not in ("win32", "darwin"):
        arguments.append(f"--class={name}")     # the window's WM_CLASS: desktop launchers group by it
    return arguments


class AppWindow:
    """An app window kali started: the browser process, and what its exit means."""

    OPEN = "open"
    FAILED = "failed"           # exited early with a failure: no window appeared
    HANDED_OFF = "handed off"   # exited early without one: the browser of this profile took the URL
    CLOSED = "closed"           # exited after its start: the user closed the window

    def __init__(self, process: subprocess.Popen[bytes], arguments: Sequence[str], log: str | None = None) -> None:
        self.process = process
        self.arguments = list(arguments)
        #: The browser's own output (the reason when it fails to start).
        self.log = log
        self.started = time.monotonic()
        self._ended: float | None = None

    @classmethod
    def start(cls, browser: str, url: str, profile: str | os.PathLike[str], *, name: str | None = None) -> "AppWindow":
        """Start `browser` showing `url` in app mode with `profile`; OSError if it cannot be started."""
        Path(profile).mkdir(mode=0o700, parents=True, exist_ok=True)
        arguments = app_window_arguments(browser, url, profile, name)
        log = os.path.join(os.fspath(profile), "kali-browser.log")
        options: dict[str, Any] = {}
        if os.name == "posix":
            # Its own session: the terminal's Ctrl-C goes to kali, which closes the window itself.
            options["start_new_session"] = True
        else:
            options["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        output: IO[bytes]
        with open(log, "wb") as output:
            process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                       close_fds=True, **options)
        return cls(process, arguments, log)

    @property
    def pid(self) -> int:
        """The browser process's id."""
        return self.process.pid

    def state(self) -> str:
        """OPEN while the browser runs; FAILED, HANDED_OFF or CLOSED once it has exited (see the class)."""
        code = self.process.poll()
        if code is None:
            return self.OPEN
        if self._ended is None:
            self._ended = time.monotonic()
        if self._ended - self.started < STARTUP_SECONDS:
            return self.HANDED_OFF if code == 0 else self.FAILED
        return self.CLOSED

    def wait_started(self, seconds: float) -> str:
        """Wait up to `seconds` for an early exit; the state then."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass
        return self.state()

    def failure(self) -> str:
        """Why the browser failed: its exit status and the last line it wrote."""
        text = f"{os.path.basename(self.arguments[0])} exited with status {self.process.returncode}"
        if self.log:
            try:
                with open(self.log, "rb") as f:
                    lines = [line.strip() for line in f.read()[-4000:].decode("utf-8", "replace").splitlines()]
            except OSError:
                lines = []
            lines = [line for line in lines if line]
            if lines:
                text += f": {lines[-1][:200]}"
        return text

    def close(self, timeout: float = 5.0) -> None:
        """Close the window (end the browser process kali started, politely first); safe to repeat."""
        process = self.process
        if process.poll() is not None:
            return
        try:
            process.terminate()
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("the app window's browser (pid %d) did not exit", process.pid)
        except OSError:
            pass


def open_tab(url: str, cleanup: str | None = None, keep_seconds: float = 60.0) -> threading.Thread:
    """Open `url` in a tab of the default browser, from a thread (some platforms wait for the browser).

    `cleanup`: a folder (a private app's launch page) removed `keep_seconds` later.
    """
    def target() -> None:
        import webbrowser
        from .lifetime import leave_signals_to_the_main_thread
        leave_signals_to_the_main_thread()
        try:
            if not webbrowser.open(url):
                logger.warning("no browser could be opened: open %s yourself", url)
        except Exception as exc:    # a missing browser must not stop the app
            logger.warning("could not open a browser (%s): open %s yourself", exc, url)
        if cleanup is not None:
            time.sleep(keep_seconds)     # long enough for the browser to read the launch page
            shutil.rmtree(cleanup, ignore_errors=True)

    thread = threading.Thread(target=target, name="kali-browser", daemon=True)
    thread.start()
    return thread
