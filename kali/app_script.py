"""An app script and running it as `__main__`: what `python -m kali run` does, in its own process or in each reload child.

`run_app_script` makes the script see what `python path/to/app.py args` would
show it: `sys.argv`, `sys.path[0]` (the script's folder), `__name__ ==
"__main__"` and `__file__`.  A package run with `python -m pkg` is an
`AppScript` too (its `__main__` module, with the current folder on the path).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["AppScript", "run_app_script"]


class AppScript:
    """A script file (`path`) or a package run with `-m` (`module`): what the app is, and the folder it lives in."""

    def __init__(self, *, path: str | os.PathLike[str] | None = None, module: str | None = None) -> None:
        if (path is None) == (module is None):
            raise ValueError("an AppScript is a script path or a module name (one of the two)")
        self.path = Path(path).resolve() if path is not None else None
        self.module = module

    @classmethod
    def of_main(cls) -> AppScript | None:
        """The script this process was started with (None in an interactive session)."""
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        name = getattr(spec, "name", None)
        if isinstance(name, str) and name:
            # `python -m pkg` runs pkg.__main__: run the package again the same way.
            return cls(module=name[: -len(".__main__")] if name.endswith(".__main__") else name)
        file = getattr(main, "__file__", None)
        return cls(path=file) if isinstance(file, str) and file else None

    @property
    def folder(self) -> Path:
        """The folder whose tree is the app's own source: the script's folder, or the package's."""
        if self.path is not None:
            return self.path.parent
        from importlib.util import find_spec
        assert self.module is not None
        spec = find_spec(self.module)
        origin = getattr(spec, "origin", None)
        if origin:
            return Path(origin).resolve().parent
        return Path.cwd()

    @property
    def stem(self) -> str:
        """What the app is called unless it says otherwise (`app_name`): the script's stem, or the package's name."""
        if self.path is not None:
            return self.path.stem if self.path.stem != "__main__" else self.path.parent.name
        assert self.module is not None
        return self.module.rpartition(".")[2]

    def describe(self) -> str:
        """The script as the console names it: its file name, or `-m NAME`."""
        return self.path.name if self.path is not None else f"-m {self.module}"

    def arguments(self) -> list[str]:
        """How the script is named on a command line (a path, or `-m NAME`)."""
        return [str(self.path)] if self.path is not None else ["-m", str(self.module)]

    @classmethod
    def from_arguments(cls, arguments: Sequence[str]) -> tuple[AppScript, list[str]]:
        """The script named at the start of `arguments` (a path, or `-m NAME`) and the arguments after it."""
        if arguments[:1] == ["-m"] and len(arguments) >= 2:
            return cls(module=arguments[1]), list(arguments[2:])
        return cls(path=arguments[0]), list(arguments[1:])

    def __repr__(self) -> str:
        return f"<AppScript {self.describe()}>"


def run_app_script(script: AppScript, argv: Sequence[str]) -> None:
    """Run `script` as `__main__` in this process, with `argv` as its command-line arguments."""
    import runpy
    if script.path is not None:
        if not script.path.is_file():
            raise SystemExit(f"kali: no such script: {script.path}")
        sys.argv = [str(script.path), *argv]
        # What `python app.py` puts first on the path: the script's own folder.
        folder = os.path.dirname(os.path.realpath(script.path))
        if sys.path and sys.path[0] in ("", os.getcwd(), folder):
            sys.path[0] = folder
        else:
            sys.path.insert(0, folder)
        runpy.run_path(str(script.path), run_name="__main__")
    else:
        assert script.module is not None
        sys.argv = [script.module, *argv]
        if not sys.path or sys.path[0] not in ("", os.getcwd()):
            sys.path.insert(0, os.getcwd())
        runpy.run_module(script.module, run_name="__main__", alter_sys=True)
