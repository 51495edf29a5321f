"""`python -m kali shortcut path/to/app.py`: a launcher a non-programmer can double-click, made for this platform.

The launcher starts the app with the Python that made it (`sys.executable`, so
a virtual environment's packages are there), from the app's folder, with the
app's icon when it has one next to it (`NAME.svg|png|ico`, `icon.*` or
`favicon.*`, in its folder or its `static/` folder) and kali's icon otherwise.

- Linux and other freedesktop systems: a `.desktop` entry in the applications
  folder (`$XDG_DATA_HOME/applications`), and on the desktop when there is one;
- Windows: a shortcut (`.lnk`) in the Start menu and on the desktop, made by
  PowerShell through the WScript.Shell object, running `pythonw.exe` (no console);
- macOS: a minimal application bundle in `~/Applications`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePath
from typing import Any, Mapping

__all__ = ["display_name", "find_icon", "create_shortcuts", "desktop_entry", "desktop_exec_argument",
           "windows_shortcut_script", "mac_app_bundle", "main"]

_ICON_TYPES = (".svg", ".png", ".ico", ".icns")
_KALI_ICON = Path(__file__).resolve().parent / "assets" / "icon.svg"


def display_name(app: Path) -> str:
    """The name a person sees: 'simple_task_list.py' -> 'Simple task list'."""
    words = re.sub(r"[_\-]+", " ", app.stem).strip()
    return (words[:1].upper() + words[1:]) if words else app.stem


def find_icon(app: Path, types: tuple[str, ...] = _ICON_TYPES) -> Path | None:
    """The app's icon file next to it (see the module docstring), or None."""
    folder = app.parent
    for place in (folder, folder / "static"):
        for stem in (app.stem, "icon", "favicon"):
            for ext in types:
                candidate = place / f"{stem}{ext}"
                if candidate.is_file():
                    return candidate
    return None


def _check_path(path: str) -> None:
    if any(ord(c) < 32 for c in path):
        raise ValueError(f"a launcher cannot name a path with a line break or control character: {path!r}")


# -- freedesktop (Linux) -------------------------------------------------------------------------

_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_exec_argument(argument: str) -> str:
    """One argument of a desktop entry's Exec key (quoted per the Desktop Entry Specification, % doubled)."""
    _check_path(argument)
    if argument and not _EXEC_RESERVED.intersection(argument):
        return argument.replace("%", "%%")
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in argument)
    return '"' + quoted.replace("%", "%%") + '"'


def _desktop_string(value: str) -> str:
    """A desktop entry string value: backslashes escaped (and no line breaks)."""
    _check_path(value)
    return value.replace("\\", "\\\\")


def desktop_entry(name: str, python: str, app: Path, icon: Path | None, wm_class: str | None = None) -> str:
    """The text of a .desktop file that starts `app` with `python` from the app's folder."""
    command = " ".join(desktop_exec_argument(a) for a in (python, str(app)))
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={_desktop_string(name)}",
        f"Comment={_desktop_string(f'{name}, a kali app ({app.name})')}",
        # Exec is a string value too: its backslashes are escaped once more.
        f"Exec={_desktop_string(command)}",
        f"Path={_desktop_string(str(app.parent))}",
        f"Icon={_desktop_string(str(icon or _KALI_ICON))}",
        "Terminal=false",
        "Categories=Utility;",
    ]
    if wm_class:
        lines.append(f"StartupWMClass={_desktop_string(wm_class)}")    # the app window's --class
    return "\n".join(lines) + "\n"


def _desktop_folder(environ: Mapping[str, str], home: Path) -> Path | None:
    """The user's desktop folder, when there is one."""
    xdg_user_dir = shutil.which("xdg-user-dir")
    if xdg_user_dir:
        try:
            found = subprocess.run([xdg_user_dir, "DESKTOP"], capture_output=True, text=True, timeout=10,
                                   env=dict(environ)).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        # xdg-user-dir answers the home folder itself when no desktop is configured.
        if found and Path(found) != home and Path(found).is_dir():
            return Path(found)
    fallback = home / "Desktop"
    return fallback if fallback.is_dir() else None


def _linux_shortcuts(name: str, python: str, app: Path, environ: Mapping[str, str], home: Path) -> list[Path]:
    xdg = environ.get("XDG_DATA_HOME", "")
    data_home = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    entry = desktop_entry(name, python, app, find_icon(app, (".svg", ".png")), wm_class=app.stem)
    file_name = f"kali-{re.sub(r'[^A-Za-z0-9_.-]+', '-', app.stem)}.desktop"
    made = []
    places = [data_home / "applications"]
    desktop = _desktop_folder(environ, home)
    if desktop is not None:
        places.append(desktop)
    for folder in places:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        path.write_text(entry, encoding="utf-8")
        # File managers run a desktop file from the desktop only when it is executable (and, for
        # GNOME, marked trusted).
        path.chmod(0o755)
        if folder == desktop and shutil.which("gio"):
            subprocess.run(["gio", "set", str(path), "metadata::trusted", "true"], capture_output=True,
                           timeout=10, check=False)
        made.append(path)
    return made


# -- Windows ------------------------------------------------------------------------------------------

def _powershell_string(value: str) -> str:
    _check_path(value)
    return "'" + value.replace("'", "''") + "'"


