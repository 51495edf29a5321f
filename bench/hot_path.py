"""In-process CPU per request of kali's straight line, stage by stage, against the least Python its features need.

No sockets and no load tool: a socket stand-in hands every connection the same
3-header request (ab's) and takes the whole reply, so what is timed is Python
only, which is what separates kali from the raw loop in `bench/server.py` (its
system calls are the raw loop's, see bench/README.md). Each round times every
subject back to back for `--requests` requests, in an order that alternates
from round to round; a figure is the median of the rounds with [min-max].

Subjects:
  straight line  kali.connection.answer_at_once on a Server with serve_http's
                 handler stack (security wrapper, kali.reserved, a Router with
                 @app.function('/hello')) and the access log on (written to
                 /dev/null in batches, as the loop does)
  parse          kali.exchange.read_whole_request: the head checked, a Request
  handlers       the handler stack called with that Request (run_handler)
  encode         wire_form + reply_in_one_buffer of its Response
  log            AccessLog.note, and the batch written once per round
  floor          the same work written by hand for this one request shape (the
                 `floor` server of bench/server.py without its loop): one regex,
                 the Host allow-list, a route table, pre-encoded headers, a log tuple

    python bench/hot_path.py --rounds 12
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, spread  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=20000, help="requests per subject per round")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    # The access log goes where kali's console handler writes: stderr, here /dev/null.
    sys.stderr = open(os.devnull, "w")
    from kali.connection import answer_at_once
    from kali.exchange import compose_handler, read_whole_request
    from kali.launch import _configure_logging
    from kali.outgoing import reply_in_one_buffer
    from kali.response import run_handler, wire_form
    from kali.routing import Router
    from kali.server import Server

    app = Router()

    @app.function("/hello")
    def hello() -> str:
        return "Hello, world!"

    server = Server(compose_handler(app), port=0)
    _configure_logging(True)
    request_bytes = (b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: ApacheBench/2.3\r\n"
                     b"Accept: */*\r\n\r\n" % server.port)
    replies: list[int] = []

    class StandIn:
        """A connected socket whose request is always there and whose send takes everything."""
        __slots__ = ()

        def recv(self, size: int, flags: int = 0) -> bytes:
            return request_bytes

        def send(self, data: bytes, flags: int = 0) -> int:
            return len(data)

        def close(self) -> None:
            pass

    sock = StandIn()
    client = ("127.0.0.1", 40000)
    log = server._access_log
    address, scheme, handler, dates = server.address, server.scheme, server.handler, server._dates
    request = read_whole_request(request_bytes, client, address, scheme)
    assert request is not None
    response = run_handler(handler, request)
    wire = wire_form(response)
    whole = reply_in_one_buffer(response.code, dates, *wire)
    assert whole is not None and whole.endswith(b"Hello, world!")

    def straight_line(n: int) -> None:
        for _ in range(n):
            answer_at_once(server, sock, client)   # type: ignore[arg-type]
        log.flush()

    def parse(n: int) -> None:
        for _ in range(n):
            read_whole_request(request_bytes, client, address, scheme)

    def handlers(n: int) -> None:
        for _ in range(n):
            run_handler(handler, request, debug=True)

    def encode(n: int) -> None:
        # A fresh Response each time: wire_form caches nothing on it, but the handler made it.
        for _ in range(n):
            reply_in_one_buffer(200, dates, *wire_form(response))

    def note(n: int) -> None:
        started = time.perf_counter()
        for _ in range(n):
            log.note("GET", "/hello", 200, 279, started)
        log.flush()

    head = re.compile("([!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}) (/[\\x21-\\x7e]*) (HTTP/1[.][01])\r\n"
                      "(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n")
    hosts = {f"127.0.0.1:{server.port}", f"localhost:{server.port}"}
    routes = {"/hello": hello}
    fixed = (b"X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
             b"Referrer-Policy: same-origin\r\nCache-Control: no-store\r\n")
    floor_log: list[tuple[str, str, int, int, float]] = []
    devnull = sys.stderr

    def floor(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            data = sock.recv(65536)
            m = head.fullmatch(data.decode("latin-1"))
            assert m is not None
            method, target, _ = m.groups()
            fields = m.group(0)[m.end(3):].lower()
            at = fields.find("\r\nhost:")
            host = fields[at + 7:fields.find("\r\n", at + 7)].strip(" \t")
            if "\r\ncontent-length:" in fields or "\r\ntransfer-encoding:" in fields or host not in hosts:
                raise AssertionError("the floor's request is the common one")
            body = routes[target.partition("?")[0]]().encode("utf-8")
            reply = b"".join((b"HTTP/1.0 200 OK\r\n", dates.lines(), b"Content-Type: text/html; charset=utf-8\r\n",
                              fixed, b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body), body))
            sent = sock.send(reply)
            sock.close()
            floor_log.append((method, target, 200, sent, (time.perf_counter() - started) * 1000.0))
        clock = time.strftime("%H:%M:%S ")
        devnull.write("".join([clock + "%s %s %d %d %.1fms\n" % line for line in floor_log]))
        floor_log.clear()

    subjects = {"straight line": straight_line, "parse": parse, "handlers": handlers, "encode": encode,
                "log": note, "floor": floor}
    times: dict[str, list[float]] = {name: [] for name in subjects}
    gc.freeze()
    for subject in subjects.values():
        subject(1000)       # warm up
    order = list(subjects)
    for round_ in range(args.rounds):
        for name in (order if round_ % 2 == 0 else order[::-1]):
            start = time.process_time()
            subjects[name](args.requests)
            times[name].append((time.process_time() - start) / args.requests * 1e6)
    print(f"Python {sys.version.split()[0]}, {args.rounds} rounds x {args.requests} requests per subject "
          f"(median [min-max] (quartiles), µs of CPU per request)")
    for name, values in times.items():
        print(f"  {name:14} {spread(values, unit=' µs')}")
    ratios = [k / f for k, f in zip(times["straight line"], times["floor"])]
    extra = [k - f for k, f in zip(times["straight line"], times["floor"])]
    print(f"  straight line / floor: {spread(ratios, unit='x')};  straight line - floor: {spread(extra, unit=' µs')}")


if __name__ == "__main__":
    main()
