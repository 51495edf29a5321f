"""Flash messages: a one-time note ("Book saved.") carried to the next page in a signed cookie.

After a POST the app redirects (POST-redirect-GET) and wants the next page to
say what happened.  `flash(response, "Book saved.")` puts the message in a
short-lived cookie, signed so no other page can forge one; the next page reads
it with `flashed_messages(request)`, and the cookie is deleted by the response
of that page, so a reload does not show the message again.  No server-side
session is involved.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .response import Response
from .signing import sign, verify

__all__ = ["Flash", "flash", "flashed_messages", "finish_flashes", "COOKIE"]

#: The cookie that carries the messages.
COOKIE = "kali_flash"
_PURPOSE = "kali-flash"
# Browsers keep at most about 4 KB per cookie; the oldest messages give way first.
_MAX_VALUE = 3000
# A message not shown within this many seconds (the redirect was never followed) is dropped.
_LIFETIME = 600


class Flash:
    """One flash message: its kind ('info', 'success', 'error', ...) and its text.

    Not a tuple: a template writes `{m}` for the text (a tuple would be flattened
    into kind and text) and `{m.kind}` for the kind.
    """

    __slots__ = ("kind", "message")

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Flash) and (self.kind, self.message) == (other.kind, other.message)

    def __hash__(self) -> int:
        return hash((self.kind, self.message))

    def __repr__(self) -> str:
        return f"Flash({self.kind!r}, {self.message!r})"


def _encode(messages: list[Flash]) -> str:
    while True:
        data = json.dumps([[m.kind, m.message] for m in messages], ensure_ascii=True,
                          separators=(",", ":")).encode("ascii")
        payload = base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
        if len(payload) <= _MAX_VALUE or len(messages) <= 1:
            break
        messages = messages[1:]
    if len(payload) > _MAX_VALUE:
        raise ValueError(f"a flash message is too long for a cookie ({len(messages[0].message)} characters)")
    return f"{payload}.{sign(_PURPOSE, payload.encode('ascii'))}"


def _decode(value: str | None) -> list[Flash]:
    if not value:
        return []
    payload, dot, signature = value.rpartition(".")
    if not dot or not verify(_PURPOSE, payload.encode("ascii", "replace"), signature):
        return []       # tampered with, or signed by an earlier run of the app: ignore it
    try:
        items = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return [Flash(str(kind), str(message)) for kind, message in items]
    except (ValueError, TypeError):
        return []


def _pending_in(response: Response) -> list[Flash]:
    """Messages this response already flashes (a second flash() adds to them)."""
    for value in response.headers.get_all("set-cookie"):
        if value.startswith(COOKIE + "="):
            return _decode(value[len(COOKIE) + 1:].split(";", 1)[0])
    return []


def flash(response: Response, message: str, kind: str = "info") -> Response:
    """Show `message` once, on the next page the browser loads; returns `response` for chaining."""
    if not isinstance(message, str) or not message:
        raise ValueError(f"a flash message must be a non-empty str, not {message!r}")
    messages = _pending_in(response) + [Flash(str(kind), message)]
    headers = response.headers
    others = [v for v in headers.get_all("set-cookie") if not v.startswith(COOKIE + "=")]
    if "set-cookie" in headers:
        del headers["set-cookie"]
    for value in others:
        headers.add("Set-Cookie", value)
    response.set_cookie(COOKIE, _encode(messages), max_age=_LIFETIME, same_site="Lax")
    return response


def flashed_messages(request: Any) -> list[Flash]:
    """The messages flashed to this page (once: the cookie is deleted by this page's response)."""
    messages = _decode(request.cookies.get(COOKIE))
    if messages or COOKIE in request.cookies:
        request._kali_flash_taken = True
    return messages


def finish_flashes(request: Any, response: Response) -> None:
    """Delete the flash cookie once a page has read it (kali.reserved does this for every app)."""
    if getattr(request, "_kali_flash_taken", False) and not _pending_in(response):
        response.delete_cookie(COOKIE)
