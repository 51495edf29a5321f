"""The access log: one line per request, written in batches, in order with kali's other log lines."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from kali.access_log import FLUSH_DELAY, LINE_FORMAT, AccessLog
from kali.console_log import AccessLogHandler, ClockFormatter
from kali.http import TOKEN_PARAMETER
from support import ROOT, parse_response, raw_request, stop_process, wait_for_url

LINE = re.compile(r"\d\d:\d\d:\d\d (GET|POST) (\S+) (\d{3}) (\d+) (\d+\.\d)ms")


@pytest.fixture()
def console() -> Iterator[io.StringIO]:
    """kali's console handler alone on the `kali` logger (as serve_http installs it), writing to a buffer."""
    kali_logger = logging.getLogger("kali")
    saved = (kali_logger.handlers[:], kali_logger.level, kali_logger.propagate)
    stream = io.StringIO()
    handler = AccessLogHandler()
    handler.setStream(stream)
    handler.setFormatter(ClockFormatter())
    kali_logger.handlers[:] = [handler]
    kali_logger.setLevel(logging.INFO)
    kali_logger.propagate = False       # pytest's own handlers on the root logger stay out of it
    try:
        yield stream
    finally:
        kali_logger.handlers[:], kali_logger.level, kali_logger.propagate = saved


def test_console_lines_are_what_the_formatter_writes_with_the_token_hidden(console: io.StringIO) -> None:
    log = AccessLog()
    started = time.perf_counter()
    log.note("GET", "/a", 200, 12, started)
    log.note("POST", f"/b?x=1&{TOKEN_PARAMETER}=secret-token", 303, 0, started)
    assert console.getvalue() == "", "the lines wait for the batch"
    log.flush()
    lines = console.getvalue().splitlines()
    assert [LINE.fullmatch(line).groups()[:4] for line in lines] == [  # type: ignore[union-attr]
        ("GET", "/a", "200", "12"), ("POST", f"/b?x=1&{TOKEN_PARAMETER}=...", "303", "0")]
    # The same text the handler's formatter gives a log record of that line.
    handler = logging.getLogger("kali").handlers[0]
    method, target, status, sent, ms = LINE.fullmatch(lines[0]).groups()  # type: ignore[union-attr]
    record = logging.LogRecord("kali", logging.INFO, __file__, 0, LINE_FORMAT,
                               (method, target, int(status), int(sent), float(ms)), None)
    assert handler.format(record)[9:] == lines[0][9:]      # all but the clock


def test_another_record_first_writes_the_access_lines_waiting(console: io.StringIO) -> None:
    log = AccessLog()
    log.note("GET", "/first", 200, 1, time.perf_counter())
    log.note("GET", "/second", 200, 1, time.perf_counter())
    logging.getLogger("kali").warning("something happened")
    logging.getLogger("kali.forms").warning("in a child logger too")
    text = console.getvalue()
    assert text.index("/first") < text.index("/second") < text.index("something happened") \
        < text.index("in a child logger")
    assert log.pending == [], "written, and not written twice"
    log.flush()
    assert console.getvalue() == text


def test_console_lines_wait_at_most_the_flush_delay(console: io.StringIO) -> None:
    log = AccessLog()
    before = time.monotonic()
    log.note("GET", "/a", 200, 1, time.perf_counter())
    assert before < log.due <= time.monotonic() + FLUSH_DELAY


def test_with_the_apps_own_logging_every_line_is_a_record(caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="kali"):
        log = AccessLog()
        log.note("GET", "/a?x=1", 404, 99, time.perf_counter())
        assert log.due <= time.monotonic(), "handed over at the next turn of the loop, as before"
        log.flush()
    records = [r for r in caplog.records if getattr(r, "kali_access", False)]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert re.fullmatch(r"GET /a\?x=1 404 99 \d+\.\dms", records[0].getMessage())


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from kali import serve_http
serve_http(lambda request: "ok", start=None)
"""


def test_the_console_of_a_served_app_shows_every_request_in_order(tmp_path: Any) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(wait_for_url(proc).rsplit(":", 1)[1].strip("/"))
        host = f"Host: 127.0.0.1:{port}\r\n".encode()
        for path in (b"/one", b"/two"):
            assert parse_response(raw_request(port, b"GET " + path + b" HTTP/1.1\r\n" + host + b"\r\n"))[0] == 200
        # Refused with a warning of its own: it must come after the two lines before it.
        assert parse_response(raw_request(port, b"GET /three HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n"))[0] == 421
        assert parse_response(raw_request(port, b"GET /four HTTP/1.1\r\n" + host + b"\r\n"))[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        lines = proc.stderr.read().splitlines()
    finally:
        stop_process(proc)
    access = [(m.group(2), m.group(3)) for m in map(LINE.fullmatch, lines) if m]
    assert access == [("/one", "200"), ("/two", "200"), ("/three", "421"), ("/four", "200")], lines
    warning = next(i for i, line in enumerate(lines) if "does not name this server" in line)
    assert lines.index(next(line for line in lines if " /two " in line)) < warning, lines
    assert any(" /four " in line for line in lines), "written on the way out"
