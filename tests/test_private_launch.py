"""serve_http(private=True): the browser is opened through a page only this user can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support import ROOT, chromium, stop_process, wait_for_url

APP = """
import sys
sys.path.insert(0, {root!r})
from kali import serve_http
def app(request):
    return "<title>inside</title><p>inside the private app</p>"
serve_http(app, private=True)
"""


def test_private_launch_page_opens_the_app_with_its_cookie(tmp_path: Path) -> None:
    # A fake browser records what serve_http asks it to open instead of opening it.
    record = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {record}\n')
    fake_browser.chmod(0o755)
    script = tmp_path / "app.py"
    script.write_text(APP.format(root=str(ROOT)))
    env = dict(os.environ, KALI_PORT="0", BROWSER=str(fake_browser), KALI_WINDOW="tab")
    env.pop("KALI_NO_BROWSER", None)
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        base = wait_for_url(proc)
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        opened = record.read_text().strip()
        # The token is in a file, not on the browser's command line where `ps` shows it.
        assert opened.startswith("file://") and "kali_token" not in opened
        page = Path(opened[len("file://"):])
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        token = page.read_text().split("kali_token=")[1].split('"')[0]
        assert len(token) >= 40
        with chromium(tmp_path / "chromium") as browser:
            tab = browser.new_page()
            statuses: list[int] = []
            tab.on("response", lambda r: statuses.append(r.status))
            tab.goto(opened)
            tab.wait_for_url(base, timeout=10000)
            assert tab.inner_text("p") == "inside the private app"
            assert 403 not in statuses
            # Later visits carry the cookie; the URL no longer holds the token.
            tab.goto(base)
            assert tab.inner_text("p") == "inside the private app"
            cookies = browser.cookies(base)
            assert any(c["name"].startswith("kali_private_") and c["httpOnly"] and c["sameSite"] == "Strict"
                       for c in cookies)
        proc.terminate()
        out, log = proc.communicate(timeout=10)
    finally:
        stop_process(proc)
    # The token never reaches the access log.
    assert "GET /?kali_token=... 200" in log
    assert token not in log
    assert not page.parent.exists(), "the launch page is removed when the app stops"
