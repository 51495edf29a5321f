"""The reference docs cannot rot: every ```python test block in docs/*.md runs, and every kali name they import exists.

A block whose info string is `python test` is a complete program: it runs in
its own Python process (from a temporary folder, with a private data folder and
no browser), and it passes when it exits with status 0 -- its `assert`s are
the checks. Other python blocks are not run (they start servers or are
fragments), but the names they import from kali must exist.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["serving", "http", "routing", "responses", "templates", "forms", "sqlite", "security", "testing", "deploying"]
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
