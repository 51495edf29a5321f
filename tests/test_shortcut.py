"""`python -m kali shortcut app.py`: launchers a person can double-click (Linux end to end; Windows and macOS by their files)."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PureWindowsPath

import pytest

from kali.shortcut import (desktop_exec_argument, display_name, find_icon, mac_app_bundle, windows_shortcut_script,
                           _windowless_python)
from kali.instance import InstanceRecord
from support import ROOT, LiveApp, get

APP = f"""
import sys
import time
sys.path.insert(0, {str(ROOT)!r})
from kali import serve_http
serve_http(lambda request: "<p>started from its launcher</p>")
"""


def unescape_desktop_string(value: str) -> str:
    """A desktop entry string value as the specification reads it (\\s, \\n, \\t, \\r, \\\\)."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return {key: unescape_desktop_string(value) for key, value in parser["Desktop Entry"].items()}


def exec_arguments(exec_value: str) -> list[str]:
    """The Exec key's arguments as the Desktop Entry Specification reads them.

    Arguments are separated by spaces; a quoted one is in double quotes, inside which a
    backslash escapes '"', '`', '$' and '\\'; '%%' is a literal '%'.
    """
    arguments: list[str] = []
    current: list[str] = []
    quoted = started = False
    i = 0
    while i < len(exec_value):
        c = exec_value[i]
        if quoted:
            if c == "\\" and i + 1 < len(exec_value) and exec_value[i + 1] in '"`$\\':
                current.append(exec_value[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == " ":
            if started:
                arguments.append("".join(current))
            current, started = [], False
        elif c == '"':
            quoted = started = True
        else:
            current.append(c)
            started = True
        i += 1
    assert not quoted, f"unbalanced quotes in {exec_value!r}"
    if started:
        arguments.append("".join(current))
    return [argument.replace("%%", "%") for argument in arguments]


@pytest.fixture
def odd_app(tmp_path: Path) -> Path:
    """An app in a folder whose name needs quoting everywhere: spaces, a quote, a dollar, a percent."""
    folder = tmp_path / "my apps" / "Ada's $tools 100%"
    folder.mkdir(parents=True)
    (folder / "task_list.py").write_text(APP)
    (folder / "static").mkdir()
    (folder / "static" / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder / "task_list.py"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the freedesktop launcher")
@pytest.mark.parametrize("with_desktop", [True, False])
def test_the_desktop_entry_starts_the_app_from_its_folder(tmp_path: Path, odd_app: Path, with_desktop: bool) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if with_desktop:
        (home / "Desktop").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALI_", "XDG_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(tmp_path / "share"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "kali", "shortcut", str(odd_app)], capture_output=True, text=True,
                          env=env, timeout=60, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    entry_path = tmp_path / "share" / "applications" / "kali-task_list.desktop"
    made = [entry_path] + ([home / "Desktop" / "kali-task_list.desktop"] if with_desktop else [])
    assert done.stdout.splitlines() == [f"kali: made {path}" for path in made]
    for path in made:
        assert os.access(path, os.X_OK)
    assert made[-1].read_text() == entry_path.read_text()
    entry = read_desktop_entry(entry_path)
    assert entry["Type"] == "Application" and entry["Name"] == "Task list" and entry["Terminal"] == "false"
    assert entry["Path"] == str(odd_app.parent)
    assert entry["Icon"] == str(odd_app.parent / "static" / "icon.png")
    assert entry["StartupWMClass"] == "task_list"
    assert exec_arguments(entry["Exec"]) == [sys.executable, str(odd_app)]
    launch_as_the_desktop_does(entry_path, tmp_path)


def launch_as_the_desktop_does(entry: Path, tmp_path: Path) -> None:
    """Start a desktop entry with GLib's launcher (`gio launch`, what GNOME's desktop uses); the app must serve."""
    gio = shutil.which("gio")
    if gio is None:
        if os.environ.get("CI") == "true":
            pytest.fail("gio (libglib2.0-bin) is missing: .ci/run installs it")
        pytest.skip("gio (libglib2.0-bin) is not installed: the entry was checked against the specification only")
    data = tmp_path / "launched-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    env.update(KALI_DATA_DIR=str(data), KALI_PORT="0", KALI_NO_BROWSER="1")
    # The app inherits the launcher's output: a file, so nothing waits for it to end.
    with open(tmp_path / "launched.log", "wb") as log:
        done = subprocess.run([gio, "launch", str(entry)], env=env, stdout=log, stderr=log, timeout=30)
    assert done.returncode == 0, (tmp_path / "launched.log").read_text()
    # The launcher does not say which process it started: the app's instance record does.
    record = InstanceRecord(data / "task_list")
    deadline = time.monotonic() + 20
    while "pid" not in record.read() and time.monotonic() < deadline:
        time.sleep(0.05)
    found = record.read()
    assert "pid" in found, "the app did not start"
    pid = found["pid"]
    try:
        status, _, body = get(found["port"], "/")
        assert status == 200 and body.startswith(b"<p>started from its launcher</p>")
        # It runs from its own folder.
        if os.path.exists(f"/proc/{pid}/cwd"):
            assert os.readlink(f"/proc/{pid}/cwd") == read_desktop_entry(entry)["Path"]
    finally:
        os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline + 10:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def test_exec_arguments_are_quoted_by_the_specification() -> None:
    assert desktop_exec_argument("/usr/bin/python3") == "/usr/bin/python3"
    assert desktop_exec_argument("/srv/my apps/a.py") == '"/srv/my apps/a.py"'
    assert desktop_exec_argument('/x/"$`\\') == '"/x/\\"\\$\\`\\\\"'
    assert desktop_exec_argument("/x/100%") == "/x/100%%"
    with pytest.raises(ValueError, match="line break"):
        desktop_exec_argument("/x/a\nb")


def test_names_and_icons(tmp_path: Path) -> None:
    assert display_name(Path("simple_task_list.py")) == "Simple task list"
    assert display_name(Path("datebook.py")) == "Datebook"
    app = tmp_path / "notes.py"
    app.write_text("")
    assert find_icon(app) is None
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "favicon.ico").write_bytes(b"")
    assert find_icon(app) == tmp_path / "static" / "favicon.ico"
    (tmp_path / "notes.svg").write_text("<svg/>")
    assert find_icon(app) == tmp_path / "notes.svg"          # the app's own name, in its own folder, first
    assert find_icon(app, (".ico",)) == tmp_path / "static" / "favicon.ico"


def test_the_windows_shortcut_script() -> None:
    app = PureWindowsPath(r"C:\Users\Ada O'Brien\apps\task_list.py")
    script = windows_shortcut_script("Task list", r"C:\Python312\pythonw.exe", app,
                                     PureWindowsPath(r"C:\Users\Ada O'Brien\apps\task_list.ico"))
    assert script.endswith("\r\n") and "\n" not in script.replace("\r\n", "")
    lines = script.split("\r\n")
    assert "[Environment]::GetFolderPath('Programs'), [Environment]::GetFolderPath('Desktop')" in lines[2]
    assert "  $link = $shell.CreateShortcut((Join-Path $folder 'Task list.lnk'))" in lines
    assert r"  $link.TargetPath = 'C:\Python312\pythonw.exe'" in lines
    # The app's path in double quotes (it has spaces), inside a single-quoted string (quote doubled).
    assert '  $link.Arguments = \'"C:\\Users\\Ada O\'\'Brien\\apps\\task_list.py"\'' in lines
    assert "  $link.WorkingDirectory = 'C:\\Users\\Ada O''Brien\\apps'" in lines
    assert "  $link.IconLocation = 'C:\\Users\\Ada O''Brien\\apps\\task_list.ico,0'" in lines
    assert lines[-3:] == ["  Write-Output $link.FullName", "}", ""]
    without_icon = windows_shortcut_script('Bad: "name"?', r"C:\py\pythonw.exe", app, None)
    assert "IconLocation" not in without_icon and "'Bad- -name-.lnk'" in without_icon


def test_the_windows_shortcut_runs_pythonw_when_it_is_there(tmp_path: Path) -> None:
    (tmp_path / "python.exe").write_bytes(b"")
    assert _windowless_python(str(tmp_path / "python.exe")) == str(tmp_path / "python.exe")
    (tmp_path / "pythonw.exe").write_bytes(b"")
    assert _windowless_python(str(tmp_path / "python.exe")) == str(tmp_path / "pythonw.exe")


@pytest.mark.skipif(os.name != "posix", reason="runs the bundle's POSIX launch script")
def test_the_macos_app_bundle_starts_the_app(tmp_path: Path, odd_app: Path) -> None:
    from kali.shortcut import _mac_shortcuts
    home = tmp_path / "home"
    [bundle] = _mac_shortcuts("Task list", sys.executable, odd_app, home)
    assert bundle == home / "Applications" / "Task list.app"
    info = plistlib.loads((bundle / "Contents" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "launch" and info["CFBundleName"] == "Task list"
    assert info["CFBundlePackageType"] == "APPL" and info["LSUIElement"] is True
    assert info["CFBundleIdentifier"] == "org.kali-apps.task-list"       # letters, digits, '-' and '.' only
    launch = bundle / "Contents" / "MacOS" / "launch"
    assert os.access(launch, os.X_OK)
    runner = tmp_path / "double_click.py"
    runner.write_text(f"import os\nos.chdir('/')\nos.execv('/bin/sh', ['sh', {str(launch)!r}])\n")
    with LiveApp(runner, tmp_path / "data", env={"KALI_PORT": "0"}) as app:
        assert get(app.port(), "/")[2].startswith(b"<p>started from its launcher</p>")


def test_the_macos_bundle_takes_an_icns_icon(tmp_path: Path) -> None:
    app = tmp_path / "notes.py"
    app.write_text("")
    (tmp_path / "icon.icns").write_bytes(b"icns")
    files = mac_app_bundle("Notes & more", "/usr/bin/python3", app, tmp_path / "icon.icns")
    assert files["Contents/Resources/app.icns"] == (b"icns", 0o644)
    info = plistlib.loads(str(files["Contents/Info.plist"][0]).encode())
    assert info["CFBundleIconFile"] == "app.icns" and info["CFBundleName"] == "Notes & more"


def test_the_command_line_explains_its_mistakes(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args, status, message in ([[], 2, "usage: python -m kali shortcut"],
                                  [[str(tmp_path / "missing.py")], 1, "there is no app at"]):
        done = subprocess.run([sys.executable, "-m", "kali", "shortcut", *args], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == status and message in done.stderr, done.stderr
