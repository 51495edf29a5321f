"""Memory benchmark: does a kali server's resident memory stay flat while 1 GiB goes up or down?

Starts the full default stack (security wrapper, Router, access log to a file) as its own
process with four routes, warms it up with one small request of each kind, reads its
resident memory (VmRSS) and peak resident memory (VmHWM) from /proc/PID/status, then
sends ROUNDS x each of:

  download    GET of a sparse 1 GiB file through StaticFolder (sendfile)
  upload      POST of 1 GiB with Content-Length, read by the handler from request.body_file
  chunked     the same with Transfer-Encoding: chunked (1 MiB chunks)
  multipart   a 1 GiB file in a multipart/form-data form, read through request.files

and reports, per kind, how far VmHWM rose during its transfers and VmRSS right after each
(median [min-max] over the rounds), against the +3 MiB budget. The kinds are interleaved
round by round. The client checks every byte count and the handler's answer.

    python bench/memory.py [--rounds 3] [--rev REV]      # Linux only (reads /proc)

--rev REV measures kali at a git revision (a temporary `git worktree`) instead of the
working tree, so a change can be checked against the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, checkout, describe, rss_kib, spread, stop, working_tree_label  # noqa: E402

SIZE = 1 << 30
BLOCK = 1 << 20
BUDGET_MIB = 3.0
KINDS = ["download", "upload", "chunked", "multipart"]

SERVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from kali import serve_http, Router, StaticFolder

    app = Router()
    app.delegate_folder("/static/", StaticFolder(sys.argv[2]))

    @app.function("/upload", methods="POST")
    def upload(request):
        size = 0
        body = request.body_file
        while block := body.read(1 << 20):
            size += len(block)
        return {"size": size}

    @app.function("/form", methods="POST")
    def form(request):
        upload = request.files["file"]
        size = 0
        while block := upload.read(1 << 20):
            size += len(block)
        return {"size": size, "note": request.POST["note"]}

    sys.stderr = open(sys.argv[3], "w")        # the access log, on as by default
    serve_http(app, port=0, start=None)
""")


def wait_for_port(proc: subprocess.Popen) -> int:  # type: ignore[type-arg]
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("kali: serving "):
            return int(line.rsplit(":", 1)[1].strip().strip("/"))
    raise SystemExit("the kali server did not print its URL")


def exchange(port: int, head: bytes, body_parts, expect_body: int | None = None) -> tuple[int, bytes, int]:  # type: ignore[no-untyped-def]
    """Send head + body parts, read the answer; (status, head+start of body, body bytes received)."""
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    received = b""
    body = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        while n := sock.recv_into(view):
            if b"\r\n\r\n" not in received:
                received += bytes(buffer[:n])
                if b"\r\n\r\n" in received:
                    body = len(received) - received.index(b"\r\n\r\n") - 4
            else:
                body += n
                if len(received) < 4096:
                    received += bytes(buffer[:min(n, 4096)])
    status = int(received.split(b" ", 2)[1]) if received else 0
    if expect_body is not None and body != expect_body:
        raise SystemExit(f"received {body} body bytes instead of {expect_body}")
    return status, received, body


def blocks(count: int, block: bytes):  # type: ignore[no-untyped-def]
    for _ in range(count):
        yield block


def chunked(count: int, block: bytes):  # type: ignore[no-untyped-def]
    frame = b"%x\r\n" % len(block)
    for _ in range(count):
        yield frame
        yield block
        yield b"\r\n"
    yield b"0\r\n\r\n"


