"""Lenses: two-way conversions between Python values and the text of a form field.

A lens turns a native value into the text a browser shows (`to_text`) and the
text a user typed back into a native value (`to_native`), raising
:class:`ValidationError` with a message for the user when the text is not
acceptable.  Built-in lenses::

    STRING            trimmed text; blank gives ''
    REQUIRED          trimmed text that must not be blank
    INT, FLOAT        numbers; INT(min=0, max=120) adds bounds
    DECIMAL           decimal.Decimal; DECIMAL(places=2, min=0)
    DATE              datetime.date as YYYY-MM-DD (what <input type=date> sends)
    TIME              datetime.time as HH:MM (what <input type=time> sends)
    BOOL              a checkbox: checked -> True, absent -> False
    EnumLens(labels)  an offset into a list of labels (the label is the text)
    ChoiceLens(values, multiple=False)   one value (or a list) out of a fixed set
    nullable(lens)    blank <-> None, anything else goes through `lens`
    Test(regex_or_predicate, error=..., lens=STRING)   an extra check

Every lens except STRING, BOOL and nullable ones refuses blank text with
"This field is required."  Options are set by calling a lens, which returns a
new lens (the original is unchanged): ``INT(min=0)``, ``STRING(max_length=80)``,
``DATE(max=date.today())``.  ``lens.check(test, error)`` is ``Test(test,
error=error, lens=lens)``.  A lens of your own is a subclass overriding
`to_text` and `to_native`, or ``Lens(to_native=parse, to_text=format)``.

Multi-valued lenses (``lens.multiple`` is true, e.g. ``ChoiceLens(values,
multiple=True)``) convert lists of texts, for a multiple select.
"""

from __future__ import annotations

import copy
import datetime
import math
import re
import sys
from collections.abc import Mapping

# The one truth table (kali.truth), which a bool route parameter reads too.
from .truth import FALSE_WORDS, TRUE_WORDS, parse_bool
from .patterns import compile_later

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Pattern, Sequence, TypeAlias, Union
    import decimal      # at run time imported where a Decimal is made: start-up need not pay for it

__all__ = [
    "ValidationError", "Lens", "StringLens", "IntLens", "FloatLens", "DecimalLens", "DateLens", "TimeLens",
    "BoolLens", "EnumLens", "ChoiceLens", "Nullable", "Test", "nullable",
    "STRING", "REQUIRED", "INT", "FLOAT", "DECIMAL", "DATE", "TIME", "BOOL", "REQUIRED_MESSAGE",
    "TRUE_WORDS", "FALSE_WORDS", "parse_bool",
]

#: The message for blank text where a value is needed.
REQUIRED_MESSAGE = "This field is required."

Text: TypeAlias = "Union[str, list[str]]"


