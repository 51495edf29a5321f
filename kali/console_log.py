"""kali's console: the log handler `serve_http` installs when the app configured no logging of its own.

'HH:MM:SS message' on stderr.  Access lines reach it in batches from
`kali.access_log.AccessLog` (`write_access_lines`); any other record is written at
once, after the access lines still waiting, so the console keeps the order things
happened in.  This module imports `logging`; `kali.access_log` does not.
"""

from __future__ import annotations

import logging
import sys
import time

from .access_log import flush_waiting

__all__ = ["AccessLogHandler", "ClockFormatter"]


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
