"""`HTTPError`: what a handler raises to answer with an error page (a 404, a 400 naming a field...).

An application-level error, not a protocol one: the parser's `ProtocolError`
(in `kali.http`) is a kind of HTTPError, so one `except HTTPError` turns both
into their pages.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Iterable

__all__ = ["HTTPError"]


class HTTPError(Exception):
    """An error that becomes an HTTP error response with `status` and a plain `message`."""

    def __init__(self, status: int, message: str = "", headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = list(headers)

    def __str__(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = ""
        return f"{self.status} {phrase}: {self.message}".rstrip(": ")