class ValidationError(ValueError):
    """Text a user typed is not acceptable; `message` is shown next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Lens:
    """A two-way conversion between a native value and a form field's text.

    The base class converts text to itself and any value to `str` (None to
    ''); pass `to_native`/`to_text` functions to make a lens without a
    subclass.  `to_native` functions signal bad input with ValidationError.
    """

    #: True for a lens converting lists of texts (a multiple select).
    multiple: bool = False
    #: The texts a field may take and their labels, for a lens with a fixed set of values.
    choices: list[tuple[str, str]] | None = None
    #: Option names that calling the lens may change.
    _options: tuple[str, ...] = ()

    def __init__(self, to_native: Callable[[str], Any] | None = None,
                 to_text: Callable[[Any], str] | None = None) -> None:
        self._parse = to_native
        self._format = to_text

    def to_text(self, native: Any) -> Any:
        """The text showing `native` in a form field ('' for None)."""
        if native is None:
            return ""
        if self._format is not None:
            return self._format(native)
        return str(native)

    def to_native(self, text: Any) -> Any:
        """The value the text stands for; ValidationError if it is not acceptable."""
        if self._parse is not None:
            return self._parse(text)
        return text

    def __call__(self, **options: Any) -> "Lens":
        """A copy of this lens with some options changed, e.g. ``INT(min=0, max=100)``."""
        clone = copy.copy(self)
        for name, value in options.items():
            if name not in self._options:
                takes = ", ".join(self._options) or "no options"
                raise TypeError(f"{self!r} has no option {name!r} (it takes: {takes})")
            setattr(clone, name, value)
        clone._check_options()
        return clone

    def _check_options(self) -> None:
        """Raise a clear error when options do not make sense together."""

    def check(self, test: str | Pattern[str] | Callable[[Any], bool], error: str) -> "Test":
        """This lens followed by a regex test of the text or a predicate on the value."""
        return Test(test, error=error, lens=self)

    def __repr__(self) -> str:
        name = getattr(self, "_name", None) or type(self).__name__
        changed = [f"{o}={getattr(self, o)!r}" for o in self._options
                   if getattr(self, o) != getattr(type(self), o, None)]
        return f"{name}({', '.join(changed)})" if changed else name


def _text(native: Any) -> str:
    """The plain text for common native values (dates as ISO, decimals without exponent)."""
    if native is None:
        return ""
    if isinstance(native, str):
        return native
    if isinstance(native, bool):
        return "on" if native else ""
    if isinstance(native, datetime.datetime):
        return native.date().isoformat()
    if isinstance(native, datetime.date):
        return native.isoformat()
    # A Decimal can only exist once its module is loaded, so an app without one never loads it.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(native, decimal.Decimal):
        return format(native, "f")
    if isinstance(native, float):
        text = repr(native)
        return text[:-2] if text.endswith(".0") else text
    return str(native)


class StringLens(Lens):
    """Text with surrounding white space removed; optionally required and length-limited."""

    _options = ("required", "max_length", "min_length", "strip")
    required: bool = False
    max_length: int | None = None
    min_length: int | None = None
    #: Remove surrounding white space (turn off for passwords).
    strip: bool = True

    def __init__(self, *, required: bool = False, max_length: int | None = None,
                 min_length: int | None = None, strip: bool = True, name: str | None = None) -> None:
        super().__init__()
        self.required = required
        self.max_length = max_length
        self.min_length = min_length
        self.strip = strip
        self._name = name

    def to_text(self, native: Any) -> str:
        """The value as text ('' for None)."""
        return _text(native)

    def to_native(self, text: Any) -> str:
        """The trimmed text; ValidationError if blank when required or of the wrong length."""
        value: str = text.strip() if self.strip else text
        if not value.strip():
            if self.required:
                raise ValidationError(REQUIRED_MESSAGE)
            return value
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(f"Enter at most {self.max_length} characters (this has {len(value)}).")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValidationError(f"Enter at least {self.min_length} characters (this has {len(value)}).")
        return value


class _NumberLens(Lens):
    _options: tuple[str, ...] = ("min", "max")
    min: Any = None
    max: Any = None
    _pattern: Pattern[str]
    _message = "Enter a number."

    def __init__(self, *, min: Any = None, max: Any = None, name: str | None = None) -> None:
        super().__init__()
        self.min = min
        self.max = max
        self._name = name
        self._check_options()

    def _check_options(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self!r}: min {self.min!r} is greater than max {self.max!r}")

    def _convert(self, text: str) -> Any:
        raise NotImplementedError

    def to_text(self, native: Any) -> str:
        """The number as text ('' for None)."""
        return _text(native)

    def to_native(self, text: Any) -> Any:
        """The number typed; ValidationError if blank, malformed or out of bounds."""
        value = text.strip()
        if not value:
            raise ValidationError(REQUIRED_MESSAGE)
        if not self._pattern.fullmatch(value):
            raise ValidationError(self._message)
        number = self._convert(value)
        self._check_bounds(number)
        return number

    def _check_bounds(self, number: Any) -> None:
        if self.min is not None and number < self.min:
            raise ValidationError(f"Enter a value of at least {_text(self.min)}.")
        if self.max is not None and number > self.max:
            raise ValidationError(f"Enter a value of at most {_text(self.max)}.")


class IntLens(_NumberLens):
    """A whole number (ASCII digits with an optional sign), optionally between min and max."""

    _pattern = compile_later(r"[+-]?[0-9]+")
    _message = "Enter a whole number, like 42."

    def _convert(self, text: str) -> int:
        if len(text) > 4300:      # Python refuses to parse longer ints; say so kindly
            raise ValidationError("This number is too long.")
        return int(text)


class FloatLens(_NumberLens):
    """A finite floating-point number (like 3.5, -2 or 1e3), optionally between min and max."""

    _pattern = compile_later(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
    _message = "Enter a number, like 3.5."

    def _convert(self, text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            raise ValidationError("This number is too large.")
        return number


class DecimalLens(_NumberLens):
    """An exact decimal number (decimal.Decimal), optionally with at most `places` decimals."""

    _options = ("min", "max", "places")
    _pattern = compile_later(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
    _message = "Enter a number, like 12.50."
    places: int | None = None

    def __init__(self, *, min: Any = None, max: Any = None, places: int | None = None,
                 name: str | None = None) -> None:
        self.places = places
        super().__init__(min=min, max=max, name=name)

    def _convert(self, text: str) -> decimal.Decimal:
        if len(text) > 1000:
            raise ValidationError("This number is too long.")
        import decimal
        number = decimal.Decimal(text)
        exponent = number.as_tuple().exponent
        if self.places is not None and isinstance(exponent, int) and -exponent > self.places:
            if self.places == 0:
                raise ValidationError("Enter a whole number.")
            raise ValidationError(f"Enter at most {self.places} digits after the decimal point.")
        return number

    def to_text(self, native: Any) -> str:
        """The number as text, without an exponent ('' for None)."""
        if isinstance(native, float):
            import decimal
            native = decimal.Decimal(repr(native))
        return _text(native)


class _IsoLens(Lens):
    """Shared by DATE and TIME: an ISO text form as <input> sends it, parsed, with optional min/max."""

    _options: tuple[str, ...] = ("min", "max")
    min: Any = None
    max: Any = None
    _pattern: re.Pattern[str]
    _malformed: str          # the message for text of the wrong shape
    _impossible: str         # '{value} is not ...' for the right shape but no such value
    _bounds: tuple[str, str]  # 'Enter a date on or after', 'Enter a date on or before'

    def __init__(self, *, min: Any = None, max: Any = None, name: str | None = None) -> None:
        super().__init__()
        self.min = min
        self.max = max
        self._name = name

    def _from_iso(self, value: str) -> Any:
        raise NotImplementedError

    def to_native(self, text: Any) -> Any:
        """The value typed; ValidationError if blank, malformed, impossible or out of bounds."""
        value = text.strip()
        if not value:
            raise ValidationError(REQUIRED_MESSAGE)
        if not self._pattern.fullmatch(value):
            raise ValidationError(self._malformed)
        try:
            native = self._from_iso(value)
        except ValueError:
            raise ValidationError(self._impossible.format(value=value)) from None
        if self.min is not None and native < self.min:
            raise ValidationError(f"{self._bounds[0]} {self.to_text(self.min)}.")
        if self.max is not None and native > self.max:
            raise ValidationError(f"{self._bounds[1]} {self.to_text(self.max)}.")
        return native


class DateLens(_IsoLens):
    """A datetime.date written YYYY-MM-DD, as <input type=date> sends it; optional min/max."""

    min: datetime.date | None
    max: datetime.date | None
    _pattern = compile_later(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    _malformed = "Enter a date as YYYY-MM-DD, like 2024-03-31."
    _impossible = "{value} is not a date in the calendar."
    _bounds = ("Enter a date on or after", "Enter a date on or before")

    def _from_iso(self, value: str) -> datetime.date:
        return datetime.date.fromisoformat(value)

    def to_text(self, native: Any) -> str:
        """The date as YYYY-MM-DD ('' for None; text, as SQLite stores dates, is kept)."""
        return _text(native)


class TimeLens(_IsoLens):
    """A datetime.time written HH:MM (or HH:MM:SS), as <input type=time> sends it; optional min/max."""

    min: datetime.time | None
    max: datetime.time | None
    _pattern = compile_later(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?")
    _malformed = "Enter a time as HH:MM, like 09:30."
    _impossible = "{value} is not a time of day."
    _bounds = ("Enter a time at or after", "Enter a time at or before")

    def _from_iso(self, value: str) -> datetime.time:
        return datetime.time.fromisoformat(value)

    def to_text(self, native: Any) -> str:
        """The time as HH:MM (HH:MM:SS when it has seconds); '' for None; text is kept."""
        if isinstance(native, datetime.time):
            return native.isoformat("minutes" if not (native.second or native.microsecond) else "auto")
        return _text(native)


class BoolLens(Lens):
    """A checkbox: 'on' (or true/yes/1) is True, absent or blank (or false/no/0) is False."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self._name = name

    def to_text(self, native: Any) -> str:
        """'on' for a true value, '' for a false one (SQLite's 0/1 work too)."""
        if isinstance(native, str):
            native = native.strip().lower() in TRUE_WORDS
        return "on" if native else ""

    def to_native(self, text: Any) -> bool:
        """True or False; ValidationError for text meaning neither."""
        value = text.strip()
        if not value:
            return False        # an unchecked checkbox sends nothing; a blank one means the same
        try:
            return parse_bool(value)
        except ValueError:
            raise ValidationError("Enter yes or no.") from None