def transfer(kind: str, port: int, size: int) -> None:
    """One transfer of `size` bytes; raises SystemExit unless the server confirms every byte."""
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    block = os.urandom(BLOCK)
    count = size // BLOCK
    if kind == "download":
        name = "huge.bin" if size == SIZE else "small.bin"
        status, _, _ = exchange(port, b"GET /static/%s HTTP/1.0\r\n%s\r\n" % (name.encode(), host), [],
                                expect_body=size)
        answer = None
    elif kind == "upload":
        status, answer, _ = exchange(port, b"POST /upload HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (host, size),
                                     blocks(count, block))
    elif kind == "chunked":
        status, answer, _ = exchange(port, b"POST /upload HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n" % host,
                                     chunked(count, block))
    else:
        boundary = b"----benchboundary7MA4YWxkTrZu0gW"
        before = (b"--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                  b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                  b"Content-Type: application/octet-stream\r\n\r\n" % (boundary, boundary))
        after = b"\r\n--%s--\r\n" % boundary
        length = len(before) + size + len(after)
        head = (b"POST /form HTTP/1.1\r\n%sContent-Type: multipart/form-data; boundary=%s\r\n"
                b"Content-Length: %d\r\n\r\n" % (host, boundary, length))
        # A block of random bytes could contain the boundary only by a 2^-200 accident.
        status, answer, _ = exchange(port, head, [before, *blocks(count, block), after])
    if status != 200:
        raise SystemExit(f"{kind}: status {status}")
    if answer is not None:
        result = json.loads(answer.partition(b"\r\n\r\n")[2])
        if result["size"] != size:
            raise SystemExit(f"{kind}: the handler read {result['size']} bytes instead of {size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="transfers of each kind (default 3)")
    parser.add_argument("--rev", metavar="REV", help="measure kali at this git revision instead of the working tree")
    args = parser.parse_args()
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("bench/memory.py reads /proc/PID/status: run it on Linux")
    with ExitStack() as stack:
        repo = stack.enter_context(checkout(args.rev)) if args.rev else REPO
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kali-memory-")))
        folder = tmp / "static"
        folder.mkdir()
        with open(folder / "huge.bin", "wb") as f:
            f.truncate(SIZE)            # sparse: reads come from holes, no disk space used
        (folder / "small.bin").write_bytes(b"x" * BLOCK)
        env = dict(os.environ, KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1", TMPDIR=str(tmp))
        env.pop("KALI_PORT", None)
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(repo), str(folder), str(tmp / "access.log")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        stack.callback(stop, proc)
        port = wait_for_port(proc)
        print(f"Python {sys.version.split()[0]}; kali = {describe(args.rev) if args.rev else working_tree_label()}; "
              f"{args.rounds} rounds of {', '.join(KINDS)}, {SIZE >> 20} MiB each")
        # Warm up with a small request of each kind: "idle" then includes what a first request
        # loads (modules, a 1 MiB read buffer), and the figure is what the size of a body adds.
        for kind in KINDS:
            transfer(kind, port, BLOCK)
        idle_rss, idle_peak = rss_kib(proc.pid, "VmRSS"), rss_kib(proc.pid, "VmHWM")
        print(f"idle after one small request of each kind: VmRSS {idle_rss / 1024:.1f} MiB, "
              f"VmHWM {idle_peak / 1024:.1f} MiB")
        rise: dict[str, list[float]] = {kind: [] for kind in KINDS}
        after: dict[str, list[float]] = {kind: [] for kind in KINDS}
        seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for _ in range(args.rounds):
            for kind in KINDS:
                before = rss_kib(proc.pid, "VmHWM")
                started = time.perf_counter()
                transfer(kind, port, SIZE)
                seconds[kind].append(time.perf_counter() - started)
                rise[kind].append((rss_kib(proc.pid, "VmHWM") - before) / 1024)
                after[kind].append((rss_kib(proc.pid, "VmRSS") - idle_rss) / 1024)
        peak = rss_kib(proc.pid, "VmHWM")
    print(f"\n{'kind':<10} {'s per GiB':>26} {'VmHWM rise per transfer, MiB':>34} {'VmRSS after - idle, MiB':>32}")
    for kind in KINDS:
        print(f"{kind:<10} {spread(seconds[kind]):>26} {spread(rise[kind], '{:.1f}'):>34} "
              f"{spread(after[kind], '{:.1f}'):>32}")
    growth = (peak - idle_peak) / 1024
    verdict = "within" if growth <= BUDGET_MIB else "OVER"
    print(f"\npeak resident memory over the whole run: {peak / 1024:.1f} MiB, {growth:+.1f} MiB over idle: "
          f"{verdict} the +{BUDGET_MIB:.0f} MiB budget")


if __name__ == "__main__":
    main()
