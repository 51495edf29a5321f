"""The access log: one line per request, gathered while the loop works and written in batches.

`AccessLog` is the server's side: it notes each finished request and writes
the lines out at most `FLUSH_DELAY` seconds later, or as soon as the loop has
nothing to do, so writing them never delays a reply.

While kali's console handler (`kali.console_log`, what `serve_http` installs when
the app configured no logging of its own) is the only place the `kali` logger's
records go, `AccessLog` formats the lines itself ('HH:MM:SS GET /path 200 1234
0.4ms') and writes a batch in one call, without a `logging.LogRecord` per line;
any other record that reaches that handler first writes the access lines still
waiting, so the console keeps the order things happened in.  With logging
configured by the app, every access line is a record of the `kali` logger (at
INFO, with `record.kali_access = True`), handed over at every turn of the loop.
"""

from __future__ import annotations

import time

from .http import redact_target

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any
    from .console_log import AccessLogHandler, ClockFormatter

__all__ = ["AccessLog", "AccessLogHandler", "ClockFormatter", "FLUSH_DELAY", "flush_waiting"]

#: The longest an access line waits before it is written while the loop is busy (seconds).
FLUSH_DELAY = 0.05

#: The `%`-format of an access line's message: method, target, status, bytes sent, milliseconds.
LINE_FORMAT = "%s %s %d %d %.1fms"

_INFO = 20      # logging.INFO, without importing logging for it

# Access logs holding lines not written yet (normally one: the running server's).
_waiting: set["AccessLog"] = set()


def __getattr__(name: str) -> Any:
    # The console handler moved to kali.console_log (it needs logging); these imports keep working.
    if name in ("AccessLogHandler", "ClockFormatter"):
        from . import console_log
        return getattr(console_log, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def flush_waiting() -> None:
    """Write every access line still waiting (before another log record, so the order stays right)."""
    for log in list(_waiting):
        log.flush()


class AccessLog:
    """Finished requests waiting to be logged (method, target, status, bytes sent, milliseconds)."""

    __slots__ = ("pending", "due", "_logger")

    def __init__(self) -> None:
        import logging      # a server is starting: logging is needed now, not at `import kali`
        self._logger = logging.getLogger("kali")
        self.pending: list[tuple[str, str, int, int, float]] = []
        #: time.monotonic() by which the pending lines are to be written.
        self.due = 0.0

    def note(self, method: str, target: str, status: int, sent: int, started: float) -> None:
        """Remember one finished request (if the `kali` logger takes INFO); `started` is its
        time.perf_counter() at the first byte."""
        if not self._logger.isEnabledFor(_INFO):
            return
        ms = (time.perf_counter() - started) * 1000.0
        if not self.pending:
            # Lines for kali's own console wait to be written together; records for the app's
            # logging go at the next turn of the loop, as they always did.
            self.due = time.monotonic() + (FLUSH_DELAY if _sole_console_handler(self._logger) is not None else 0.0)
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
        logger = self._logger
        console = _sole_console_handler(logger)
        if console is not None:
            console.write_access_lines([LINE_FORMAT % line for line in lines])
            return
        # makeRecord skips the caller lookup a plain logger.info() would do for every line.
        make_record = logger.makeRecord
        for args in lines:
            record = make_record(logger.name, _INFO, __file__, 0, LINE_FORMAT, args, None)
            record.kali_access = True
            logger.handle(record)
        for handler in logger.handlers:
            handler.flush()


def _sole_console_handler(logger: Any) -> AccessLogHandler | None:
    """kali's console handler, if every INFO record of the `kali` logger would go to it and nowhere else."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(_INFO):
        return None
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    from .console_log import AccessLogHandler, ClockFormatter
    handler = handlers[0]
    if type(handler) is not AccessLogHandler or handler.filters or handler.level > _INFO \
            or type(handler.formatter) is not ClockFormatter:
        return None
    if logger.propagate and logger.root.handlers:
        return None
    return handler
