"""One instance per app: a second launch opens the browser at the first one, a killed one is taken over, an impostor is refused."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kali import Response
from kali.exchange import compose_handler
from kali.instance import InstanceRecord, PingChannel, ping, proof
from kali.testing import Client
from support import LIFECYCLE_APP, ROOT, LiveApp, fake_browser, get, running_server

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX processes and signals")


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text() if path.exists() else ""


# -- the record and its lock ----------------------------------------------------------------------

def test_the_lock_is_held_by_one_record_at_a_time_and_release_keeps_only_the_port(tmp_path: Path) -> None:
    first, second = InstanceRecord(tmp_path / "app"), InstanceRecord(tmp_path / "app")
    assert first.acquire() and first.held
    assert not second.acquire() and not second.held
    secret = first.publish(app="app", url="http://127.0.0.1:8123/", port=8123)
    record = second.read()
    assert record["pid"] == os.getpid() and record["secret"] == secret and record["port"] == 8123
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    first.release()
    first.release()                         # a second release changes nothing
    assert second.read() == {"port": 8123}
    assert second.acquire() and second.remembered_port() == 8123
    second.release()


def test_publish_needs_the_lock(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="acquire"):
        InstanceRecord(tmp_path).publish(app="x", url="http://127.0.0.1:1/", port=1)


# -- the ping -----------------------------------------------------------------------------------------

def ping_client(channel: PingChannel, client_address: tuple[str, int] = ("127.0.0.1", 50000)) -> Client:
    handler = compose_handler(lambda request: "app", channels={"ping": channel}, secure=False)
    return Client(handler, client_address=client_address)


def test_the_ping_proves_the_secret_to_loopback_clients_only() -> None:
    channel = PingChannel("notes")
    assert ping_client(channel).get("/_kali/ping?challenge=" + "ab" * 16).status == 503   # not published yet
    channel.url, channel.secret = "http://127.0.0.1:8123/", "s" * 64
    reply = ping_client(channel).get("/_kali/ping?challenge=" + "ab" * 16)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"app": "notes", "pid": os.getpid(), "url": "http://127.0.0.1:8123/",
                            "proof": proof("s" * 64, "ab" * 16)}
    assert ping_client(channel).get("/_kali/ping").status == 400
    assert ping_client(channel).get("/_kali/ping?challenge=XYZ" + "a" * 20).status == 400
    assert ping_client(channel).post("/_kali/ping?challenge=" + "ab" * 16).status == 405
    assert ping_client(channel, ("192.168.1.9", 5000)).get("/_kali/ping?challenge=" + "ab" * 16).status == 403
    # An app bound to this machine's network address is pinged from that address.
    handler = compose_handler(lambda request: "app", channels={"ping": channel}, secure=False)
    own = Client(handler, host="192.168.1.9:8123", client_address=("192.168.1.9", 5000))
    assert own.get("/_kali/ping?challenge=" + "ab" * 16).status == 200


def test_ping_trusts_only_an_answer_made_with_the_records_secret_and_pid() -> None:
    channel = PingChannel("notes")
    handler = compose_handler(lambda request: "app", channels={"ping": channel})
    with running_server(handler) as server:
        channel.url, channel.secret = server.url, "c" * 64
        record = {"url": server.url, "secret": "c" * 64, "pid": os.getpid()}
        assert ping(record)
        assert not ping({**record, "secret": "d" * 64})        # another program's answer
        assert not ping({**record, "pid": os.getpid() + 1})
        assert not ping({**record, "url": 5})
    assert not ping(record, timeout=1.0)                        # nobody on that port now


# -- real processes -----------------------------------------------------------------------------------

def test_a_second_launch_opens_the_browser_at_the_first_and_exits_0(tmp_path: Path) -> None:
    browser, opened = fake_browser(tmp_path)
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0"}) as first:
        url = first.url()
        second = LiveApp(LIFECYCLE_APP, data, env={"KALI_NO_BROWSER": None, "KALI_WINDOW": "tab",
                                                   "BROWSER": str(browser)})
        try:
            assert second.wait(10) == 0
            took = time.monotonic() - second.started
            assert second.out == [f"kali: lifecycle is already running at {url}"]
            assert took < 2.0, f"the second launch took {took:.1f} s"
            assert wait_for_file(opened).split() == [url]
            assert "Traceback" not in second.errors
        finally:
            second.stop()
        assert get(int(url.rstrip("/").rsplit(":", 1)[1]), "/")[0] == 200       # the first one goes on


def test_a_second_launch_without_a_browser_opens_nothing(tmp_path: Path) -> None:
    browser, opened = fake_browser(tmp_path)
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0"}) as first:
        url = first.url()
        with LiveApp(LIFECYCLE_APP, data, env={"KALI_WINDOW": "tab", "BROWSER": str(browser)}) as second:
            assert second.wait(10) == 0
            assert second.out == [f"kali: lifecycle is already running at {url}"]
    time.sleep(0.3)
    assert not opened.exists()


def test_a_second_launch_of_a_private_app_opens_it_through_a_private_page(tmp_path: Path) -> None:
    browser, opened = fake_browser(tmp_path)
    data = tmp_path / "data"
    private = json.dumps({"private": True, "start": None})
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0", "LIFE_OPTIONS": private}) as first:
        url = first.url()
        token = first.wait_for("kali: private app: open ").split("kali_token=")[1]
        # The ping passes the private app's token check (with the token from the record).
        second = LiveApp(LIFECYCLE_APP, data, env={"KALI_NO_BROWSER": None, "KALI_WINDOW": "tab",
                                                   "BROWSER": str(browser)})
        try:
            assert second.wait(10) == 0
            assert second.out == [f"kali: lifecycle is already running at {url}"]
        finally:
            second.stop()
        link = wait_for_file(opened).strip()
        assert link.startswith("file://") and token not in link
        page = Path(link[len("file://"):])
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert f"{url}?kali_token={token}" in page.read_text()
        first.stop()
    assert not page.exists(), "the page with the dead token is removed when the app stops"


def test_an_instance_killed_with_sigkill_is_taken_over_on_its_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0"}) as first:
        port = first.port()
        first.proc.kill()
        assert first.wait() == -9
    # Its record still names it, but nothing holds the lock: the next launch takes over.
    assert InstanceRecord(data / "lifecycle").read()["pid"] == first.proc.pid
    with LiveApp(LIFECYCLE_APP, data) as second:
        assert second.port() == port
        assert get(port, "/")[0] == 200
        assert InstanceRecord(data / "lifecycle").read()["pid"] == second.proc.pid
        assert "already running" not in second.output


IMPOSTOR = """
import http.server, json, os, sys, threading
sys.path.insert(0, {root!r})
from kali.instance import InstanceRecord

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.pings += 1
        body = json.dumps({{"app": "lifecycle", "pid": os.getpid(), "proof": "0" * 64}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
server.pings = 0
record = InstanceRecord({folder!r})
assert record.acquire()
record.publish(app="lifecycle", url=f"http://127.0.0.1:{{server.server_port}}/", port=server.server_port)
print("ready", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.readline()
print("pings", server.pings, flush=True)
"""


def test_a_lock_holder_that_does_not_prove_itself_is_a_clear_error_naming_its_pid(tmp_path: Path) -> None:
    # A program holds the lock and answers on the recorded port, but not with the record's secret.
    data = tmp_path / "data"
    helper = subprocess.Popen([sys.executable, "-c", IMPOSTOR.format(root=str(ROOT), folder=str(data / "lifecycle"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert helper.stdout is not None and helper.stdout.readline().strip() == "ready"
        with LiveApp(LIFECYCLE_APP, data) as second:
            assert second.wait(20) == 1
            assert second.out == []
            assert len(second.err) == 1 and second.err[0].startswith(
                f"kali: lifecycle is already running (pid {helper.pid} holds ")
            assert "does not answer at http://127.0.0.1:" in second.err[0]
        out, _ = helper.communicate("\n", timeout=10)
        assert int(out.split()[-1]) >= 1           # it was asked, and not believed
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait(10)


def test_single_instance_false_lets_copies_run_side_by_side(tmp_path: Path) -> None:
    data = tmp_path / "data"
    options = {"KALI_PORT": "0", "LIFE_OPTIONS": json.dumps({"single_instance": False})}
    with LiveApp(LIFECYCLE_APP, data, env=options) as first, LiveApp(LIFECYCLE_APP, data, env=options) as second:
        ports = {first.port(), second.port()}
        assert len(ports) == 2
        assert all(get(port, "/")[0] == 200 for port in ports)
    assert not (data / "lifecycle" / "kali-instance.json").exists()


def test_the_ping_answers_with_the_token_of_a_private_app(tmp_path: Path) -> None:
    # The record of a private app holds its token; without it the security wrapper refuses the ping.
    channel = PingChannel("notes")
    handler = compose_handler(lambda request: Response("app"), channels={"ping": channel},
                              private_token="t" * 43)
    with running_server(handler) as server:
        channel.url, channel.secret = server.url, "e" * 64
        record = {"url": server.url, "secret": "e" * 64, "pid": os.getpid()}
        assert not ping(record)
        assert ping({**record, "token": "t" * 43})
