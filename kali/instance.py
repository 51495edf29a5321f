"""An app's identity on this machine: its name, and the locked record of its running instance.

An app is named by `app_name` (by default the main script's file stem), and
keeps its data in `kali.data_folder(name)`.  There, kali keeps two files:

- `kali-instance.lock`, locked by the running instance with an OS lock
  (`fcntl.flock`, `msvcrt.locking` on Windows), which the OS releases when the
  process ends however it ends: a copy killed with `kill -9` blocks nothing;
- `kali-instance.json` (mode 0600), the record: the port the app used last
  time (kept after it stops, so the next launch uses the same origin and with
  it the same cookies and browser storage) and, while it runs, its pid, URL
  and the secret its single-instance ping proves it knows.

A second launch that cannot take the lock asks the running one to prove itself
(`ping`): `GET /_kali/ping?challenge=HEX` is answered with an HMAC of the
challenge made with the secret from the record, so a different program that
took the port meanwhile is never mistaken for the app.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from .request import Request
from .response import Response

__all__ = ["RECORD_NAME", "LOCK_NAME", "default_app_name", "InstanceRecord", "PingChannel", "ping", "proof"]

#: The instance record and its lock file, in the app's data folder.
RECORD_NAME = "kali-instance.json"
LOCK_NAME = "kali-instance.lock"


def default_app_name() -> str:
    """The main script's file stem ('intro' for examples/intro.py); its folder's name for a package's __main__."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return "kali-app"           # an interactive session
    file = Path(path)
    stem = file.stem
    if stem == "__main__":
        stem = file.parent.name     # `python -m app` or a zipped app
    stem = stem.strip()
    return stem if stem and stem not in (".", "..") else "kali-app"


def proof(secret: str, challenge: str) -> str:
    """What an instance answers to a ping's `challenge`: HMAC-SHA256 of it, keyed by the record's secret (hex)."""
    import hashlib
    import hmac
    return hmac.new(secret.encode("ascii"), challenge.encode("ascii"), hashlib.sha256).hexdigest()


class InstanceRecord:
    """The running instance's lock and record in an app's data folder (see the module docstring).

    `acquire()` takes the lock (never waiting); while it is held, `publish()`
    writes the pid, URL and a new secret; `release()` keeps only the port and
    lets go of the lock.  Anyone may `read()` the record, locked or not.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RECORD_NAME
        self.lock_path = self.folder / LOCK_NAME
        self._lock: IO[bytes] | None = None
        #: What this process published (empty until `publish`).
        self.published: dict[str, Any] = {}

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._lock is not None

    # -- the lock ----------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; True when this process now holds it."""
        if self._lock is not None:
            return True
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        file = os.fdopen(fd, "r+b", buffering=0)
        try:
            locked = _lock_file(file)
        except BaseException:
            file.close()
            raise
        if not locked:
            file.close()
            return False
        self._lock = file
        return True

    def release(self) -> None:
        """Forget the running instance (the port stays remembered) and let go of the lock; safe to repeat."""
        file = self._lock
        if file is None:
            return
        try:
            port = self.published.get("port") or self.read().get("port")
            self._write({"port": port} if isinstance(port, int) else {})
        except OSError:
            pass            # the lock goes anyway; the next launch takes over a stale record
        finally:
            self._lock = None
            try:
                _unlock_file(file)
            finally:
                file.close()

    # -- the record ----------------------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        """The record as last written ({} when there is none or it cannot be read)."""
        import json
        try:
            with open(self.path, encoding="utf-8") as f:
                value = json.load(f)
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def remembered_port(self) -> int | None:
        """The port the app used last time, if the record names one."""
        port = self.read().get("port")
        return port if type(port) is int and 0 < port < 65536 else None

    def publish(self, *, app: str, url: str, port: int, token: str | None = None) -> str:
        """Record this process as the running instance (the lock must be held); returns the ping secret."""
        import secrets
        if self._lock is None:
            raise RuntimeError("publish() needs the instance lock: call acquire() first")
        secret = secrets.token_hex(32)
        record: dict[str, Any] = {"app": app, "pid": os.getpid(), "url": url, "port": port, "secret": secret,
                                  "started": time.time()}
        if token is not None:
            record["token"] = token     # a private app: a second launch opens the browser with it
        self._write(record)
        self.published = record
        return secret

    def _write(self, record: dict[str, Any]) -> None:
        """Replace the record in one step (readers never see half of it), readable by this user only."""
        import json
        data = json.dumps(record, indent=1).encode("utf-8")
        temporary = self.folder / f".{RECORD_NAME}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if os.name == "posix":
                os.chmod(temporary, 0o600)      # O_CREAT's mode does not change an existing file
            for attempt in range(20):
                try:
                    os.replace(temporary, self.path)
                    return
                except PermissionError:
                    # Windows: a reader has the record open at this instant; it closes it at once.
                    if attempt == 19:
                        raise
                    time.sleep(0.05)
        finally:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _lock_file(file: IO[bytes]) -> bool:
    """Lock an open file for this process without waiting: False if another process holds it."""
    if os.name == "nt":
        import msvcrt
        file.seek(0)
        try:
            # One byte at offset 0; Windows may lock past the end of a file, so it can stay empty.
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True
    import fcntl
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _unlock_file(file: IO[bytes]) -> None:
    if os.name == "nt":
        import msvcrt
        file.seek(0)
        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            pass        # closing the file releases it too
        return
    import fcntl
    fcntl.flock(file.fileno(), fcntl.LOCK_UN)


