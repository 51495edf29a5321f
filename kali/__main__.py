"""`python -m kali`: the version, where kali is installed, how to start, and `shortcut` (a launcher for an app)."""

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

_USAGE = "usage: python -m kali [--version | --help | shortcut path/to/app.py [--name NAME]]"

# Not the module docstring: that is gone under `python -OO`, and must not repeat the version.
_HELP = """
    python -m kali --version     prints 'kali' and the version, from kali.__version__
    python -m kali               prints the version and a first app to try
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


if __name__ == "__main__":
    sys.exit(main())
