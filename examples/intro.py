"""The first app: a few pages, plain text versus HTML, and what an error page looks like."""

# Run it with ./demo.sh intro (or: python examples/intro.py).
import os
import sys

# Let the example run from a checkout without installing kali.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kali import Request, Response, serve_http  # noqa: E402


def app(request: Request) -> object:
    """A handler is any function from a Request to a Response or to page content."""
    if request.path == "/":
        # A list of strings is an "iolist": the server sends the pieces without joining them.
        return ["<!DOCTYPE html><title>kali intro</title>",
                "<h1>Hello from kali</h1>",
                "<ul><li><a href='/hello?name=World'>/hello?name=World</a>",
                "<li><a href='/text'>plain text</a>",
                "<li><a href='/broken'>a handler that raises</a></ul>"]
    if request.path == "/hello":
        name = request.GET.get("name", "stranger")
        import html
        return ["<p>Hello, ", html.escape(name), "!</p>"]
    if request.path == "/text":
        return Response.plain_text("Plain text: <b> is not markup here.\n")
    if request.path == "/broken":
        raise RuntimeError("this is what an error page looks like")
    return Response.generic(404, f"Nothing lives at {request.path}.")


if __name__ == "__main__":
    serve_http(app)