def windows_shortcut_script(name: str, python: str, app: PurePath, icon: PurePath | None) -> str:
    """The PowerShell script that makes the Start-menu and desktop shortcuts (it prints their paths)."""
    file_name = re.sub(r'[<>:"/\\|?*]+', "-", name).strip(" .") or "kali app"
    lines = [
        "$ErrorActionPreference = 'Stop'",
        "$shell = New-Object -ComObject WScript.Shell",
        "foreach ($folder in @([Environment]::GetFolderPath('Programs'), [Environment]::GetFolderPath('Desktop'))) {",
        "  if (-not $folder) { continue }",
        f"  $link = $shell.CreateShortcut((Join-Path $folder {_powershell_string(file_name + '.lnk')}))",
        f"  $link.TargetPath = {_powershell_string(python)}",
        f"  $link.Arguments = {_powershell_string(chr(34) + str(app) + chr(34))}",
        f"  $link.WorkingDirectory = {_powershell_string(str(app.parent))}",
        f"  $link.Description = {_powershell_string(f'{name}, a kali app')}",
    ]
    if icon is not None:
        lines.append(f"  $link.IconLocation = {_powershell_string(str(icon) + ',0')}")
    lines += ["  $link.Save()", "  Write-Output $link.FullName", "}"]
    return "\r\n".join(lines) + "\r\n"


def _windowless_python(python: str) -> str:
    """pythonw.exe beside python.exe: the app then opens no console window."""
    path = Path(python)
    if path.name.lower() == "python.exe":
        quiet = path.with_name("pythonw.exe")
        if quiet.is_file():
            return str(quiet)
    return python


def _windows_shortcuts(name: str, python: str, app: Path) -> list[Path]:
    import base64
    script = windows_shortcut_script(name, _windowless_python(python), app, find_icon(app, (".ico",)))
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    done = subprocess.run(["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                           "-EncodedCommand", encoded], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OSError(f"PowerShell could not make the shortcut: {done.stderr.strip() or done.stdout.strip()}")
    return [Path(line.strip()) for line in done.stdout.splitlines() if line.strip()]


# -- macOS --------------------------------------------------------------------------------------------

def _shell_quote(value: str) -> str:
    _check_path(value)
    return "'" + value.replace("'", "'\\''") + "'"


def _plist_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mac_app_bundle(name: str, python: str, app: Path, icon: Path | None) -> dict[str, tuple[str | bytes, int]]:
    """The files of a minimal .app bundle (path inside the bundle -> (content, mode))."""
    identifier = "org.kali-apps." + (re.sub(r"[^A-Za-z0-9.-]+", "-", app.stem).strip("-.") or "app")
    icon_line = ""
    files: dict[str, tuple[str | bytes, int]] = {}
    if icon is not None and icon.suffix == ".icns":
        files["Contents/Resources/app.icns"] = (icon.read_bytes(), 0o644)
        icon_line = "  <key>CFBundleIconFile</key><string>app.icns</string>\n"
    files["Contents/Info.plist"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n'
        f"  <key>CFBundleName</key><string>{_plist_text(name)}</string>\n"
        f"  <key>CFBundleDisplayName</key><string>{_plist_text(name)}</string>\n"
        f"  <key>CFBundleIdentifier</key><string>{_plist_text(identifier)}</string>\n"
        "  <key>CFBundleExecutable</key><string>launch</string>\n"
        "  <key>CFBundlePackageType</key><string>APPL</string>\n"
        "  <key>CFBundleInfoDictionaryVersion</key><string>6.0</string>\n"
        "  <key>CFBundleVersion</key><string>1</string>\n"
        # The window is the browser's: the launcher itself needs no Dock icon.
        "  <key>LSUIElement</key><true/>\n"
        f"{icon_line}"
        "</dict>\n</plist>\n", 0o644)
    files["Contents/MacOS/launch"] = (
        "#!/bin/sh\n"
        f"# Starts {name} ({app.name}) with the Python that made this launcher.\n"
        f"cd {_shell_quote(str(app.parent))} || exit 1\n"
        f"exec {_shell_quote(python)} {_shell_quote(str(app))}\n", 0o755)
    return files


def _mac_shortcuts(name: str, python: str, app: Path, home: Path) -> list[Path]:
    bundle = home / "Applications" / (re.sub(r"[/:]+", "-", name) + ".app")
    for inside, (content, mode) in mac_app_bundle(name, python, app, find_icon(app, (".icns",))).items():
        path = bundle / inside
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        path.chmod(mode)
    return [bundle]


# -- the command ----------------------------------------------------------------------------------------

def create_shortcuts(app: str | os.PathLike[str], *, name: str | None = None, python: str | None = None,
                     platform: str = sys.platform, environ: Mapping[str, str] | None = None,
                     home: Path | None = None) -> list[Path]:
    """Make this platform's launchers for the app script `app`; returns what was created."""
    script = Path(app).expanduser().resolve()
    if not script.is_file():
        raise FileNotFoundError(f"there is no app at {script}")
    name = name or display_name(script)
    python = python or sys.executable
    if not python:
        raise OSError("the Python running this has no known path (sys.executable is empty)")
    env: Mapping[str, Any] = os.environ if environ is None else environ
    home = home or Path(env.get("HOME") or Path.home())
    if platform == "win32":
        return _windows_shortcuts(name, python, script)
    if platform == "darwin":
        return _mac_shortcuts(name, python, script, home)
    return _linux_shortcuts(name, python, script, env, home)


USAGE = "usage: python -m kali shortcut path/to/app.py [--name NAME]"


def main(args: list[str]) -> int:
    """`python -m kali shortcut`: make the launchers and say where they are; the exit status."""
    name: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--name" and i + 1 < len(args):
            name = args[i + 1]
            i += 2
        elif args[i].startswith("--name="):
            name = args[i].split("=", 1)[1]
            i += 1
        else:
            rest.append(args[i])
            i += 1
    if len(rest) != 1 or rest[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        made = create_shortcuts(rest[0], name=name)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"python -m kali shortcut: {exc}", file=sys.stderr)
        return 1
    for path in made:
        print(f"kali: made {path}")
    return 0
