"""Serving a folder of stylesheets, scripts and images with StaticFolder.

Every web app has files that never change while it runs: CSS, JavaScript,
pictures, fonts. `StaticFolder(directory)` is a handler that serves one folder
of them, and `app.delegate_folder('/static/', ...)` gives it every path below
/static/. Run it with `./demo.sh static_content` and look at the page, then at
`examples/static/static_content/`, where its files live.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import Router, StaticFolder, serve_http  # noqa: E402
from kali.reserved import asset_url  # noqa: E402

app = Router()

# The one line this example is about. Every path below /static/ is looked up in examples/static/:
# /static/datebook.css is examples/static/datebook.css, /static/static_content/clock.js is in the
# subfolder.
#
# What StaticFolder takes care of, so you do not have to:
# - nothing outside the folder is ever served: '..', encoded slashes and symbolic links that
#   lead out are refused, and hidden names (.git, .env) are 404s;
# - every file gets a Content-Type from its extension, an ETag and a Last-Modified date, and
#   "Cache-Control: no-cache": the browser keeps a copy but asks "has it changed?" each time,
#   and gets a tiny "304 Not Modified" unless you edited the file. Edit, reload, see it at once.
#   (StaticFolder(..., max_age=3600) lets browsers skip asking for an hour: for finished apps.)
# - Range requests (resuming downloads, seeking in videos), and files of any size are sent by
#   the kernel (sendfile) without being read into memory.
app.delegate_folder("/static/", StaticFolder(HERE / "static"))

# The same folder again, with listing=True: a folder without an index.html shows its entries.
# Handy on your own machine; leave it off for folders whose file names are private.
app.delegate_folder("/browse/", StaticFolder(HERE / "static", listing=True))


# The page itself is made by Python, but it is only a shell: its look comes from two stylesheets,
# its picture is a PNG file, and a script file fills in the parts that move. One stylesheet and the
# icon are kali's own: they ship with kali, and every kali app serves them under /_kali/, at the
# address asset_url() gives (it names their content, so a browser may keep them for good).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Static files - kali</title>
<link rel="icon" href="{icon}">
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="/static/static_content/look.css">
<script src="/static/static_content/clock.js" defer></script>
</head>
<body>
<header class="bar"><a class="brand" href="/"><img src="{icon}" alt="" width="22" height="22">kali</a>
<span class="example">static_content</span></header>
<main>
<h1>Static files</h1>
<p class="lead">Everything on this page that is not text comes from a file in
<code>examples/static/</code>, served by one <code>StaticFolder</code>.</p>

<h2>A stylesheet</h2>
<p class="proof" id="css-proof">This paragraph has a green bar on its left because
<a href="/static/static_content/look.css">look.css</a> loaded. The rest of the page is styled by
<a href="{css}">kali.css</a>, the stylesheet that ships with kali (every kali app serves it).</p>

<h2>A picture</h2>
<img class="picture" id="picture" src="/static/static_content/sunrise.png" width="320" height="160"
     alt="A yellow sun rising over a dark green field">

<h2>A script</h2>
<p id="js-status" class="notice">If you can read this, JavaScript did not run.</p>
<p>The script <a href="/static/static_content/clock.js">clock.js</a> also asked the server for
<a href="/static/static_content/notes.txt">notes.txt</a>; these headers are what make caching work:</p>
<dl id="headers"><dt>Headers</dt><dd>loading...</dd></dl>

<h2>A folder listing</h2>
<p><a href="/browse/">/browse/</a> is the same folder served with <code>listing=True</code>.</p>

<p class="muted">Next: <code>./demo.sh simple_task_list</code>.</p>
</main>
</body>
</html>
""".replace("{css}", asset_url("kali.css")).replace("{icon}", asset_url("icon.svg"))


@app.function("/")
def home() -> str:
    """The page: one string of HTML (nothing in it depends on the request)."""
    return PAGE


if __name__ == "__main__":
    serve_http(app)
