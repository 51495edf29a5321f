"""The control channel between the `run --reload` supervisor and one app process: JSON lines, and the listening socket handed across.

Each app process gets one channel, a stream socket:

- POSIX: one end of a `socket.socketpair()`, inherited by the app process
  (`pass_fds`) and named in `KALI_RELOAD_CHANNEL=fd:N`; the listening socket
  crosses it as ancillary data (SCM_RIGHTS: `socket.send_fds`).
- Windows, where a socket cannot be inherited by number: a loopback TCP
  connection the app process opens to the supervisor
  (`KALI_RELOAD_CHANNEL=tcp:PORT:TOKEN`; its first message, `{"token": ...}`,
  says which process it is); the listening socket crosses it as the bytes of
  `socket.share(pid)`, which only that process can turn back into a socket.

Every message is one JSON object on one line.  The supervisor reads its
channels without blocking, from its selector (`receive_ready`); the app
process blocks (`receive`), from its main thread until it serves and from a
small thread after that.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import threading
from typing import Any

__all__ = ["ENVIRONMENT_VARIABLE", "Channel", "ChannelClosed", "channel_pair", "connect_from_environment"]

#: Where an app process finds its channel to the supervisor.
ENVIRONMENT_VARIABLE = "KALI_RELOAD_CHANNEL"
#: The longest message accepted (an error page with a long traceback fits many times over).
_MAX_LINE = 16 << 20


class ChannelClosed(Exception):
    """The other end of the channel is gone (its process ended)."""


class Channel:
    """One end of a control channel: send and receive JSON messages, and a listening socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._fds: list[int] = []
        self._send_lock = threading.Lock()
        self.closed = False

    def fileno(self) -> int:
        """The socket's file descriptor (for a selector)."""
        return self.sock.fileno()

    def send(self, message: dict[str, Any], *, fds: list[int] | None = None) -> None:
        """Send one message (and, on POSIX, file descriptors along with it); ChannelClosed if the other end is gone."""
        data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._send_lock:
            try:
                if fds and sys.platform != "win32":
                    sent = socket.send_fds(self.sock, [data], fds)
                    data = data[sent:]
                if data:
                    self.sock.sendall(data)
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None

    def send_listener(self, message: dict[str, Any], listener: socket.socket, pid: int) -> None:
        """Send `message` with the listening socket for process `pid` (SCM_RIGHTS, or socket.share on Windows)."""
        if sys.platform == "win32":
            shared = listener.share(pid)
            self.send({**message, "share": base64.b64encode(shared).decode("ascii")})
        else:
            self.send(message, fds=[listener.fileno()])

    def take_listener(self, message: dict[str, Any]) -> socket.socket:
        """The listening socket that came with `message` (received with `receive`)."""
        if sys.platform == "win32":
            shared: socket.socket = socket.fromshare(base64.b64decode(message["share"]))
            return shared
        if not self._fds:
            raise RuntimeError("the supervisor's message came without the listening socket")
        fd = self._fds.pop(0)
        return socket.socket(fileno=fd)

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, waiting for it (None after `timeout` seconds); ChannelClosed at the end."""
        while True:
            message = self._next_buffered()
            if message is not None:
                return message
            self.sock.settimeout(timeout)
            try:
                if sys.platform == "win32":
                    data = self.sock.recv(65536)
                else:
                    data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
                    self._fds.extend(fds)
            except (socket.timeout, BlockingIOError):
                return None
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None
            if not data:
                raise ChannelClosed("the other end closed the channel")
            self._buffer += data

    def receive_ready(self) -> list[dict[str, Any]]:
        """The messages that have arrived (without waiting: the socket is non-blocking); ChannelClosed at the end.

        Messages read before the end are returned first; the next call raises.
        """
        if self.closed:
            raise ChannelClosed("the other end closed the channel")
        messages: list[dict[str, Any]] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            self._buffer += data
            if len(self._buffer) > _MAX_LINE and b"\n" not in self._buffer:
                raise ChannelClosed("a message was too long")
        while True:
            message = self._next_buffered()
            if message is None:
                break
            messages.append(message)
        if self.closed and not messages:
            raise ChannelClosed("the other end closed the channel")
        return messages

    def _next_buffered(self) -> dict[str, Any] | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        try:
            message = json.loads(line)
        except ValueError:
            return {"event": "garbled", "text": line[:200].decode("utf-8", "replace")}
        return message if isinstance(message, dict) else {"event": "garbled", "text": repr(message)[:200]}

    def close(self) -> None:
        """Close this end (and any file descriptor received and not taken)."""
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
        try:
            self.sock.close()
        except OSError:
            pass


def channel_pair(token: str, control: socket.socket | None = None) -> tuple[Channel | None, str, socket.socket | None]:
    """The supervisor's end of a new channel, the KALI_RELOAD_CHANNEL value and the socket the child inherits.

    POSIX: a socketpair (the supervisor's end, 'fd:N', the child's end to pass in `pass_fds`).
    Windows: (None, 'tcp:PORT:TOKEN', None): the child connects to `control`, a listening
    loopback socket, and the supervisor matches its first message, {"token": ...}, with `token`.
    """
    if sys.platform == "win32":
        if control is None:
            raise ValueError("on Windows a channel needs the supervisor's listening control socket")
        return None, f"tcp:{control.getsockname()[1]}:{token}", None
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return Channel(ours), f"fd:{theirs.fileno()}", theirs


def connect_from_environment() -> Channel | None:
    """The app process's channel to its supervisor (None when KALI_RELOAD_CHANNEL is not set).

    The variable is removed from the environment, so processes the app starts are not mistaken for it.
    """
    value = os.environ.pop(ENVIRONMENT_VARIABLE, "").strip()
    if not value:
        return None
    how, _, rest = value.partition(":")
    if how == "fd" and rest.isdigit():
        sock = socket.socket(fileno=int(rest))
        sock.set_inheritable(False)
        sock.setblocking(True)
        return Channel(sock)
    if how == "tcp":
        port, _, token = rest.partition(":")
        if port.isdigit() and token:
            sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
            sock.settimeout(None)
            channel = Channel(sock)
            channel.send({"token": token})
            return channel
    raise ValueError(f"{ENVIRONMENT_VARIABLE} must be 'fd:N' or 'tcp:PORT:TOKEN', not {value!r}")
