"""kali.iolist: nested str / bytes / numbers / iterables become UTF-8 byte chunks, lazily."""

from __future__ import annotations

from typing import Any

import pytest

from kali.iolist import iter_chunks, to_bytes, to_chunks


def test_iolists_are_encoded_as_utf8_numbers_in_decimal_and_pulled_lazily() -> None:
    assert to_bytes(["é", b"\xff", 7, -1.5, None, ("a", ["b", bytearray(b"c"), memoryview(b"d")])]) \
        == "é".encode() + b"\xff7-1.5abcd"
    assert to_chunks("") == [] and to_chunks(b"") == [] and to_bytes([None, [], ""]) == b""
    pulled: list[str] = []

    def later() -> Any:
        pulled.append("later")
        yield "x" * 10

    chunks = iter_chunks(["a" * 20_000, later(), "tail"], chunk_size=16_384)
    assert next(chunks) == b"a" * 20_000
    assert pulled == []                 # nothing after the first chunk was touched yet
    assert b"".join(chunks) == b"x" * 10 + b"tail" and pulled == ["later"]
    for bad in ({"a": 1}, object()):
        with pytest.raises(TypeError, match="an iolist may hold"):
            to_bytes(["ok", bad])
