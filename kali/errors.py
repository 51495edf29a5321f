"""`HTTPError`: what a handler raises to answer with an error page (a 404, a 400 naming a field...).

An application-level error, not a protocol one: the parser's `ProtocolError`
(in `kali.http`) is a kind of HTTPError, so one `except HTTPError` turns both
into their pages.
"""

from __future__ import annotations

from http import HTTPStatus

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterable

__all__ = ["HTTPError"]


class HTTPError(Exception):
    """An error that becomes an HTTP error response with `status` and a plain `message`.

    An error page in the app's own layout (`kali.error_pages`) is given one of these:
    `status`, `reason` ('Not Found'), `title` ('404 Not Found'), `message` and `detail`.
    """

    def __init__(self, status: int, message: str = "", headers: Iterable[tuple[str, str]] = (), *,
                 detail: str | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = list(headers)
        #: Preformatted text shown under the message (or None).
        self.detail = detail

    @property
    def reason(self) -> str:
        """The status's reason phrase: 'Not Found' for 404 ('Error' for a code without one)."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    @property
    def title(self) -> str:
        """The status and its reason phrase, as an error page's heading: '404 Not Found'."""
        return f"{self.status} {self.reason}"

    def __str__(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = ""
        return f"{self.status} {phrase}: {self.message}".rstrip(": ")
