"""The first app: routes, wildcards, typed query parameters, plain text vs HTML, error pages, links.

Read this file top to bottom, then run it with `./demo.sh intro` (`demo intro`
on Windows, or `python examples/intro.py`) and click every link on its home
page. It needs nothing but Python: kali is the standard library and this
checkout.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import HTTPError, Request, Response, Router, error_pages, escape, serve_http  # noqa: E402
from kali.reserved import asset_url  # noqa: E402

# A Router is the app: it sends each request to whatever is published at its path.
app = Router()


def page(title: str, *body: object) -> list[object]:
    """Wrap some HTML in the page every example shares (head, stylesheet, top bar)."""
    # A handler may return a list of strings (nested as deep as you like): kali sends the
    # pieces one after another without joining them, so there is no need to build one big string.
    # kali.css and the icon ship with kali; asset_url() gives the /_kali/ address every app serves
    # them at (the name changes with their content, so browsers may keep them for good).
    return [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>", escape(title), " - kali intro</title>",
        "<link rel='icon' href='", asset_url("icon.svg"), "'><link rel='stylesheet' href='",
        asset_url("kali.css"), "'></head><body><header class='bar'><a class='brand' href='/'>",
        "<img src='", asset_url("icon.svg"), "' alt='' width='22' height='22'>kali</a>",
        "<span class='example'>intro</span></header>",
        "<main>", body, "</main></body></html>",
    ]


# @app.function(path) publishes a function. Its return value is the page: a string or a list of
# strings is sent as HTML.
@app.function("/")
def home() -> list[object]:
    """The home page: a link to everything this example shows."""
    return page(
        "Hello",
        "<h1>Hello from kali</h1>",
        "<p class='lead'>This whole app is one short Python file, <code>examples/intro.py</code>. ",
        "Each link below is answered by one function in it.</p>",
        "<h2>Wildcards and query parameters</h2><ul>",
        "<li><a href='/hello/Ada'>/hello/Ada</a>: a <code>*</code> in the path becomes an argument</li>",
        "<li><a href='/hello/Ada?times=3&amp;shout=yes'>/hello/Ada?times=3&amp;shout=yes</a>: ",
        "query parameters become keyword arguments, converted by their annotations</li>",
        "<li><a href='/hello/Ada?times=lots'>/hello/Ada?times=lots</a>: not a whole number, ",
        "so kali answers 400 and says which parameter was wrong</li>",
        "<li><a href='/add/2/40'>/add/2/40</a> is plain text; <a href='/add/2/forty'>/add/2/forty</a> ",
        "does not match the <code>int</code> wildcards, so it is a 404</li>",
        "<li><a href='", escape(app.url_for("hello", "Zoë & Bo")), "'>a link built by <code>app.url_for</code></a>: ",
        "the path of a published function from its name and its wildcard values, encoded</li>",
        "</ul><h2>What errors look like</h2><ul>",
        "<li><a href='/broken'>/broken</a>: a function that raises. You get a 500 page with the ",
        "traceback (only ever shown to a browser on this machine)</li>",
        "<li><a href='/secret'>/secret</a>: a function that refuses with <code>HTTPError(403, ...)</code></li>",
        "<li><a href='/nowhere'>/nowhere</a>: nothing is published there, so the router answers 404</li>",
        "</ul><p>The error pages wear this example's own look: one call, ",
        "<code>error_pages(app, error_page)</code>, at the bottom of the file.</p>",
        "<p class='muted'>Next: <code>./demo.sh static_content</code>.</p>",
    )


# A `*` matches one path segment and is passed as a positional argument. Parameters that no
# wildcard fills come from the query string (?times=3&shout=yes). Annotations say what they
# are: kali converts the text and answers 400 naming the parameter when it does not fit. A
# parameter with a default is optional.
@app.function("/hello/*")
def hello(name: str, times: int = 1, shout: bool = False) -> list[object]:
    """Greet someone, `times` times, loudly if asked."""
    greeting = f"Hello, {name}!"
    if shout:
        greeting = greeting.upper()
    # Anything that came from the request goes through escape() before it goes into HTML:
    # try /hello/<b>you</b> and see the tags shown, not obeyed. (A visitor's number is capped
    # too: ?times=100000000 must not build a page that size.)
    items = [["<li>", escape(greeting), "</li>"] for _ in range(min(times, 100))]
    return page(greeting, "<h1>Greetings</h1><ul>", items, "</ul><p><a href='/'>Back</a></p>")


# Two int wildcards: '/add/2/forty' does not fit, and a path that does not fit is a 404.
@app.function("/add/*/*")
def add(a: int, b: int) -> Response:
    """Plain text instead of HTML: the browser shows it as is, tags and all."""
    return Response.plain_text(f"{a} + {b} = {a + b}\n<b>This is not bold: plain text is not HTML.</b>\n")


@app.function("/broken")
def broken() -> list[object]:
    """A bug: the exception becomes a 500 page, and the server carries on serving."""
    tasks = {"write": "done"}
    return page("Broken", tasks["test"])     # KeyError: there is no 'test' task


@app.function("/secret")
def secret() -> list[object]:
    """Refuse on purpose: raise HTTPError anywhere and the visitor gets that status and message."""
    raise HTTPError(403, "This page is not for you (it is an example of HTTPError).")


# Nothing is published at /nowhere: the router answers 404 by itself.


def error_page(request: Request, error: HTTPError) -> list[object]:
    """Every error page of the app (404, 403, 400...) in the same page as the others, with a way home."""
    return page(error.title, "<h1>", escape(error.title), "</h1><p class='notice error'>", escape(error.message),
                "</p><p><a href='/'>Back to the start</a></p>")


# error_pages() wraps the app: the pages kali makes for its errors (the router's 404, an HTTPError
# raised by a handler) are drawn by error_page() instead. A request asking for JSON gets JSON.
handler = error_pages(app, error_page)

if __name__ == "__main__":
    # Prints the address, opens your browser and serves until Ctrl-C. `./demo.sh intro --port 8090
    # --no-browser` sets KALI_PORT and KALI_NO_BROWSER, which serve_http reads.
    serve_http(handler)
