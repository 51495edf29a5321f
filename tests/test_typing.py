"""The public API is typed and documented: `mypy --strict kali` passes, every public name has a docstring."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from support import require_mypy

import kali

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_kali() -> None:
    require_mypy()
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "kali"],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_a_missing_mypy_fails_the_type_check_instead_of_skipping_it(tmp_path: Path) -> None:
    (tmp_path / "hide_mypy.py").write_text("import sys\nsys.modules['mypy'] = None   # import mypy now fails\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT / "tests"), str(ROOT)])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "hide_mypy", "-p", "no:cacheprovider",
                           f"{ROOT / 'tests' / 'test_typing.py'}::test_mypy_strict_passes_on_kali"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "1 failed" in done.stdout and "skipped" not in done.stdout, done.stdout
    assert "mypy is missing" in done.stdout


def public_modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(kali.__path__) if not m.name.startswith("_"))
    return [kali] + [importlib.import_module(f"kali.{name}") for name in names] + \
        [importlib.import_module("kali.__main__")]


def test_every_module_says_what_it_is_for_and_lists_its_public_names() -> None:
    modules = public_modules()
    assert {m.__name__ for m in modules} >= {"kali", "kali.testing", "kali.wsgi", "kali.server", "kali.__main__"}
    for module in modules:
        assert (module.__doc__ or "").strip(), f"{module.__name__} has no docstring"
        exported = getattr(module, "__all__", None)
        assert isinstance(exported, list) and exported, f"{module.__name__} has no __all__"
        for name in exported:
            assert hasattr(module, name), f"{module.__name__}.__all__ names {name!r}, which does not exist"


def public_objects() -> Iterator[tuple[str, Any]]:
    """(qualified name, object) for every function and class a module exports, and their public members."""
    seen: set[int] = set()
    for module in public_modules():
        for name in module.__all__:
            value = getattr(module, name)
            if not (inspect.isfunction(value) or inspect.isclass(value)) or id(value) in seen:
                continue
            seen.add(id(value))
            yield f"{module.__name__}.{name}", value
            if inspect.isclass(value):
                for member_name, member in vars(value).items():
                    if member_name.startswith("_") and member_name not in ("__call__",):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    elif isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member):
                        yield f"{module.__name__}.{name}.{member_name}", member


def test_every_public_function_class_and_method_has_a_docstring() -> None:
    missing = [name for name, value in public_objects()
               if not (inspect.getdoc(value) if inspect.isclass(value) else value.__doc__ or "").strip()]
    assert not missing, "no docstring: " + ", ".join(missing)


def test_every_public_function_and_method_is_annotated() -> None:
    unannotated = []
    for name, value in public_objects():
        functions = [value] if inspect.isfunction(value) else \
            [f for f in (vars(value).get("__init__"),)
             if inspect.isfunction(f) and f.__module__ == value.__module__]     # not typing.Protocol's own
        for function in functions:
            signature = inspect.signature(function)
            params = [p for p in signature.parameters.values()
                      if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
            if params or signature.return_annotation is inspect.Signature.empty:
                unannotated.append(f"{name}{'.__init__' if function is not value else ''}")
    assert not unannotated, "missing annotations: " + ", ".join(unannotated)


def test_kali_all_reexports_names_that_their_modules_export() -> None:
    for name in kali.__all__:
        if name == "__version__":
            continue
        value = getattr(kali, name)
        home = importlib.import_module(getattr(value, "__module__", "kali"))
        assert name in getattr(home, "__all__", ()), f"kali.{name} is not in {home.__name__}.__all__"
    assert sorted(dir(kali)) == sorted(kali.__all__)