def _pairs(values: Iterable[Any] | Mapping[Any, str]) -> list[tuple[Any, str]]:
    """(native value, label) pairs from values, (value, label) pairs or a {value: label} dict."""
    if isinstance(values, Mapping):
        return [(v, str(label)) for v, label in values.items()]
    pairs = []
    for item in values:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise ValueError(f"a choice must be a value or a (value, label) pair, not {item!r}")
            pairs.append((item[0], str(item[1])))
        else:
            pairs.append((item, _text(item)))
    return pairs


class ChoiceLens(Lens):
    """One value out of a fixed set (or, with multiple=True, a list of them).

    `values` are native values (shown as their text), (value, label) pairs or
    a {value: label} dict; the text of a value is what the browser sends.
    """

    _options = ("required",)
    #: With multiple=True: whether at least one value must be chosen.
    required: bool = False

    def __init__(self, values: Iterable[Any] | Mapping[Any, str], *, multiple: bool = False,
                 required: bool = False) -> None:
        super().__init__()
        self.values = _pairs(values)
        self.multiple = multiple
        self.required = required
        self._by_text: dict[str, Any] = {}
        for value, _ in self.values:
            text = _text(value)
            if text in self._by_text:
                raise ValueError(f"ChoiceLens: two choices have the text {text!r}")
            self._by_text[text] = value
        self.choices = [(_text(v), label) for v, label in self.values]

    def to_text(self, native: Any) -> Any:
        """The value's text (a list of texts when multiple)."""
        if not self.multiple:
            return _text(native)
        if native is None:
            return []
        if isinstance(native, str):
            return [native]
        return [_text(v) for v in native]

    def _one(self, text: str) -> Any:
        if text in self._by_text:
            return self._by_text[text]
        stripped = text.strip()
        if stripped in self._by_text:
            return self._by_text[stripped]
        if not stripped:
            raise ValidationError("Choose an option.")
        raise ValidationError(f"{stripped!r} is not one of the options; choose another.")

    def to_native(self, text: Any) -> Any:
        """The chosen value (a list in the order sent, when multiple)."""
        if not self.multiple:
            if isinstance(text, list):
                text = text[0] if text else ""
            return self._one(text)
        texts = [text] if isinstance(text, str) else list(text)
        chosen: list[Any] = []
        seen: set[str] = set()
        for t in texts:
            if t in seen or not t.strip():
                continue
            seen.add(t)
            chosen.append(self._one(t))
        if self.required and not chosen:
            raise ValidationError("Choose at least one option.")
        return chosen

    def __repr__(self) -> str:
        extra = ", multiple=True" if self.multiple else ""
        return f"ChoiceLens({[v for v, _ in self.values]!r}{extra})"


