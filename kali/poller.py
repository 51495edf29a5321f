"""`Poller`: which of many sockets are ready, for the server's loop (epoll itself on Linux, `selectors` elsewhere).

The loop asks once per turn and sockets are registered only while they wait,
so the Python around the system call counts: on Linux `Poller` calls
`select.epoll` directly (no key objects, no unregistering a socket about to
be closed: closing removes it from the epoll set); elsewhere it wraps the
platform's `selectors.DefaultSelector`.  Either way `poll()` gives
(data, events) pairs with `READ` and `WRITE` bits, an error or hang-up
counting as both, as `selectors` does.
"""

from __future__ import annotations

import selectors

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Poller", "READ", "WRITE"]

#: The events a socket can be watched for (the same values as selectors.EVENT_READ/EVENT_WRITE).
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

try:
    from select import EPOLLIN, EPOLLOUT, epoll
except ImportError:             # not Linux
    epoll = None  # type: ignore[assignment,misc]


class _EpollPoller:
    """`Poller` on Linux: select.epoll and a dict from file descriptor to data."""

    __slots__ = ("_epoll", "_data")

    def __init__(self) -> None:
        self._epoll = epoll()
        self._data: dict[int, Any] = {}

    def register(self, sock: Any, events: int, data: Any) -> None:
        """Watch `sock` for `events` (READ, WRITE or both); `poll` reports it with `data`."""
        fd = sock.fileno()
        self._epoll.register(fd, _EPOLL_EVENTS[events])
        self._data[fd] = data

    def modify(self, sock: Any, events: int, data: Any) -> None:
        """Watch a registered socket for other `events`."""
        fd = sock.fileno()
        self._epoll.modify(fd, _EPOLL_EVENTS[events])
        self._data[fd] = data

    def unregister(self, sock: Any, closing: bool = False) -> None:
        """Stop watching `sock`; with `closing` (it is closed next) the kernel drops it on its own."""
        fd = sock.fileno()
        if self._data.pop(fd, None) is None or closing:
            return
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """(data, READ/WRITE bits) of the sockets ready within `timeout` seconds (None: no limit)."""
        data = self._data
        return [(data[fd], _EVENTS.get(event) or _from_epoll(event))
                for fd, event in self._epoll.poll(timeout) if fd in data]

    def close(self) -> None:
        """Release the epoll object."""
        self._epoll.close()
        self._data.clear()


class _SelectorsPoller:
    """`Poller` elsewhere: the platform's selectors.DefaultSelector."""

    __slots__ = ("_selector",)

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def register(self, sock: Any, events: int, data: Any) -> None:
        """Watch `sock` for `events` (READ, WRITE or both); `poll` reports it with `data`."""
        self._selector.register(sock, events, data)

    def modify(self, sock: Any, events: int, data: Any) -> None:
        """Watch a registered socket for other `events`."""
        self._selector.modify(sock, events, data)

    def unregister(self, sock: Any, closing: bool = False) -> None:
        """Stop watching `sock`."""
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """(data, READ/WRITE bits) of the sockets ready within `timeout` seconds (None: no limit)."""
        return [(key.data, events) for key, events in self._selector.select(timeout)]

    def close(self) -> None:
        """Release the selector."""
        self._selector.close()


if epoll is not None:
    _EPOLL_EVENTS = {READ: EPOLLIN, WRITE: EPOLLOUT, READ | WRITE: EPOLLIN | EPOLLOUT}
    # The usual reports, looked up; for the others (ERR, HUP...) anything but OUT alone means
    # "reading will not block", anything but IN alone "writing will not block".
    _EVENTS = {EPOLLIN: READ, EPOLLOUT: WRITE, EPOLLIN | EPOLLOUT: READ | WRITE}

    def _from_epoll(event: int) -> int:
        return (READ if event & ~EPOLLOUT else 0) | (WRITE if event & ~EPOLLIN else 0)
    Poller: type[_EpollPoller] | type[_SelectorsPoller] = _EpollPoller
else:
    Poller = _SelectorsPoller
