"""The app's window: a Chromium-family browser started in app mode with a profile in the data folder, or a tab.

The browsers here are fakes on PATH that record their command line: a real window
needs a display, which the test machine lacks (real Chromium is driven headless by
Playwright in test_quitting.py).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from kali.window import (AppWindow, STARTUP_SECONDS, app_window_arguments, browser_candidates, can_show_window,
                         find_chromium)
from support import LIFECYCLE_APP, ROOT, LiveApp, fake_browser, get, process_alive as alive

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX shell scripts stand in for the browsers")


def fake_chromium(tmp_path: Path, behaviour: str = "stay") -> tuple[Path, Path]:
    """A `google-chrome` on a PATH folder: records its arguments and pid, then stays (or fails, or hands off)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    record = tmp_path / "chrome-args.txt"
    body = {
        "stay": 'trap \'echo closed >> "{record}.events"; exit 0\' TERM\nsleep 300 &\nwait $!\n',
        "fail": 'echo "[0101/000000.000:ERROR:ozone_platform_x11.cc] Missing X server or \\$DISPLAY" >&2\nexit 1\n',
        "hand off": "exit 0\n",
    }[behaviour].format(record=record)
    script = folder / "google-chrome"
    script.write_text(f'#!/bin/sh\necho $$ > "{record}.pid"\nprintf "%s\\n" "$@" > "{record}"\n{body}')
    script.chmod(0o755)
    return folder, record


def window_env(tmp_path: Path, behaviour: str = "stay", **extra: str | None) -> tuple[dict[str, str | None], Path, Path]:
    folder, chrome = fake_chromium(tmp_path, behaviour)
    tab_browser, tab = fake_browser(tmp_path, "tab-browser")
    env: dict[str, str | None] = {
        "KALI_PORT": "0", "KALI_NO_BROWSER": None, "DISPLAY": ":99", "WAYLAND_DISPLAY": None,
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}", "BROWSER": str(tab_browser)}
    env.update(extra)
    return env, chrome, tab


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    return ""


def test_the_app_window_is_a_chromium_in_app_mode_with_a_profile_in_the_data_folder(tmp_path: Path) -> None:
    env, chrome, tab = window_env(tmp_path)
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env=env) as app:
        url = app.url()
        arguments = wait_for(chrome).split("\n")
        assert f"--app={url}" in arguments
        assert f"--user-data-dir={data / 'lifecycle' / 'kali-browser'}" in arguments
        assert "--no-first-run" in arguments and "--class=lifecycle" in arguments
        browser_pid = int(wait_for(Path(f"{chrome}.pid")))
        assert alive(browser_pid)
        # When kali stops, it closes the window it started.
        app.proc.send_signal(signal.SIGTERM)
        assert app.wait(15) == 0
        assert wait_for(Path(f"{chrome}.events")).strip() == "closed"
        assert "kali: stopped (SIGTERM was received)" in app.out
    assert not tab.exists()


def test_closing_the_app_window_stops_the_app(tmp_path: Path) -> None:
    env, chrome, _ = window_env(tmp_path)
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env=env) as app:
        port = app.port()
        browser_pid = int(wait_for(Path(f"{chrome}.pid")))
        # Past its start-up, the browser's exit means the user closed the window.
        time.sleep(STARTUP_SECONDS + 0.5)
        assert get(port, "/")[0] == 200
        os.kill(browser_pid, signal.SIGTERM)
        assert app.wait(10) == 0
        assert app.out[-1] == "kali: stopped (the app window was closed)"


def test_a_browser_that_fails_to_start_gives_a_tab_instead(tmp_path: Path) -> None:
    env, chrome, tab = window_env(tmp_path, "fail")
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env=env) as app:
        url = app.url()
        line = app.wait_for("the app window did not open")
        assert line == ("kali: the app window did not open (google-chrome exited with status 1: "
                        "[0101/000000.000:ERROR:ozone_platform_x11.cc] Missing X server or $DISPLAY); "
                        "opening a tab instead")
        assert wait_for(tab).split() == [url]
        assert get(app.port(), "/")[0] == 200        # the app goes on, in the tab


