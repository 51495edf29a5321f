"""Template files: placeholders, formatters, if, loops with "otherwise", layouts, mistakes.

Run it with `./demo.sh templates_tour`. The page shows each template file in
`templates/templates_tour/` next to what it renders; two links show what a
mistake in a template looks like. Templates are HTML with `{placeholders}`
(escaped unless written `{.like_this}`) and sections written as HTML comments,
`<!--{if ...}-->`, `<!--{for ...}-->`, so they stay valid HTML for your editor.
"""

import datetime
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import Router, TemplateFolder, serve_http  # noqa: E402

# One TemplateFolder for the whole top-level templates/ folder: 'templates_tour/tour' is the file
# templates/templates_tour/tour.tpl, and a template can extend or include any other by such a name
# (this example's pages extend 'common/layout', the page all the examples share). Files are read
# when first used and read again whenever they change, so editing one needs no restart.
# The layout all the examples share (templates/common/layout.tpl) shows flash messages; this
# example never flashes one, so `flashes` is a global name: empty unless a handler passes some.
templates = TemplateFolder(HERE.parent / "templates", globals={"flashes": ()})


def file_size(size: float) -> str:
    """A byte count the way people read it: 2.4 MB."""
    if size < 1000:
        return f"{size:.0f} bytes"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:,.1f} GB"


# Formatters turn a value into text: {city.photo_bytes:filesize}. num, cents and date are built in;
# this adds one for this folder's templates. An unknown formatter name is an error when the
# template loads, not a surprise in production.
templates.register_formatter("filesize", file_size)

# What the templates are given. A template may use any of these names; every name it uses must be
# passed (None counts), and names it does not use are ignored, so one dict feeds them all.
DATA = {
    "visitor": {"name": "Ada", "unread": 3},
    "comment": "I <3 templates & <script>alert('so do you')</script>",
    "badge": "<span class='ok'>&#x2714; verified</span>",
    "point": (3, 4),
    "nothing": None,
    "city": {"population": 2_165_423, "budget": 9_871_234.5, "founded": datetime.date(1250, 6, 1),
             "photo_bytes": 2_431_117},
    "signed_in_as": "ada@example.org",
    "overdue": 0,
    "books": [
        {"title": "The Left Hand of Darkness", "author": "Ursula K. Le Guin", "price": 9.99},
        {"title": "Kindred", "author": "Octavia E. Butler", "price": 12.5},
        {"title": "Solaris", "author": "Stanisław Lem", "price": 11},
    ],
    "wishlist": [],
}

# The parts of the tour: (template name, heading, what it shows).
SECTIONS = [
    ("placeholders", "Placeholders and escaping",
     "{name} puts a value in the page, escaped: a visitor's text can never become markup. {.name} "
     "writes trusted markup as it is. {a.b} looks up an item or attribute, {a.0} a position."),
    ("formatters", "Formatters",
     "{value:num}, {value:cents} and {value:date} format numbers and dates; 'filesize' is registered "
     "by templates_tour.py with templates.register_formatter()."),
    ("conditionals", "Conditionals",
     "<!--{if x}--> shows its part when x is true (not empty, not zero, not None); <!--{if not x}--> "
     "the opposite. <!--{otherwise}--> is the else."),
    ("loops", "Loops, with \"otherwise\"",
     "<!--{for row in rows}--> repeats its <!--{each}--> part for every row, with a part before "
     "the first row and one <!--{after}--> the last; when there are no rows, only the <!--{otherwise}--> "
     "part is shown. No more empty tables with a lonely header."),
    ("include", "Including another template",
     "<!--{include name}--> inserts another file, which sees the same parameters."),
    ("base", "Extending a layout",
     "This whole page is tour.tpl, which starts with <!--{extends templates_tour/base}--> and fills "
     "the slots 'title' and 'body'. base.tpl, below, itself extends common/layout.tpl (the page every "
     "example shares) and fills 'example' and 'nav'. A slot not filled keeps its default."),
]


def section(name: str, title: str, explanation: str) -> dict[str, object]:
    """One part of the tour: the template's source text and what it renders with DATA."""
    file = f"templates/templates_tour/{name}.tpl"
    source = (HERE.parent / file).read_text(encoding="utf-8")
    # A layout only makes sense as a whole page: for it, this very page is the output.
    output = None if name == "base" else templates(f"templates_tour/{name}", **DATA)
    return {"name": name, "title": title, "explanation": explanation, "file": file,
            "source": source, "output": output}


app = Router()


@app.function("/")
def tour() -> list[object]:
    """The tour page: rendering a template gives an iolist, which is a page a handler can return."""
    return templates("templates_tour/tour", sections=[section(*part) for part in SECTIONS])


@app.function("/broken")
def broken() -> list[object]:
    """A page whose template has a typo: loading it raises TemplateError, shown on the 500 page."""
    return templates("templates_tour/broken", tasks=["write the tour"])


@app.function("/forgot")
def forgot() -> list[object]:
    """A handler that forgets to pass `total`: rendering raises TemplateRuntimeError naming it."""
    return templates("templates_tour/receipt", customer="Ada")


if __name__ == "__main__":
    serve_http(app)
