"""Template rendering benchmark: kali vs Jinja2 (autoescape on) vs kali 0.0.8, in one run.

Renders the same page in each engine: a layout template extended by a list
page holding a 1,000-row table with 5 escaped columns (some values contain
``& < > " '`` and non-ASCII text). Prints milliseconds per render, best of
several repeats, and the ratios between engines.

    python bench/templates.py            # creates bench/.venv on first use, then runs in it
    python bench/templates.py --setup    # only create/update bench/.venv

The venv holds jinja2 and kali==0.0.8 (the original kali, installed from
PyPI); the kali under test is imported from this checkout. The two share the
package name, so 0.0.8 is loaded from the venv's site-packages under the name
``kali_008``.
"""

from __future__ import annotations

import html
import importlib.util
import os
import sqlite3
import subprocess
import sys
import sysconfig
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = ["jinja2", "kali==0.0.8"]

ROWS = 1000
NUMBER = 50  # renders per timing
REPEAT = 9  # rounds; the best is reported


def ensure_venv() -> None:
    """Create bench/.venv with the comparison engines, unless it is already there."""
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(VENV_PYTHON), "-c", "import jinja2, importlib.metadata as m; assert m.version('kali') == '0.0.8'"],
        capture_output=True,
    )
    if probe.returncode != 0:
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


# ---------------------------------------------------------------- the page


def make_rows() -> list[dict]:
    cities = ["Paris", "Zürich", "São Paulo", "Kraków", "Reykjavík", "Ōsaka"]
    rows = []
    for i in range(ROWS):
        rows.append(
            {
                "id": i,
                "name": f"Customer {i}" if i % 10 else f"O'Brien & Sons <{i}>",
                "email": f"user{i}@example.com",
                "city": cities[i % len(cities)],
                "note": 'said "hello"' if i % 7 == 0 else "regular customer, pays on time",
            }
        )
    return rows


PAGE = dict(title="Customers & friends", heading="All customers", count=ROWS)


# Each engine gets the same markup, written the way that engine is meant to be used.

KALI_LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title><!--{slot title}-->My app<!--{end}--></title></head>
<body>
<!--{slot body}--><!--{end}-->
</body></html>
"""

KALI_LIST = """<!--{extends layout}-->
<!--{slot title}-->{title}<!--{end}-->
<!--{slot body}-->
<h1>{heading}</h1>
<!--{for row in rows}-->
<table>
<tr><th>id</th><th>name</th><th>email</th><th>city</th><th>note</th></tr>
<!--{each}-->
<tr><td>{row.id}</td><td>{row.name}</td><td>{row.email}</td><td>{row.city}</td><td>{row.note}</td></tr>
<!--{after}-->
</table>
<!--{otherwise}-->
<p>No customers.</p>
<!--{end}-->
<p>{count} customers</p>
<!--{end}-->
"""

JINJA_LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{% block title %}My app{% endblock %}</title></head>
<body>
{% block body %}{% endblock %}
</body></html>
"""

# Subscript syntax: Jinja2's fastest path for dict rows (``row.name`` tries the
# attribute first, which fails for a dict; that variant is measured too).
JINJA_LIST = """{% extends "layout" %}
{% block title %}{{ title }}{% endblock %}
{% block body %}
<h1>{{ heading }}</h1>
{% if rows %}
<table>
<tr><th>id</th><th>name</th><th>email</th><th>city</th><th>note</th></tr>
{% for row in rows %}
<tr><td>{{ row['id'] }}</td><td>{{ row['name'] }}</td><td>{{ row['email'] }}</td><td>{{ row['city'] }}</td><td>{{ row['note'] }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>No customers.</p>
{% endif %}
<p>{{ count }} customers</p>
{% endblock %}
"""

