"""`compile_later`: a regular expression compiled on first use, not when its module is imported.

Compiling a pattern runs the `re` module's parser and compiler in Python: a
tenth to a third of a millisecond each, paid by every app's start-up for
patterns most requests never need (chunked framing, absolute-form targets,
SQL scripts...).  Patterns on the hot path stay plain `re.compile`.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, AnyStr

__all__ = ["compile_later"]


class _Later:
    """Stands for re.compile(pattern, flags): compiles on the first attribute asked for."""

    __slots__ = ("_source", "_flags", "_compiled")

    def __init__(self, source: str | bytes, flags: int) -> None:
        self._source = source
        self._flags = flags
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"compile_later({self._source!r})"


def compile_later(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """A pattern like re.compile(pattern, flags), compiled when first used."""
    return _Later(pattern, flags)  # type: ignore[return-value]