class EnumLens(Lens):
    """An offset into a list of labels: 0 is shown as labels[0]; the label typed or chosen gives its offset."""

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__()
        self.labels = [str(label) for label in labels]
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"EnumLens: the labels {self.labels!r} are not all different")
        self._folded = {label.strip().casefold(): n for n, label in enumerate(self.labels)}
        self.choices = [(label, label) for label in self.labels]

    def to_text(self, native: Any) -> str:
        """The label at offset `native` ('' for None)."""
        if native is None:
            return ""
        if isinstance(native, int) and not isinstance(native, bool) and 0 <= native < len(self.labels):
            return self.labels[native]
        return _text(native)     # shown as is; converting it back will say it is not an option

    def to_native(self, text: Any) -> int:
        """The offset of the label (exact, or ignoring case and surrounding spaces)."""
        if text in self.labels:
            return self.labels.index(text)
        key = text.strip().casefold()
        if not key:
            raise ValidationError("Choose an option.")
        if key in self._folded:
            return self._folded[key]
        raise ValidationError(f"{text.strip()!r} is not one of the options; choose another.")

    def __repr__(self) -> str:
        return f"EnumLens({self.labels!r})"


class Nullable(Lens):
    """Blank text is None and None is blank; anything else goes through the inner lens."""

    def __init__(self, inner: Lens) -> None:
        super().__init__()
        if not isinstance(inner, Lens):
            raise TypeError(f"nullable() takes a lens, not {inner!r}")
        self.inner = inner
        self.multiple = inner.multiple
        self.choices = inner.choices

    def to_text(self, native: Any) -> Any:
        """'' for None, the inner lens's text otherwise."""
        if native is None:
            return [] if self.multiple else ""
        return self.inner.to_text(native)

    def to_native(self, text: Any) -> Any:
        """None for blank text (an empty list when multiple), the inner lens's value otherwise."""
        if self.multiple:
            if not [t for t in text if t.strip()]:
                return None
        elif not text.strip():
            return None
        return self.inner.to_native(text)

    def __repr__(self) -> str:
        return f"nullable({self.inner!r})"