# kali 0.0.8: a base Template, a sub-assembly for the page, a TemplateLoop for the table.
OLD_LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
{.body}
</body></html>
"""
OLD_BODY = """<h1>{heading}</h1>
{.table}
<p>{count} customers</p>"""
OLD_PREAMBLE = """<table>
<tr><th>id</th><th>name</th><th>email</th><th>city</th><th>note</th></tr>
"""
OLD_ROW = """<tr><td>{id}</td><td>{name}</td><td>{email}</td><td>{city}</td><td>{note}</td></tr>
"""


def flatten_to_bytes(iolist) -> bytes:
    """Fallback for ``kali.iolist.to_chunks``: every piece of the iolist as UTF-8 bytes."""
    out: list[bytes] = []

    def walk(item) -> None:
        if isinstance(item, str):
            out.append(item.encode())
        elif isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, (int, float)):
            out.append(str(item).encode())
        elif item is not None:
            for piece in item:
                walk(piece)

    walk(iolist)
    return b"".join(out)


def as_bytes(result) -> bytes:
    """A rendered page as one bytes object: Jinja2 gives bytes, kali a list of chunks."""
    return result if isinstance(result, bytes) else b"".join(result)


def normalise(page: bytes) -> str:
    """Compare pages across engines: entities decoded, blank lines dropped, lines stripped."""
    text = html.unescape(page.decode())
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def load_kali_008():
    purelib = Path(sysconfig.get_paths()["purelib"]) / "kali"
    spec = importlib.util.spec_from_file_location("kali_008", purelib / "__init__.py", submodule_search_locations=[str(purelib)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["kali_008"] = module
    spec.loader.exec_module(module)
    return module


def engines(rows: list[dict]) -> dict:
    """name -> (render to iolist/str, render to bytes)."""
    import jinja2

    old = load_kali_008()
    sys.path.insert(0, str(REPO))
    from kali.templates import Template

    try:
        # What the server does with an iolist before writing it to the socket.
        from kali.iolist import to_chunks
    except ImportError:
        to_chunks = flatten_to_bytes

    kali_layout = Template(KALI_LAYOUT, name="layout")
    kali_page = Template(KALI_LIST, name="list", templates={"layout": kali_layout})

    env = jinja2.Environment(loader=jinja2.DictLoader({"layout": JINJA_LAYOUT, "list": JINJA_LIST}), autoescape=True)
    jinja_page = env.get_template("list")
    env_attr = jinja2.Environment(
        loader=jinja2.DictLoader({"layout": JINJA_LAYOUT, "list": JINJA_LIST.replace("row['", "row.").replace("'] }}", " }}")}),
        autoescape=True,
    )
    jinja_attr_page = env_attr.get_template("list")

    old_page = old.Template(OLD_LAYOUT).assembly(body=OLD_BODY)
    old_table = old.implementation.TemplateLoop(OLD_PREAMBLE, OLD_ROW, "</table>", "<p>No customers.</p>")

    def kali_render():
        return kali_page(rows=rows, **PAGE)

    # The same rows as sqlite3.Row objects, what a kali app usually passes:
    # they take the generic lookup instead of the inline dict path.
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute("create table customer (id, name, email, city, note)")
    db.executemany("insert into customer values (:id, :name, :email, :city, :note)", rows)
    sqlite_rows = db.execute("select * from customer order by id").fetchall()

    def kali_row_render():
        return kali_page(rows=sqlite_rows, **PAGE)

    def jinja_render():
        return jinja_page.render(rows=rows, **PAGE)

    def jinja_attr_render():
        return jinja_attr_page.render(rows=rows, **PAGE)

    def old_render():
        return old_page(table=old_table.loop(rows), **PAGE)

    return {
        "kali (this checkout)": (kali_render, lambda: to_chunks(kali_render())),
        "kali, sqlite3.Row rows": (kali_row_render, lambda: to_chunks(kali_row_render())),
        "jinja2 row['x']": (jinja_render, lambda: jinja_render().encode()),
        "jinja2 row.x": (jinja_attr_render, lambda: jinja_attr_render().encode()),
        "kali 0.0.8": (old_render, lambda: to_chunks(old_render())),
    }


def best_ms(functions: dict) -> dict:
    """Best milliseconds per call of each function; rounds interleave the engines so drift hits all alike."""
    for fn in functions.values():
        fn()  # warm up
    best = {name: float("inf") for name in functions}
    for _ in range(REPEAT):
        for name, fn in functions.items():
            best[name] = min(best[name], timeit.timeit(fn, number=NUMBER) / NUMBER * 1000)
    return best


def main() -> None:
    import jinja2

    rows = make_rows()
    table = engines(rows)
    pages = {name: normalise(as_bytes(to_bytes())) for name, (_, to_bytes) in table.items()}
    reference = pages["kali (this checkout)"]
    for name, page in pages.items():
        if page != reference:
            raise SystemExit(f"{name} renders a different page than kali; fix the benchmark templates")

    print(f"Python {sys.version.split()[0]}, jinja2 {jinja2.__version__}, markupsafe escape in C; "
          f"{ROWS} rows x 5 escaped columns, best of {REPEAT} x {NUMBER} renders")
    print(f"{'engine':<22} {'render ms':>10} {'+ bytes ms':>11}")
    renders = best_ms({name: render for name, (render, _) in table.items()})
    to_bytes = best_ms({name: encode for name, (_, encode) in table.items()})
    results = {name: (renders[name], to_bytes[name]) for name in table}
    for name, (render_ms, bytes_ms) in results.items():
        print(f"{name:<22} {render_ms:>10.3f} {bytes_ms:>11.3f}")
    ours = results["kali (this checkout)"]
    print()
    for other in ("jinja2 row['x']", "jinja2 row.x", "kali 0.0.8"):
        theirs = results[other]
        print(f"kali is {theirs[0] / ours[0]:.2f}x as fast as {other} (render), {theirs[1] / ours[1]:.2f}x (render + bytes)")


if __name__ == "__main__":
    setup_only = "--setup" in sys.argv[1:]
    if not in_venv():
        ensure_venv()
        if setup_only:
            print(f"benchmark venv ready: {VENV}")
            raise SystemExit(0)
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    if setup_only:
        ensure_venv()
        raise SystemExit(0)
    main()
