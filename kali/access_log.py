"""The access log: one line per request, gathered while the loop works and written between bursts.

`AccessLog` is the server's side: it notes each finished request (hiding a
launch token in its target) and hands the lines to the `kali` logger when the
loop has nothing else to do, so writing them never delays a reply.
`AccessLogHandler` and `ClockFormatter` are what `serve_http` installs when the
app configured no logging of its own: 'HH:MM:SS GET /path 200 1234 0.4ms' on
stderr, written in one go per burst.
"""

from __future__ import annotations

import logging
import sys
import time

from .http import redact_target

__all__ = ["AccessLog", "AccessLogHandler", "ClockFormatter"]

logger = logging.getLogger("kali")


class AccessLog:
    """Finished requests waiting to be logged (method, target, status, bytes sent, milliseconds)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[tuple[str, str, int, int, float]] = []

    def note(self, method: str, target: str, status: int, sent: int, started: float) -> None:
        """Remember one finished request; `started` is its time.perf_counter() at the first byte."""
        ms = (time.perf_counter() - started) * 1000.0
        # The launch token opens a private app: it does not belong in a log file.
        self.pending.append((method, redact_target(target), status, sent, ms))

    def flush(self) -> None:
        """Hand the noted requests to the `kali` logger (at INFO, marked as access lines) and flush it."""
        pending = self.pending
        self.pending = []
        # makeRecord skips the caller lookup a plain logger.info() would do for every line.
        make_record = logger.makeRecord
        for args in pending:
            record = make_record(logger.name, logging.INFO, __file__, 0, "%s %s %d %d %.1fms", args, None)
            record.kali_access = True
            logger.handle(record)
        for handler in logger.handlers:
            handler.flush()


class ClockFormatter(logging.Formatter):
    """'HH:MM:SS message', formatting the clock once a second rather than once a line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", "%H:%M:%S")
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as HH:MM:SS (local time)."""
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%H:%M:%S", time.localtime(second))
        return self._text


class AccessLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr; access lines are gathered and written in one go when the loop flushes."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep an access line for the next flush; write any other record at once (after them)."""
        if getattr(record, "kali_access", False):
            try:
                self._lines.append(self.format(record) + self.terminator)
            except Exception:
                self.handleError(record)
        else:
            self.flush()
            super().emit(record)

    def flush(self) -> None:
        """Write the gathered access lines."""
        if self._lines:
            text = "".join(self._lines)
            self._lines = []
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                pass     # a closed terminal must not take the server down
        super().flush()