def nullable(lens: Lens) -> Nullable:
    """`lens`, except that blank text is None (and None shows as blank)."""
    return Nullable(lens)


class Test(Lens):
    """An extra check after a lens: a regex the whole (trimmed) text must match, or a predicate on the value.

    ``Test(r'[0-9]{5}', error='Enter five digits.')`` checks text (with
    `re.fullmatch`); ``Test(lambda n: n % 2 == 0, error='Enter an even number.',
    lens=INT)`` checks the converted value.  The inner lens runs first, so its
    own message (e.g. "required") wins; blank text that it reads as None
    (``lens=nullable(INT)``) is not tested.
    """

    __test__ = False     # a lens, not a test case for pytest

    def __init__(self, test: str | Pattern[str] | Callable[[Any], bool], *,
                 error: str = "This value is not valid.", lens: Lens | None = None) -> None:
        super().__init__()
        self.inner = lens if lens is not None else STRING
        if not isinstance(self.inner, Lens):
            raise TypeError(f"Test(lens=...) takes a lens, not {self.inner!r}")
        self.pattern: Pattern[str] | None = None
        self.predicate: Callable[[Any], bool] | None = None
        if isinstance(test, str):
            self.pattern = re.compile(test)
        elif isinstance(test, re.Pattern):
            self.pattern = test
        elif callable(test):
            self.predicate = test
        else:
            raise TypeError(f"Test takes a regex or a predicate function, not {test!r}")
        self.error = error
        self.multiple = self.inner.multiple
        self.choices = self.inner.choices

    def to_text(self, native: Any) -> Any:
        """The inner lens's text."""
        return self.inner.to_text(native)

    def to_native(self, text: Any) -> Any:
        """The inner lens's value, if the text matches / the value passes the predicate."""
        native = self.inner.to_native(text)
        if native is None and not (text.strip() if isinstance(text, str) else [t for t in text if t.strip()]):
            # The inner lens accepted blank as "no value" (nullable): there is nothing to test, and a
            # predicate such as `lambda n: n > 0` must not be handed None.
            return None
        if self.pattern is not None:
            texts = [text] if isinstance(text, str) else list(text)
            if not all(self.pattern.fullmatch(t.strip()) for t in texts):
                raise ValidationError(self.error)
        if self.predicate is not None and not self.predicate(native):
            raise ValidationError(self.error)
        return native

    def __repr__(self) -> str:
        test = self.pattern.pattern if self.pattern is not None else self.predicate
        return f"Test({test!r}, error={self.error!r}, lens={self.inner!r})"


STRING = StringLens(name="STRING")
REQUIRED = StringLens(required=True, name="REQUIRED")
INT = IntLens(name="INT")
FLOAT = FloatLens(name="FLOAT")
DECIMAL = DecimalLens(name="DECIMAL")
DATE = DateLens(name="DATE")
TIME = TimeLens(name="TIME")
BOOL = BoolLens(name="BOOL")
