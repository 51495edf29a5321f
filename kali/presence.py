"""The per-page event channel `/_kali/events`, and knowing from it when the app's last page has closed.

Every HTML page kali serves while the channel is on carries `page.js`, which
keeps one `EventSource` open to `/_kali/events`.  Each open stream is one open
page.  The stream is held by the single-threaded loop with `Pause` (no
thread): when the browser closes the tab, or navigates, its connection closes,
the loop notices the end of input on the paused socket at once and closes the
stream, whose `finally` counts the page out.

A navigation between the app's pages closes one stream and opens the next
within milliseconds, and a reload does the same: so "the last page has closed"
means no stream has been open for a whole linger (`EventChannel.closed_for`),
and the clock starts only once a first page has connected (a browser slow to
start never makes the app quit).

The stream's messages: `event: hello` with `{"boot": ID}` first (ID names this
server process: a page that reconnects and meets another ID knows the code
changed and reloads itself), a `: keep-alive` comment every ~15 s, and any
event `send()` queues (the reload supervisor's `reload`).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Iterator

from .request import Request
from .response import Pause, Response

__all__ = ["EventChannel", "POLL_SECONDS", "KEEP_ALIVE_SECONDS"]

#: How often an open stream wakes to send what was queued for it.
POLL_SECONDS = 1.0
#: Seconds between keep-alive comments (proxies and some browsers drop a stream silent for long).
KEEP_ALIVE_SECONDS = 15.0
#: The browser's wait before it reconnects a dropped stream (the SSE `retry:` field, ms).
RECONNECT_MS = 500


class EventChannel:
    """The `/_kali/events` channel of one server process: its open streams, and when the last one closed."""

    def __init__(self, boot: str | None = None, *, stamp_pages: bool = False) -> None:
        if boot is None:
            import secrets
            boot = secrets.token_urlsafe(9)
        #: The id of this server process, sent in every stream's first message.
        self.boot = boot
        #: Each page carries `boot` in its script tag (`run --reload`, where processes take turns on
        #: one socket): a page an outgoing process served reloads when its stream meets the new one.
        self.stamp_pages = stamp_pages
        #: How many streams (pages) are open now.
        self.open = 0
        #: How many streams have ever been opened.
        self.opened = 0
        #: time.monotonic() when the count last fell to zero (None: never, or a page is open).
        self.empty_since: float | None = None
        self._queues: list[deque[str]] = []

    def __call__(self, request: Request) -> Response:
        """Answer `GET /_kali/events` with a stream that stays open as long as the page does."""
        if request.method != "GET":
            refusal = Response.generic(405, f"{request.method} is not allowed here.")
            refusal.headers["Allow"] = "GET"
            return refusal
        response = Response.stream(self._stream(), content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.page_script = False
        return response

    def closed_for(self, now: float | None = None) -> float | None:
        """Seconds since the last open page closed; None while one is open or before any has connected."""
        if self.open or self.empty_since is None:
            return None
        return (time.monotonic() if now is None else now) - self.empty_since

    def send(self, event: str, data: Any = "") -> None:
        """Queue an event for every open page (each gets it within `POLL_SECONDS`); safe from any thread."""
        message = _message(event, data)
        # A copy: the loop's thread adds and removes streams meanwhile (the reload child's
        # control thread sends); deque.append and popleft are atomic.
        for queue in list(self._queues):
            queue.append(message)

    def _stream(self) -> Iterator[Any]:
        # The body runs from the first pull (the head is out), and its finally when the loop
        # closes the connection: the page's presence is exactly the stream's life.
        queue: deque[str] = deque()
        self._queues.append(queue)
        self.open += 1
        self.opened += 1
        self.empty_since = None
        try:
            yield f"retry: {RECONNECT_MS}\n" + _message("hello", {"boot": self.boot})
            quiet = 0.0
            while True:
                yield Pause(POLL_SECONDS)
                if queue:
                    messages = []
                    while queue:
                        messages.append(queue.popleft())
                    quiet = 0.0
                    yield "".join(messages)
                else:
                    quiet += POLL_SECONDS
                    if quiet >= KEEP_ALIVE_SECONDS:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
        finally:
            self._queues.remove(queue)
            self.open -= 1
            if not self.open:
                self.empty_since = time.monotonic()


def _message(event: str, data: Any) -> str:
    """One server-sent event: its name and its data (JSON unless it is text)."""
    if "\n" in event or "\r" in event:
        raise ValueError(f"an event name cannot contain a line break: {event!r}")
    if not isinstance(data, str):
        import json
        data = json.dumps(data, separators=(",", ":"))
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"
