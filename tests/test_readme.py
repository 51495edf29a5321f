"""The README's example and commands must keep working."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

from kali import guard
from kali.testing import Client

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "./demo.sh intro" in first_block and "./demo.sh test" in first_block


def test_the_twenty_line_example_runs(tmp_path: Any, monkeypatch: Any) -> None:
    code = re.search(r"```python\n(.*?)```", README, re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 22
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}     # not __main__: no server
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    db = namespace["db"]
    with db:
        db.execute("INSERT INTO note (text) VALUES ('milk <and> eggs'), ('call Ada')")
    client = Client(guard(namespace["app"], db))
    page = client.get("/", query={"q": "milk"})
    assert page.status == 200 and "milk &lt;and&gt; eggs" in page.text and "Ada" not in page.text
    assert client.get("/note/2").json() == {"id": 2, "text": "call Ada"}
    assert client.get("/note/two").status == 404
    assert client.get("/note/9").status == 404 and "no note 9" in client.get("/note/9").text
    assert (tmp_path / "notes.sqlite3").exists()


def test_every_example_in_the_table_exists_and_is_listed() -> None:
    names = re.findall(r"^\| `(\w+)` \|", README, re.M)
    listed = subprocess.run([sys.executable, str(ROOT / "examples" / "catalog.py")],
                            capture_output=True, text=True, check=True).stdout
    assert len(names) == 9
    for name in names:
        if (ROOT / "examples" / f"{name}.py").exists():
            assert f"  {name} " in listed
        else:
            raise AssertionError(f"the README lists {name}, but examples/{name}.py does not exist")
    assert (ROOT / "docs" / "datebook.png").exists()


def test_readme_table_lists_the_examples_in_tutorial_order() -> None:
    order = runpy.run_path(str(ROOT / "examples" / "catalog.py"), run_name="catalog")["ORDER"]
    assert re.findall(r"^\| `(\w+)` \|", README, re.M) == order
    image = re.search(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", README)
    assert image is not None and (ROOT / image.group(1)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
