"""kali's one truth table: the words that mean true and false, for a checkbox and a `bool` route parameter."""

from __future__ import annotations

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "parse_bool"]

#: Words read as True (compared lower-case); 'on' is what a checkbox without a value sends.
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on", "checked"})
#: Words read as False (compared lower-case).
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off"})


def parse_bool(text: str) -> bool:
    """True or False for a word of the truth table (any case); ValueError for any other text."""
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is neither true nor false")
