"""The access log: one line per request, gathered while the loop works and written in batches.

`AccessLog` is the server's side: it notes each finished request and writes
the lines out at most `FLUSH_DELAY` seconds later, or as soon as the loop has
nothing to do, so writing them never delays a reply.

`AccessLogHandler` and `ClockFormatter` are what `serve_http` installs when the
app configured no logging of its own: 'HH:MM:SS GET /path 200 1234 0.4ms' on
stderr.  While that handler is the only place the `kali` logger's records go,
`AccessLog` formats the lines itself and writes a batch in one call, without
a `logging.LogRecord` per line; any other record that reaches the handler
first writes the access lines still waiting, so the console keeps the order
things happened in.  With logging configured by the app, every access line
is a record of the `kali` logger (at INFO, with `record.kali_access = True`),
handed over at every turn of the loop as before.
"""

from __future__ import annotations

import logging
import sys
import time

from .http import redact_target

__all__ = ["AccessLog", "AccessLogHandler", "ClockFormatter", "FLUSH_DELAY", "flush_waiting"]

logger = logging.getLogger("kali")

#: The longest an access line waits before it is written while the loop is busy (seconds).
FLUSH_DELAY = 0.05

#: The `%`-format of an access line's message: method, target, status, bytes sent, milliseconds.
LINE_FORMAT = "%s %s %d %d %.1fms"

# Access logs holding lines not written yet (normally one: the running server's).
_waiting: set["AccessLog"] = set()


def flush_waiting() -> None:
    """Write every access line still waiting (before another log record, so the order stays right)."""
    for log in list(_waiting):
        log.flush()


class AccessLog:
    """Finished requests waiting to be logged (method, target, status, bytes sent, milliseconds)."""

    __slots__ = ("pending", "due")

    def __init__(self) -> None:
        self.pending: list[tuple[str, str, int, int, float]] = []
        #: time.monotonic() by which the pending lines are to be written.
        self.due = 0.0

    def note(self, method: str, target: str, status: int, sent: int, started: float) -> None:
        """Remember one finished request; `started` is its time.perf_counter() at the first byte."""
        ms = (time.perf_counter() - started) * 1000.0
        if not self.pending:
            # Lines for kali's own console wait to be written together; records for the app's
            # logging go at the next turn of the loop, as they always did.
            self.due = time.monotonic() + (FLUSH_DELAY if _sole_console_handler() is not None else 0.0)
            _waiting.add(self)
        self.pending.append((method, target, status, sent, ms))

    def flush(self) -> None:
        """Write the noted requests: to kali's own console handler directly, else as log records."""
        pending = self.pending
        self.pending = []
        _waiting.discard(self)
        if not pending:
            return
        # The launch token opens a private app: it does not belong in a log file.
        lines = [(method, redact_target(target) if "?" in target else target, status, sent, ms)
                 for method, target, status, sent, ms in pending]
        console = _sole_console_handler()
        if console is not None:
            console.write_access_lines([LINE_FORMAT % line for line in lines])
            return
        # makeRecord skips the caller lookup a plain logger.info() would do for every line.
        make_record = logger.makeRecord
        for args in lines:
            record = make_record(logger.name, logging.INFO, __file__, 0, LINE_FORMAT, args, None)
            record.kali_access = True
            logger.handle(record)
        for handler in logger.handlers:
            handler.flush()


def _sole_console_handler() -> "AccessLogHandler | None":
    """kali's console handler, if every INFO record of the `kali` logger would go to it and nowhere else."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not AccessLogHandler or handler.filters or handler.level > logging.INFO \
            or type(handler.formatter) is not ClockFormatter:
        return None
    if logger.propagate and logging.getLogger().handlers:
        return None
    return handler


class ClockFormatter(logging.Formatter):
    """'HH:MM:SS message', formatting the clock once a second rather than once a line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", "%H:%M:%S")
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as HH:MM:SS (local time)."""
        return self.clock(record.created)

    def clock(self, when: float) -> str:
        """`when` (a time.time()) as HH:MM:SS, local time."""
        second = int(when)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%H:%M:%S", time.localtime(second))
        return self._text


class AccessLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr: access lines in batches, any other record at once (after the waiting access lines)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        """Write a record; access lines still waiting go first, so the console keeps their order."""
        if not getattr(record, "kali_access", False):
            flush_waiting()
        super().emit(record)

    def write_access_lines(self, messages: list[str]) -> None:
        """Write access-line messages in one go, each after the clock, as the formatter would."""
        formatter = self.formatter
        assert isinstance(formatter, ClockFormatter)
        prefix = formatter.clock(time.time()) + " "
        end = self.terminator
        text = "".join([prefix + message + end for message in messages])
        self.acquire()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass     # a closed terminal must not take the server down
        finally:
            self.release()
