"""What importing kali loads: the modules an app's import line needs, and not the heavy ones kali loads on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Loaded on first use only (CSRF tokens, JSON bodies, route signatures, signal handlers, the
#: loopback check, the first log message, a spooled body, a saved upload, the server's deadline
#: queue, a database with a schema or migrations, the first compiled template, a CSV upload),
#: never by the import line: each costs start-up time an app may not need.
LAZY = ["hashlib", "_hashlib", "hmac", "secrets", "base64", "dataclasses", "inspect", "ast", "dis", "json",
        "signal", "ipaddress", "decimal", "logging", "traceback", "tokenize", "textwrap", "tempfile",
        "shutil", "threading", "heapq", "kali.migrations", "kali.template_compiler", "kali._records",
        "kali.csvio", "csv"]

#: Not imported by the app line either: kali's annotations are not evaluated at run time, so only
#: type checkers import typing (kali.wsgi, which defines typing.Protocol classes, is the exception).
NOT_AT_RUN_TIME = ["typing", "contextlib"]

APP_LINE = "from kali import serve_http, Router, Response, TemplateFolder, guard, open_database; import kali.forms"


def modules_loaded_by(code: str) -> set[str]:
    """Modules a fresh interpreter loads for `code` beyond what urllib.parse (which kali needs) loads itself."""
    script = (
        "import sys\n"
        "import urllib.parse  # some Python versions load ipaddress here: not kali's doing\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(ROOT),
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_app_import_line_does_not_load_the_lazy_modules() -> None:
    loaded = modules_loaded_by(APP_LINE)
    assert "kali.forms" in loaded and "kali.server" in loaded and "kali.templates" in loaded
    assert sorted(loaded & set(LAZY + NOT_AT_RUN_TIME)) == []


def test_every_public_name_imports_without_the_lazy_modules() -> None:
    loaded = modules_loaded_by("import kali\nfor name in kali.__all__: getattr(kali, name)")
    assert "kali.wsgi" in loaded and "kali.static" in loaded
    assert sorted(loaded & set(LAZY)) == []


@pytest.mark.parametrize("code, needed", [
    ("from kali.forms import csrf_token, verify_csrf_token\nassert verify_csrf_token(csrf_token('/a'), '/a')",
     "hmac"),
    ("from kali.forms import csrf_token\nassert csrf_token('/a')", "base64"),
    ("from kali import open_database\nopen_database(':memory:', schema='CREATE TABLE t (a)').close()",
     "kali.migrations"),
    ("from kali import open_database\nopen_database(':memory:', migrations=['CREATE TABLE t (a)']).close()",
     "kali.migrations"),
    ("from kali import Template\nassert Template('<p>{x}</p>')(x=1)", "kali.template_compiler"),
    ("from kali import TemplateLoop\nTemplateLoop(body='<li>{n}</li>', item='n', items='ns')", "kali.template_compiler"),
    ("from kali.forms import INT, read_csv\nassert read_csv('a\\n1\\n', {'a': INT}).rows", "csv"),
    ("from kali import Response\nassert Response.json({'a': 1}).content == '{\"a\":1}'", "json"),
    ("from kali.lenses import DECIMAL\nassert str(DECIMAL.to_native('1.50')) == '1.50'", "decimal"),
    ("from kali import Router\napp = Router()\n@app.servlet('/n/*')\nclass N:\n    def __init__(self, request, n: int): pass\n    def do_GET(self): return 'x'",
     "inspect"),
    ("from kali.log import get_logger\nget_logger().debug('x')", "logging"),
    ("from kali.server import Server\nServer(lambda request: 'x', port=0).close()", "logging"),
    ("from kali.server import Server\nServer(lambda request: 'x', port=0).close()", "heapq"),
    ("from kali.exchange import RequestBody\nRequestBody(None).discard()", "tempfile"),
])
def test_a_lazy_module_is_loaded_when_its_feature_is_used(code: str, needed: str) -> None:
    assert needed in modules_loaded_by(code)


@pytest.mark.parametrize("code", [
    "from kali import open_database\nopen_database(':memory:').close()",
    "from kali import TemplateFolder\nTemplateFolder('.')",
    "from kali import Router\napp = Router()\n@app.function('/n/*')\ndef n(x: int): return str(x)",
])
def test_features_that_do_not_need_a_lazy_module_do_not_load_it(code: str) -> None:
    # A database without schema or migrations, a template folder before its first page, a typed route.
    loaded = modules_loaded_by(code)
    assert "kali.migrations" not in loaded and "kali.template_compiler" not in loaded and "csv" not in loaded


@pytest.mark.parametrize("annotations", ["x: int, q: str = ''", "x: int | None, q: list[int] = []",
                                         "request, x, *rest: int, q: float = 1.0, **more"])
def test_a_function_route_reads_its_parameters_without_inspect_or_typing(annotations: str) -> None:
    # Most routes are plain functions: their parameters come from the code object, not inspect.
    loaded = modules_loaded_by(f"from kali import Router\napp = Router()\n@app.function('/n/*')\n"
                               f"def n({annotations}): return 'x'")
    assert "inspect" not in loaded and "typing" not in loaded


def test_a_pattern_compiled_later_matches_as_re_compile_does() -> None:
    import re

    from kali.patterns import compile_later
    later = compile_later(r"(a+)(b?)", re.IGNORECASE)
    assert later.fullmatch("AAb").groups() == ("AA", "b")       # type: ignore[union-attr]
    assert later.findall("ab aab") == re.compile(r"(a+)(b?)", re.IGNORECASE).findall("ab aab")
