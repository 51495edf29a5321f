"""Packaging: a wheel built from this checkout installs into a fresh venv and works with nothing else.

One module-scoped fixture builds the wheel (from a copy of the sources, so the
checkout gets no build/ or egg-info while others run tests) and installs it
into a new virtual environment without network access; the tests then ask that
environment's Python, from a folder outside the checkout, what it got.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path
from typing import Iterator

import pytest
from support import require_mypy

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], *, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(args, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


class Installed:
    """A fresh venv with kali installed from a wheel built from this checkout."""

    def __init__(self, root: Path, python: Path, wheel: Path, outside: Path) -> None:
        self.root = root
        self.python = python
        self.wheel = wheel
        self.outside = outside     # a working folder with no kali sources in it

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # -I: isolated mode, so neither the current folder nor PYTHON* variables can supply kali.
        return run([str(self.python), "-I", *args], cwd=self.outside)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "kali", source / "kali", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Built with the test venv's setuptools (tests/requirements.txt) and no build isolation,
    # so no network is needed; this is what `pip install .` does inside its isolated build.
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dist), str(source)], cwd=tmp)
    wheels = list(dist.glob("kali-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheels[0])], cwd=tmp)
    outside = tmp / "elsewhere"
    outside.mkdir()
    yield Installed(env_dir, python, wheels[0], outside)


def test_import_kali_works_from_the_installed_package_alone(installed: Installed) -> None:
    probe = textwrap.dedent("""
        import json, sys
        before = set(sys.modules)        # whatever site.py loaded (a setuptools .pth hook, say)
        import kali
        from kali.testing import Client
        # Every module, and an app through the test client: nothing outside the standard library.
        import kali.forms, kali.lenses, kali.routing, kali.security, kali.server, kali.sqlite
        import kali.static, kali.templates, kali.wsgi
        app = kali.Router()
        @app.function("/hello/*")
        def hello(name: str) -> str:
            return "<p>" + kali.escape(name) + "</p>"
        r = Client(app).get("/hello/%3Cyou%3E")
        third_party = sorted(name for name in set(sys.modules) - before
                             if name.split(".")[0] not in sys.stdlib_module_names
                             and name.split(".")[0] not in ("kali", "__main__", "__mp_main__"))
        print(json.dumps({"file": kali.__file__, "version": kali.__version__, "status": r.status,
                          "body": r.text, "third_party": third_party}))
    """)
    got = json.loads(installed.run("-c", probe).stdout)
    assert got["file"].startswith(str(installed.root)), got["file"]          # not the checkout
    assert got["version"] == installed.wheel.name.split("-")[1]
    assert (got["status"], got["body"]) == (200, "<p>&lt;you&gt;</p>")
    assert got["third_party"] == []


def test_python_m_kali(installed: Installed) -> None:
    version = installed.run("-m", "kali", "--version").stdout
    assert version == f"kali {installed.wheel.name.split('-')[1]}\n"
    intro = installed.run("-m", "kali").stdout
    assert "serve_http(app)" in intro and str(installed.root) in intro
    bad = subprocess.run([str(installed.python), "-I", "-m", "kali", "--frobnicate"], cwd=installed.outside,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--frobnicate" in bad.stderr


@pytest.mark.parametrize("flags", [[], ["-OO"]])
def test_python_m_kali_help_names_the_version_from_its_one_place(flags: list[str]) -> None:
    # Pretend the version was bumped in kali/_version.py: --help and --version must both follow.
    code = ("import kali._version; kali._version.__version__ = '9.8.7'; from kali.__main__ import main; "
            "main(['--help']); main(['--version'])")
    done = subprocess.run([sys.executable, *flags, "-c", code], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "--version" in done.stdout and "None" not in done.stdout
    assert set(re.findall(r"kali (\d+\.\d+\.\d+)", done.stdout)) == {"9.8.7"}, done.stdout


def test_metadata_and_files(installed: Installed) -> None:
    probe = textwrap.dedent("""
        import json
        from importlib import metadata
        dist = metadata.distribution("kali")
        print(json.dumps({"requires": dist.requires, "python": dist.metadata["Requires-Python"],
                          "classifiers": dist.metadata.get_all("Classifier"),
                          "files": [str(f) for f in dist.files]}))
    """)
    got = json.loads(installed.run("-c", probe).stdout)
    assert got["requires"] is None                          # no dependencies at all
    assert got["python"] == ">=3.10" and "Typing :: Typed" in got["classifiers"]
    files = got["files"]
    assert "kali/py.typed" in files and "kali/wsgi.py" in files and "kali/__main__.py" in files
    assert all(f.startswith("kali/") or f.split("/")[0].endswith(".dist-info") for f in files), files
    assert not [f for f in files if "tests" in f.split("/") or "examples" in f.split("/")]
    # Every module in the checkout made it into the package.
    expected = {f"kali/{p.name}" for p in (ROOT / "kali").glob("*.py")}
    assert expected <= set(files)
    # kali's own assets (stylesheet, icon) ship as package data.
    assets = {f"kali/assets/{p.name}" for p in (ROOT / "kali" / "assets").iterdir()}
    assert assets and assets <= set(files)


def test_installed_package_serves_its_own_assets(installed: Installed) -> None:
    probe = textwrap.dedent("""
        import json
        from kali.reserved import asset_url, reserved
        from kali.testing import Client
        client = Client(reserved(lambda request: "app"))
        r = client.get(asset_url("kali.css"))
        print(json.dumps({"status": r.status, "type": r.headers["content-type"], "size": len(r.body)}))
    """)
    got = json.loads(installed.run("-c", probe).stdout)
    assert got["status"] == 200 and got["type"].startswith("text/css")
    assert got["size"] == (ROOT / "kali" / "assets" / "kali.css").stat().st_size


def test_type_checkers_see_the_installed_package(installed: Installed) -> None:
    """py.typed makes mypy use kali's own annotations (a missing marker is an error under --strict)."""
    require_mypy()
    user = installed.outside / "user_code.py"
    user.write_text(textwrap.dedent("""
        from kali import Response
        from kali.testing import Client

        def handler(request: object) -> Response:
            return Response.plain_text("hi")

        status: int = Client(handler).get("/").status
        wrong: str = Response.json({}).code
    """))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--python-executable", str(installed.python), str(user)],
                          cwd=str(installed.outside), capture_output=True, text=True, timeout=120)
    # The one error is ours on purpose: mypy knows `code` is an int, so it read kali's annotations.
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in done.stdout
    assert "missing library stubs or py.typed" not in done.stdout
    assert done.stdout.count("error:") == 1, done.stdout


# -- the repository itself -------------------------------------------------------------------------

def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run git with no user or system configuration (only the repository's own settings count)."""
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    return subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_fresh_clone_has_no_changes(tmp_path: Path) -> None:
    # A file stored one way and checked out another (line endings against .gitattributes) shows
    # as modified in every new clone, before anyone has touched it.
    in_ci = os.environ.get("CI") == "true"
    why_not = None
    if shutil.which("git") is None:
        why_not = "git is not installed"
    else:
        top = git("rev-parse", "--show-toplevel", cwd=ROOT)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
            why_not = f"{ROOT} is not a git checkout (an sdist?)"
    if why_not:
        if in_ci:
            pytest.fail(f"CI must run from a git checkout with git installed: {why_not}")
        pytest.skip(why_not)
    clone = tmp_path / "clone"
    done = git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    status = git("status", "--porcelain", "--untracked-files=all", cwd=clone)
    assert status.returncode == 0, status.stderr
    assert status.stdout == "", f"a fresh clone is not clean:\n{status.stdout}"
