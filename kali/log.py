"""kali's loggers, with the `logging` package imported when one is first used rather than by `import kali`.

Importing `logging` brings `traceback`, `tokenize`, `textwrap`, `string` and
`threading` along: several milliseconds of an app's start-up that its import
line need not pay, since a kali module only logs once something happens.  Each
module keeps `logger = get_logger()` at the top as usual; the object it gets
stands for `logging.getLogger(name)` and hands every attribute to it.
"""

from __future__ import annotations


TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any
    import logging

__all__ = ["get_logger"]


class _Deferred:
    """Stands for logging.getLogger(name): looks the logger up (importing logging) on first use."""

    __slots__ = ("_name", "_logger")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        found = self._logger
        if found is None:
            import logging
            found = self._logger = logging.getLogger(self._name)
        return getattr(found, attribute)

    def __repr__(self) -> str:
        return f"<logger {self._name!r}, imported on first use>"


def get_logger(name: str = "kali") -> logging.Logger:
    """The logger `name` ('kali', 'kali.forms'...), for logging at run time without importing logging now."""
    return _Deferred(name)  # type: ignore[return-value]
