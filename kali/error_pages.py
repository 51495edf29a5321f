"""Error pages in the app's own layout, and JSON errors for its API: one wrapper, per app or per router.

`error_pages(app, page)` answers like `app`, except that kali's error pages made
inside it -- the router's 404, 405 and 400, an `HTTPError` a handler raises (403,
409, 413, 422...), a StaticFolder's 404 -- are rendered by `page(request, error)`
in the app's layout, with its header, navigation and a link back home.  Requests
that ask for JSON (`Accept: application/json`), and every request under one of
the `api` path prefixes, get `{"error": {"status": 404, "reason": "Not Found",
"message": "..."}}` instead.

It is a plain wrapper, so it applies to what it wraps and nothing else: wrap
the whole app once, or one router given a folder of another (its pages win
there: a page already in a layout is not dressed again).  What happens before
the app sees the request -- the security wrapper's refusals (a foreign Host, a
cross-site POST), a request the server cannot read (a body over its limit) --
is answered by kali's default pages (`set_error_page` brands those), since
the app's layout may show the app's data and those requests may not see it.
The 500 page stays kali's too: the debug page on this machine, a plain page
for everyone else -- except for JSON clients and under the `api` prefixes,
where a 500 is JSON like the other errors (the traceback is in the log).
"""

from __future__ import annotations

from .errors import HTTPError
from .iolist import to_chunks
from .log import get_logger
from .request import Request
from .response import ErrorResponse, Handler, Response, internal_error, json_error, wants_json

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, TypeAlias

__all__ = ["ErrorPages", "ErrorPage", "error_pages"]

logger = get_logger()

#: Renders an error in the app's layout: (the request, the error) -> the page (an iolist, or a Response).
ErrorPage: TypeAlias = "Callable[[Request, HTTPError], Any]"


class ErrorPages:
    """A handler that answers like `handler`, with kali's error pages in the app's layout (or as JSON)."""

    def __init__(self, handler: Handler, page: ErrorPage | None = None, *, api: Iterable[str] = ()) -> None:
        if not callable(handler):
            raise TypeError(f"error_pages() needs a handler (a callable taking a Request), not {handler!r}")
        if page is not None and not callable(page):
            raise TypeError(f"error_pages(): page must be a function (request, error) -> page, not {page!r}")
        if isinstance(api, str):
            api = (api,)
        prefixes = []
        for prefix in api:
            if not isinstance(prefix, str) or not prefix.startswith("/") or "?" in prefix:
                raise ValueError(f"error_pages(): an API prefix is a path like '/api/', not {prefix!r}")
            prefixes.append(prefix.rstrip("/"))
        self.handler = handler
        self.__wrapped__ = handler
        #: The function rendering an error in the app's layout (None: kali's default page).
        self.page = page
        #: Path prefixes (below where this wrapper is mounted) whose errors are always JSON.
        self.api: tuple[str, ...] = tuple(api)
        self._api = tuple(prefixes)

    def __call__(self, request: Request) -> Any:
        """Answer with the handler; an error page it made is rendered in the layout, or as JSON."""
        mount = request.mount       # a router inside may move it on; the API prefixes are below this one
        try:
            result = self.handler(request)
        except HTTPError as exc:
            result = Response.generic(exc.status, exc.message, headers=exc.headers, detail=exc.detail)
        except Exception:
            if not self.is_api(request, mount):
                raise           # the 500 page, made (and logged) by the server's run_handler
            # An API's client reads JSON, whatever it accepts: the 500 as JSON, logged here.
            result = internal_error(request, debug=False)
        if type(result) is not ErrorResponse:
            return result
        return self.dress(request, result, mount)

    def is_api(self, request: Request, mount: str = "") -> bool:
        """Whether the request's path lies under one of the API prefixes (below `mount`)."""
        path = request.raw_path
        for prefix in self._api:
            base = mount + prefix
            if path == base or path.startswith(base + "/"):
                return True
        return False

    def dress(self, request: Request, response: ErrorResponse, mount: str = "") -> Response:
        """`response`, a kali error page, as JSON or in the app's layout (keeping its status and header fields)."""
        if self.is_api(request, mount) or wants_json(request):
            return json_error(response)
        if self.page is None:
            return response
        error = response.error
        error.status = response.code
        try:
            page = self.page(request, error)
            if isinstance(page, Response):
                content_type = page.headers.get("content-type")
                body = to_chunks(page.content) if not _is_special(page) else None
            else:
                content_type = None
                # Encoded now: a lazy page that fails while being sent would lose the error it reports.
                body = to_chunks(page)
        except Exception:
            logger.exception("the error page %s failed on a %d; showing kali's own", _name(self.page), response.code)
            return response
        if body is None:
            logger.error("the error page %s returned a file or a stream; showing kali's own", _name(self.page))
            return response
        dressed = Response(body, code=response.code, headers=response.headers)
        dressed.headers["Content-Type"] = content_type or "text/html; charset=utf-8"
        return dressed

    def __repr__(self) -> str:
        return f"<error_pages {self.handler!r} page={_name(self.page)}>"


def _is_special(response: Response) -> bool:
    from .response import FileBody, Stream
    return isinstance(response.content, (FileBody, Stream))


def _name(page: Any) -> str:
    if page is None:
        return "kali's default"
    return getattr(page, "__qualname__", None) or repr(page)


def error_pages(handler: Handler, page: ErrorPage | None = None, *, api: Iterable[str] = ()) -> ErrorPages:
    """Wrap `handler` so its error pages wear the app's layout: `page(request, error)` renders each one.

    `error` is an `HTTPError` (`status`, `reason`, `title`, `message`, `detail`);
    `page` returns the page as an iolist (a template's output) or a Response,
    and its status and header fields (Allow, Retry-After) are kept.  `api` lists
    path prefixes ('/api/') whose errors are JSON, as they are for any request
    whose Accept header prefers JSON.  Without `page`, kali's default pages stay
    and only the JSON rule is added.
    """
    return ErrorPages(handler, page, api=api)
