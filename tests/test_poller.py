"""kali.poller: which sockets are ready, the same from epoll (Linux) and from the selectors module."""

from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest

from kali import poller
from kali.poller import READ, WRITE

KINDS = [poller._SelectorsPoller] + ([poller._EpollPoller] if poller.epoll is not None else [])


@pytest.fixture(params=KINDS, ids=lambda kind: kind.__name__)
def watch(request: Any) -> Iterator[tuple[Any, socket.socket, socket.socket]]:
    """A poller of one kind and a connected pair of sockets: (poller, ours, theirs)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    instance = request.param()
    try:
        yield instance, ours, theirs
    finally:
        instance.close()
        ours.close()
        theirs.close()


def test_readable_writable_and_nothing(watch: tuple[Any, socket.socket, socket.socket]) -> None:
    instance, ours, theirs = watch
    instance.register(ours, READ, "mine")
    assert instance.poll(0) == []
    theirs.send(b"x")
    assert instance.poll(0) == [("mine", READ)]
    instance.modify(ours, READ | WRITE, "mine now")
    assert instance.poll(0) == [("mine now", READ | WRITE)]
    instance.modify(ours, WRITE, "mine")
    assert instance.poll(0) == [("mine", WRITE)]
    instance.unregister(ours)
    assert instance.poll(0) == []


def test_a_peer_that_went_away_reads_as_ready(watch: tuple[Any, socket.socket, socket.socket]) -> None:
    # A hang-up is reported as readable (the recv that follows returns b''), as selectors does.
    instance, ours, theirs = watch
    instance.register(ours, READ, "mine")
    theirs.close()
    ready = instance.poll(1.0)
    assert [data for data, _ in ready] == ["mine"] and ready[0][1] & READ
    assert ours.recv(10) == b""


def test_a_socket_unregistered_as_it_closes_leaves_its_number_free(
        watch: tuple[Any, socket.socket, socket.socket]) -> None:
    # With closing=True the epoll poller skips the system call: closing the socket removes it.
    instance, ours, theirs = watch
    first, first_peer = socket.socketpair()
    instance.register(first, READ, "first")
    instance.unregister(first, closing=True)
    first.close()
    first_peer.close()
    second, second_peer = socket.socketpair()      # the lowest free numbers: usually the same again
    try:
        instance.register(second, READ, "second")
        second_peer.send(b"x")
        assert instance.poll(0) == [("second", READ)]
    finally:
        instance.unregister(second)
        second.close()
        second_peer.close()
