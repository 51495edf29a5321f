"""The reference docs cannot rot: every ```python test block in docs/*.md runs, and every kali name they import exists.

A block whose info string is `python test` is a complete program: it runs in
its own Python process (from a temporary folder, with a private data folder and
no browser), and it passes when it exits with status 0 -- its `assert`s are
the checks. Other python blocks are not run (they start servers or are
fragments), but the names they import from kali must exist. A call or signature
written in backquotes (`serve_http(app, port=0)`) must match the real callable.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kali
import kali.forms
import kali.instance
import kali.launch
import kali.presence
import kali.response
import kali.routing
import kali.security
import kali.server
import kali.shortcut
import kali.sqlite
import kali.static
import kali.templates
import kali.testing
import kali.watch
import kali.window
import kali.wsgi

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["serving", "launching", "developing", "http", "routing", "responses", "templates", "layouts", "urls", "forms", "sqlite",
         "security", "testing", "deploying"]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[tuple[int, str, str]]:
    """(line number, info string, code) of every fenced block in a page."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


def snippets() -> list[tuple[str, int, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for line, info, code in blocks(page):
            if info == "python test":
                found.append((page.name, line, code))
    return found


def test_every_layer_has_a_page_with_a_tested_snippet() -> None:
    tested = {name for name, _, _ in snippets()}
    for page in PAGES:
        assert (DOCS / f"{page}.md").is_file(), f"docs/{page}.md is missing"
        assert f"{page}.md" in tested, f"docs/{page}.md has no ```python test block"


def test_the_index_links_every_page_and_every_link_resolves() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"]({page}.md)" in index, f"docs/README.md does not link {page}.md"
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (DOCS / target).is_file(), f"{page.name} links to {target}, which does not exist"


@pytest.mark.parametrize("page, line, code", snippets(), ids=lambda v: str(v) if not isinstance(v, str) or
                         v.endswith(".md") else "")
def test_snippet_runs(page: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / f"{page[:-3]}_line{line}.py"
    # Blank lines up to the block's first line, so tracebacks point at the line in the page.
    script.write_text("\n" * (line - 1) + code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), KALI_NO_BROWSER="1", KALI_DATA_DIR=str(tmp_path / "data"),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"docs/{page}, the block at line {line}, failed:\n{done.stderr}{done.stdout}"


def imported_kali_names(code: str) -> list[tuple[str, str]]:
    """(module, name) for each `from kali... import name` in a code block (fragments are skipped)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kali":
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names if alias.name.split(".")[0] == "kali")
    return found


def test_every_kali_name_the_docs_import_exists() -> None:
    import importlib
    checked = 0
    for page in sorted(DOCS.glob("*.md")):
        for line, info, code in blocks(page):
            if not info.startswith("python"):
                continue
            for module, name in imported_kali_names(code):
                imported = importlib.import_module(module)
                if name:
                    assert hasattr(imported, name), f"docs/{page.name}:{line} imports {name} from {module}"
                checked += 1
    assert checked > 20


# -- the signatures the reference pages print are the ones the code has ---------------------------

CALL = re.compile(r"`((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\(([^`()]*(?:\([^`()]*\)[^`()]*)*)\)`")
IDENTIFIER = re.compile(r"[A-Za-z_]\w*$")
MODULES = [kali, kali.response, kali.routing, kali.testing, kali.wsgi, kali.sqlite, kali.security, kali.server,
           kali.templates, kali.static, kali.forms, kali.launch, kali.instance, kali.window, kali.presence,
           kali.shortcut, kali.watch]
#: Names the docs use for instances: `app.delegate(...)` is Router.delegate.
INSTANCES = {"app": kali.Router, "router": kali.Router, "response": kali.Response, "request": kali.Request,
             "client": kali.testing.Client, "folder": kali.TemplateFolder}


def resolve(dotted: str) -> Any:
    first, *rest = dotted.split(".")
    obj = INSTANCES.get(first) or next((getattr(m, first) for m in MODULES if hasattr(m, first)), None)
    for part in rest:
        obj = getattr(obj, part, None)
    return obj if callable(obj) else None


def split_arguments(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return parts + [current.strip()] if current.strip() else parts


def signature_problems(dotted: str, arguments: str) -> list[str]:
    """What is wrong with a documented `name(arguments)` against the real callable."""
    obj = resolve(dotted)
    if obj is None:
        return []
    try:
        real = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return []
    takes_any_keyword = any(p.kind is p.VAR_KEYWORD for p in real.values())
    items = split_arguments(arguments)
    bare = [item for item in items if IDENTIFIER.match(item)]
    # A signature names its parameters (`generic(code, message=None)`); a call passes values
    # (`serve_http(app, port=0)`): only keyword names can be checked in a call.
    is_signature = bool(bare) and all(name in real for name in bare)
    keyword_only_from_here = False
    problems = []
    for item in items:
        if item == "*" or (item.startswith("*") and not item.startswith("**")):
            keyword_only_from_here = True
            continue
        name = item.split("=", 1)[0].strip()
        if not IDENTIFIER.match(name) or ("=" not in item and not is_signature):
            continue
        parameter = real.get(name)
        if parameter is None:
            if not takes_any_keyword:
                problems.append(f"has no parameter {name!r}")
        elif is_signature and not keyword_only_from_here and parameter.kind is parameter.KEYWORD_ONLY:
            problems.append(f"{name!r} is keyword-only (write `*, {name}`)")
        elif parameter.kind is parameter.POSITIONAL_ONLY and "=" in item:
            problems.append(f"{name!r} is positional-only")
    return problems


def test_the_signature_checker_catches_what_it_should() -> None:
    assert signature_problems("Response.generic", "code, message=None, detail=None") == [
        "'detail' is keyword-only (write `*, detail`)"]
    assert signature_problems("Response.generic", "code, message=None, *, detail=None") == []
    assert signature_problems("serve_http", "app, colour=1") == ["has no parameter 'colour'"]
    assert signature_problems("serve_http", "app, allowed_hosts=[1]") == []


def test_the_signatures_in_the_docs_are_the_real_ones() -> None:
    checked = 0
    problems = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8").replace("\n", " ")
        for match in CALL.finditer(text):
            if resolve(match.group(1)) is None:
                continue
            checked += 1
            problems += [f"docs/{page.name}: {match.group(0)[:70]}: {p}"
                         for p in signature_problems(match.group(1), match.group(2))]
    assert not problems, "\n".join(problems)
    assert checked > 30
