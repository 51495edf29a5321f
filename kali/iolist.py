"""iolists: page content as nested sequences of text and bytes, never one big string.

An iolist is a `str`, `bytes` (or `bytearray`/`memoryview`), an `int` or
`float` (written in decimal), `None` (nothing), or any iterable (list, tuple,
generator...) of iolists.  Handlers and templates build iolists by nesting;
the server walks them lazily, encodes text as UTF-8 and hands the kernel
moderate-sized chunks, so a page is never copied into one large string.
"""

from __future__ import annotations

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, TypeAlias, Union


__all__ = ["IOList", "iter_chunks", "to_chunks", "to_bytes", "CHUNK_SIZE"]

#: What an iolist may be: text, bytes, a number, None, or an iterable of iolists.
IOList: TypeAlias = "Union[str, bytes, bytearray, memoryview, int, float, None, Iterable[Any]]"

#: Text is gathered into pieces of about this many characters before encoding:
#: big enough that the kernel sees few buffers, small enough to stay cheap.
CHUNK_SIZE = 16384

_BINARY = (bytes, bytearray, memoryview)


def _bad_item(item: object) -> TypeError:
    return TypeError(
        f"an iolist may hold str, bytes, numbers, None and iterables of those, "
        f"not {type(item).__name__}: {item!r:.80}")


def iter_chunks(iolist: Any, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the iolist's bytes depth-first, in chunks, pulling nested iterables lazily."""
    pending: list[str] = []
    pending_len = 0
    stack: list[Iterator[Any]] = []
    it: Iterator[Any] = iter((iolist,))
    while True:
        for item in it:
            kind = type(item)
            if kind is str:
                pending.append(item)
                pending_len += len(item)
                if pending_len >= chunk_size:
                    yield "".join(pending).encode("utf-8")
                    pending.clear()
                    pending_len = 0
            elif kind is list or kind is tuple:
                stack.append(it)
                it = iter(item)
                break
            elif item is None:
                continue
            elif kind is bytes or isinstance(item, _BINARY):
                if pending:
                    yield "".join(pending).encode("utf-8")
                    pending.clear()
                    pending_len = 0
                if len(item):
                    yield item if kind is bytes else bytes(item)
            elif isinstance(item, str):
                pending.append(str(item))
                pending_len += len(item)
            elif isinstance(item, (int, float)):
                pending.append(str(item))
            elif isinstance(item, dict) or not hasattr(item, "__iter__"):
                raise _bad_item(item)
            else:
                stack.append(it)
                it = iter(item)
                break
        else:
            if not stack:
                break
            it = stack.pop()
    if pending:
        yield "".join(pending).encode("utf-8")


def to_chunks(iolist: Any) -> list[bytes]:
    """Every chunk of the iolist, as a list (its total length is then known)."""
    if type(iolist) is str:
        return [iolist.encode("utf-8")] if iolist else []
    if type(iolist) is bytes:
        return [iolist] if iolist else []
    return list(iter_chunks(iolist))


def to_bytes(iolist: Any) -> bytes:
    """The whole iolist as one bytes object (for tests and small bodies)."""
    return b"".join(iter_chunks(iolist))