# -- the ping ----------------------------------------------------------------------------------

class PingChannel:
    """The `/_kali/ping` channel: proves to a process on this machine that it reached this very instance.

    It answers once the instance is published (`url` and `secret` set from the record).
    `pid` is the pid in the record: this process's, or its reload supervisor's.
    """

    def __init__(self, app: str, *, pid: int | None = None) -> None:
        self.app = app
        self.url: str | None = None
        self.secret: str | None = None
        self.pid = os.getpid() if pid is None else pid

    def __call__(self, request: Request) -> Response:
        """`GET /_kali/ping?challenge=HEX` -> JSON {app, pid, url, proof}; clients on this machine only."""
        from .security import is_loopback_address
        client = request.client[0]
        # A program on this machine reaching an app bound to one of its network addresses
        # connects from that very address.
        if not is_loopback_address(client) and client != request.server[0]:
            return Response.generic(403, "The ping answers programs on this machine only.")
        if request.method not in ("GET", "HEAD"):
            refusal = Response.generic(405, f"{request.method} is not allowed here.")
            refusal.headers["Allow"] = "GET, HEAD"
            return refusal
        if self.secret is None:
            return Response.generic(503, "This instance is still starting.")
        challenge = request.GET.get("challenge", "")
        if not 16 <= len(challenge) <= 256 or any(c not in "0123456789abcdef" for c in challenge):
            return Response.generic(400, "The ping needs ?challenge= with 16 to 256 lower-case hex digits.")
        response = Response.json({"app": self.app, "pid": self.pid, "url": self.url,
                                  "proof": proof(self.secret, challenge)})
        response.headers["Cache-Control"] = "no-store"
        return response


def ping(record: dict[str, Any], *, timeout: float = 2.0) -> bool:
    """Whether the instance a record describes answers its ping with the right proof (and pid)."""
    import http.client
    import json
    import secrets
    from urllib.parse import urlsplit
    url, secret, pid = record.get("url"), record.get("secret"), record.get("pid")
    if not isinstance(url, str) or not isinstance(secret, str) or not isinstance(pid, int):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        return False
    challenge = secrets.token_hex(16)
    headers = {"Host": parts.netloc}
    token = record.get("token")
    if isinstance(token, str):
        headers["Cookie"] = f"kali_private_{parts.port}={token}"      # a private app's cookie
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        import ssl
        # The instance's certificate may be one the user made for this machine; the proof is
        # what authenticates it here, not the certificate.
        context = ssl._create_unverified_context()
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", f"/_kali/ping?challenge={challenge}", headers=headers)
        reply = connection.getresponse()
        if reply.status != 200:
            return False
        answer = json.loads(reply.read(65536))
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    import hmac
    return (isinstance(answer, dict) and answer.get("pid") == pid and isinstance(answer.get("proof"), str)
            and hmac.compare_digest(answer["proof"], proof(secret, challenge)))
