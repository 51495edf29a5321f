"""`python -m kali`: the version, where kali is installed, how to start, `run` (an app, reloading on change) and `shortcut`."""

from __future__ import annotations

import sys
from pathlib import Path

from ._version import __version__

__all__ = ["main"]

_FIRST_APP = '''\
    from kali import Request, escape, serve_http

    def app(request: Request):
        name = request.GET.get("name", "world")
        return ["<h1>Hello, ", escape(name), "!</h1>"]

    serve_http(app)      # serves http://127.0.0.1:8080/ and opens the browser
'''

_USAGE = ("usage: python -m kali [--version | --help | run [--reload] [--port N] [--no-browser] [--tab] "
          "path/to/app.py [app args] | shortcut path/to/app.py [--name NAME]]")
_RUN_USAGE = "usage: python -m kali run [--reload] [--port N] [--no-browser] [--tab] path/to/app.py [app args]"

# Not the module docstring: that is gone under `python -OO`, and must not repeat the version.
_HELP = """
    python -m kali --version     prints 'kali' and the version, from kali.__version__
    python -m kali               prints the version and a first app to try
    python -m kali run [--reload] [--port N] [--no-browser] [--tab] app.py [app args]
                                 runs a kali script; with --reload, new code takes over on the
                                 same port after every save, and the open pages refresh themselves
    python -m kali shortcut app.py [--name NAME]
                                 makes a launcher to double-click: a .desktop entry (Linux),
                                 Start-menu and desktop shortcuts (Windows), an .app (macOS)
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        print(f"kali {__version__}")
        return 0
    if args[:1] == ["run"]:
        return run(args[1:])
    if args[:1] == ["shortcut"]:
        from .shortcut import main as shortcut
        return shortcut(args[1:])
    if args in (["--help"], ["-h"]):
        print(_USAGE)
        print(_HELP)
        return 0
    if args:
        print(_USAGE, file=sys.stderr)
        print(f"python -m kali: unknown arguments {' '.join(args)!r}", file=sys.stderr)
        return 2
    package = Path(__file__).resolve().parent
    print(f"kali {__version__} (Python {sys.version.split()[0]}), installed in {package}")
    print()
    print("kali serves a web app to one person on their own machine, with nothing but the")
    print("standard library. A first app, saved as hello.py and run with `python hello.py`:")
    print()
    print(_FIRST_APP)
    checkout = package.parent
    if (checkout / "demo.sh").is_file() and (checkout / "examples").is_dir():
        print(f"The examples are in {checkout / 'examples'}: `./demo.sh` lists them and")
        print("`./demo.sh intro` runs the first one (`demo intro` on Windows).")
    if (checkout / "docs").is_dir():
        print(f"The reference is in {checkout / 'docs'} (start with README.md).")
    return 0


def run(args: list[str]) -> int:
    """`python -m kali run`: run an app script, with the flags ./demo.sh takes; returns the exit status.

    The flags become the environment variables every kali app honours (KALI_PORT,
    KALI_NO_BROWSER, KALI_WINDOW); `--reload` makes this process the reload
    supervisor (kali.reload), which runs the script in child processes.
    """
    import os
    reload = False
    while args and args[0].startswith("-") and args[0] != "-m":
        flag = args.pop(0)
        if flag in ("-h", "--help"):
            print(_RUN_USAGE)
            print("  --reload      new code takes over on the same port after every save; pages refresh")
            print("  --port N      listen on port N (0: any free port)")
            print("  --no-browser  open no window or tab")
            print("  --tab         open a browser tab rather than a window of its own")
            return 0
        if flag == "--reload":
            reload = True
        elif flag == "--port" or flag.startswith("--port="):
            value = flag.partition("=")[2] if "=" in flag else (args.pop(0) if args else "")
            if not value.isdigit() or int(value) > 65535:
                print(_RUN_USAGE, file=sys.stderr)
                print(f"python -m kali run: --port needs a port number (0: any free port), not {value!r}",
                      file=sys.stderr)
                return 2
            os.environ["KALI_PORT"] = value
        elif flag == "--no-browser":
            os.environ["KALI_NO_BROWSER"] = "1"
        elif flag == "--tab":
            os.environ["KALI_WINDOW"] = "tab"
        elif flag == "--":
            break
        else:
            print(_RUN_USAGE, file=sys.stderr)
            print(f"python -m kali run: unknown option {flag!r}", file=sys.stderr)
            return 2
    if not args or (args[0] == "-m" and len(args) < 2):
        print(_RUN_USAGE, file=sys.stderr)
        print("python -m kali run: which app? Name its script (path/to/app.py)", file=sys.stderr)
        return 2
    from .app_script import AppScript
    script, argv = AppScript.from_arguments(args)
    if script.path is not None and not script.path.is_file():
        print(f"python -m kali run: no such script: {script.path}", file=sys.stderr)
        return 2
    if reload:
        from .reload import supervise
        supervise(script, argv)
        return 0
    from .app_script import run_app_script
    run_app_script(script, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