def test_a_browser_that_hands_the_url_to_its_running_self_leaves_the_app_running(tmp_path: Path) -> None:
    env, chrome, tab = window_env(tmp_path, "hand off")
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env=env) as app:
        port = app.port()
        assert wait_for(chrome)
        time.sleep(1.0)
        assert app.proc.poll() is None and get(port, "/")[0] == 200
        assert not tab.exists()
        assert not any("did not open" in line for line in app.out)


@pytest.mark.parametrize("how", ["KALI_WINDOW=tab", "window='tab'", "no display"])
def test_a_tab_when_asked_for_or_when_no_window_can_appear(tmp_path: Path, how: str) -> None:
    extra: dict[str, str | None] = {
        "KALI_WINDOW=tab": {"KALI_WINDOW": "tab"},
        "window='tab'": {"LIFE_OPTIONS": json.dumps({"window": "tab"})},
        "no display": {"DISPLAY": None},
    }[how]
    env, chrome, tab = window_env(tmp_path, **extra)
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env=env) as app:
        url = app.url()
        assert wait_for(tab).split() == [url]
    assert not chrome.exists()


def test_kali_window_must_be_app_or_tab(tmp_path: Path) -> None:
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env={"KALI_WINDOW": "popup"}) as app:
        assert app.wait(20) == 1
        assert "KALI_WINDOW must be 'app' or 'tab', not 'popup'" in app.errors


def test_demo_sh_tab_opens_a_tab(tmp_path: Path) -> None:
    env, chrome, tab = window_env(tmp_path)
    runner = tmp_path / "run_demo.py"
    # LiveApp runs a Python script: this one runs demo.sh in its place.
    runner.write_text(f"import os\nos.execvp('sh', ['sh', {str(ROOT / 'demo.sh')!r}, 'intro', '--tab', '--port', '0'])\n")
    with LiveApp(runner, tmp_path / "data", env=env) as app:
        url = app.url()
        assert wait_for(tab).split() == [url]
    assert not chrome.exists()


# -- finding the browser ----------------------------------------------------------------------------

def test_windows_candidates_are_the_usual_install_locations() -> None:
    env = {"LOCALAPPDATA": r"C:\Users\ada\AppData\Local", "PROGRAMFILES": r"C:\Program Files",
           "PROGRAMFILES(X86)": r"C:\Program Files (x86)"}
    found = browser_candidates("win32", env)
    assert found[:3] == [r"C:\Users\ada\AppData\Local\Google\Chrome\Application\chrome.exe",
                         r"C:\Program Files\Google\Chrome\Application\chrome.exe",
                         r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe"]
    assert r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" in found
    assert r"C:\Users\ada\AppData\Local\BraveSoftware\Brave-Browser\Application\brave.exe" in found


def test_macos_candidates_are_application_bundles_then_path() -> None:
    found = browser_candidates("darwin", {"HOME": "/Users/ada"})
    assert found[0] == "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
    assert "/Users/ada/Applications/Brave Browser.app/Contents/MacOS/Brave Browser" in found
    assert "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge" in found
    assert found[-1] == "brave"


def test_find_chromium_looks_on_path_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("brave-browser", "chromium"):
        program = tmp_path / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(tmp_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert find_chromium() is None


def test_a_window_needs_a_display_on_linux_only() -> None:
    assert not can_show_window("linux", {})
    assert can_show_window("linux", {"WAYLAND_DISPLAY": "wayland-0"})
    assert can_show_window("linux", {"DISPLAY": ":0"})
    assert can_show_window("win32", {}) and can_show_window("darwin", {})


def test_app_window_arguments() -> None:
    arguments = app_window_arguments("/opt/chrome", "http://127.0.0.1:8080/", "/data/notes/kali-browser", "notes")
    assert arguments[:3] == ["/opt/chrome", "--app=http://127.0.0.1:8080/", "--user-data-dir=/data/notes/kali-browser"]


def test_an_app_window_closes_the_process_it_started(tmp_path: Path) -> None:
    _, chrome = fake_chromium(tmp_path)
    window = AppWindow.start(str(tmp_path / "bin" / "google-chrome"), "http://127.0.0.1:1/", tmp_path / "profile")
    try:
        assert window.state() == AppWindow.OPEN
        assert wait_for(chrome)
        window.close()
        assert window.process.returncode == 0 and wait_for(Path(f"{chrome}.events")).strip() == "closed"
        window.close()                  # already closed: nothing happens
    finally:
        if window.process.poll() is None:
            window.process.kill()
            window.process.wait()
