"""HTML templates: escaped by default, compiled to Python functions, rendered to iolists.

A template is a callable taking keyword parameters and returning an iolist
(a list of str, possibly nested), ready to be a response body::

    hello = Template('<p title="{name}">Hello, {name}!</p>')
    hello(name='Tom & "Jerry"')
    # ['<p title="Tom &amp; &#34;Jerry&#34;">Hello, Tom &amp; &#34;Jerry&#34;!</p>']

Placeholders
    ``{name}``       the value, HTML-escaped: ``& < > " '`` all become entities, so it
                     is safe both in text and inside a quoted attribute value.
    ``{.name}``      the value as is: trusted markup, or another template's output
                     (an iolist, which is simply nested).
    ``{name:fmt}``   the value passed through formatter ``fmt``, then escaped
                     (``{.name:fmt}``: not escaped). Built in: ``num`` (1,234,567),
                     ``cents`` (1,234.50), ``date`` (YYYY-MM-DD), ``url`` (percent-encoded
                     for a query value: ``href="?q={q:url}"``), ``path`` (the same
                     for one path segment, refusing '', '.' and '..':
                     ``href="/tags/{tag:path}"``). Add your own with
                     :func:`register_formatter`, ``TemplateFolder(formatters=...)``
                     or ``Template(formatters=...)``; formatters are looked up when
                     a template is loaded, and an unknown one is a load-time error.
    ``{row.title}``  an item or attribute. Mappings (anything with ``keys`` and
                     ``__getitem__``, like ``sqlite3.Row``) are tried by item first,
                     then by attribute; other objects by attribute. Plain dicts
                     are looked up by item only (their attributes are methods).
    ``{row.0}``      a number part indexes a sequence (tuples, lists, rows).

    ``None`` renders as nothing, also part-way along a path (``{a.b}`` when ``a``
    is None), and a formatter is not called for None. A list, tuple or generator
    given to an escaping ``{name}`` is flattened and each piece escaped (safe,
    never markup: use ``{.name}`` for another template's output). Numbers are
    written with ``str``; other objects with ``str`` and then escaped.

    Every parameter a template mentions must be passed, even if only a branch
    not taken uses it (pass None for "nothing"); a missing one raises
    :class:`TemplateRuntimeError` naming the parameter, file and line. Extra
    parameters are ignored, so one dict can feed several templates.

    Some names need no passing: ``{kali.css}`` and ``{kali.icon}`` (the URLs of
    the stylesheet and icon that ship with kali), ``{.kali.head}`` (both as
    ``<link>`` tags), and the ``globals=`` given to a Template or
    TemplateFolder (e.g. ``flashes`` for a layout). A passed parameter wins.

Braces
    ``{`` starts a placeholder only when a name (or ``.name``) follows it; any
    other ``{`` is literal, so ``a { color: red }`` and ``if (x) { go() }`` in
    inline ``<style>`` and ``<script>`` need no escaping. ``{{`` is a literal
    ``{`` (``{{name}`` shows ``{name}``); ``}`` is always literal. A ``{`` that
    is followed by a name but is not a well-formed placeholder (CSS written as
    ``a{color:red}``) is a load-time error: add a space or write ``{{``.

Sections are HTML comments, so HTML editors see ordinary markup. A section
marker alone on its line removes the whole line from the output.

    Conditional::

        <!--{if errors}--> <p class="error">{errors}</p> <!--{end}-->
        <!--{if not rows}--> ... <!--{otherwise}--> ... <!--{end}-->
        <!--{if errors.email}--> {errors.email} <!--{end}-->

    A condition's last step may be absent (a missing dict key, item or
    attribute tests false), so a form's error dict needs no entry per field;
    the parameter itself (``errors``) must still be passed.

    Loop (``each``, ``after`` and ``otherwise`` are optional, in this order;
    without ``each`` everything before ``after``/``otherwise`` is the body)::

        <!--{for row in rows}-->
        <table>                                   preamble: once, before the first row
        <!--{each}-->
        <tr><td>{row.title}</td></tr>             body: once per row
        <!--{after}-->
        </table>                                  epilogue: once, after the last row
        <!--{otherwise}-->
        <p>Nothing yet.</p>                       instead of all that when rows is empty or None
        <!--{end}-->

    Extension: a page marks replaceable parts with ``slot`` (its content is
    the default); a template that starts with ``extends`` fills some of them.
    Fills may define new slots, so chains can be as deep as you like;
    ``<!--{super}-->`` inside a fill stands for what the slot held before::

        page.tpl:      <title><!--{slot title}-->My app<!--{end}--></title>
                       <body><!--{slot body}--><!--{end}--></body>
        list.tpl:      <!--{extends page}-->
                       <!--{slot title}-->Customers - <!--{super}--><!--{end}-->
                       <!--{slot body}--><ul>...</ul><!--{end}-->

    Inclusion: ``<!--{include name}-->`` inserts another template in place; it
    sees the same parameters. ``extends`` and ``include`` name templates in a
    :class:`TemplateFolder` (``layouts/page`` for ``layouts/page.tpl``), or in
    the ``templates=`` mapping given to ``Template``; cycles are reported.

Errors: malformed text raises :class:`TemplateError` when the template is
loaded, as ``file:line:col: message`` followed by the line and a caret. Failures
while rendering raise :class:`TemplateRuntimeError` (a subclass) naming the
placeholder, file and line, with the original exception chained; a failed
lookup suggests the closest name (``did you mean {b.title}?``), worked out only
after the failure. A section missing its ``end`` is reported at the section
most likely left open, not at whichever one the last ``end`` failed to close.
"""

from __future__ import annotations

import datetime
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import GeneratorType

from kali.template_errors import TemplateError, TemplateRuntimeError
from kali.patterns import compile_later

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TypeAlias, Union
    from kali.template_compiler import Location, Loader, Tree

# kali.template_compiler (its regular expressions and node classes) is imported where a
# template is first compiled, not by `import kali.templates`: an app's start-up pays for
# it with its first template, and a TemplateFolder compiles nothing until a page asks.

__all__ = [
    "Template",
    "TemplateLoop",
    "TemplateFolder",
    "TemplateError",
    "TemplateRuntimeError",
    "escape",
    "register_formatter",
]

Formatter: TypeAlias = "Callable[[Any], object]"

# ---------------------------------------------------------------- escaping and lookup


def escape(value: object) -> str:
    """HTML-escape any value for text or a quoted attribute value (& < > " ' become entities; None is '')."""
    if type(value) is str:
        # Most values contain none of the five characters; 'in' tests are far
        # cheaper than always running the replacements.
        if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
            return (
                value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&#34;").replace("'", "&#39;")
            )
        return value
    if value is None:
        return ""
    if type(value) is int or type(value) is float:  # only digits, signs, '.', 'e', inf, nan
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return escape(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, (list, tuple, GeneratorType)):
        return "".join([escape(piece) for piece in value])
    return escape(str(value))


_ITEM_FIRST: dict[type, bool] = {}


def _lookup(obj: object, key: str) -> object:
    """``obj.key`` in a template: item first for mappings and sqlite3.Row, then attribute."""
    if obj is None:
        return None
    cls = type(obj)
    item_first = _ITEM_FIRST.get(cls)
    if item_first is None:
        # The same test Python's ``**`` uses for "is a mapping"; sqlite3.Row passes it.
        item_first = _ITEM_FIRST[cls] = hasattr(cls, "keys") and hasattr(cls, "__getitem__")
    if item_first:
        try:
            return obj[key]  # type: ignore[index]
        except (KeyError, IndexError):  # sqlite3.Row raises IndexError for an unknown column
            pass
    try:
        return getattr(obj, key)
    except AttributeError:
        pass
    raise LookupError(f"{cls.__name__} has no item or attribute {key!r}")


# ---------------------------------------------------------------- formatters


def _require_number(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")


def _format_num(value: object) -> str:
    """Thousands separators: 1234567 -> '1,234,567', 1234.5 -> '1,234.5'."""
    _require_number(value)
    return format(value, ",")


def _format_cents(value: object) -> str:
    """Two decimals and thousands separators: 1234.5 -> '1,234.50'."""
    _require_number(value)
    return format(value, ",.2f")


_ISO_DATE = compile_later(r"\d{4}-\d{2}-\d{2}")


def _format_date(value: object) -> str:
    """A date as YYYY-MM-DD, from a date, a datetime, or an ISO date/datetime string (as SQLite stores them)."""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            # Validates the calendar date, and any time part after it.
            (datetime.date if len(value) == 10 else datetime.datetime).fromisoformat(value)
            return value[:10]
        raise ValueError(f"not an ISO date: {value!r}")
    raise TypeError(f"expected a date, got {type(value).__name__} {value!r}")


def _format_url(value: object) -> str:
    """Percent-encoded for a URL's query value ('a&b/c' -> 'a%26b%2Fc').

    Everything but letters, digits and ``-._~`` is encoded (UTF-8 first), so ``&``,
    ``=``, ``#``, ``+``, ``?``, ``/`` and spaces stay data instead of ending the value.
    """
    from urllib.parse import quote  # loaded by the first template that uses it, not by every import

    if isinstance(value, (bytes, bytearray)):
        return quote(bytes(value), safe="")
    return quote(value if isinstance(value, str) else str(value), safe="")


def _format_path(value: object) -> str:
    """Percent-encoded as one path segment, like ``url``; '', '.' and '..' raise (they cannot be a segment)."""
    encoded = _format_url(value)
    if encoded in ("", ".", ".."):
        # Browsers drop or climb over such a segment ('%2E%2E' too), and an empty one
        # makes another path: better a clear error than a link to the wrong page.
        raise ValueError(f"{value!r} cannot be a path segment (the link would lead elsewhere)")
    return encoded


_FORMATTERS: dict[str, Formatter] = {"num": _format_num, "cents": _format_cents, "date": _format_date,
                                     "url": _format_url, "path": _format_path}
_FORMATTER_NAME = compile_later(r"[^\W\d]\w*")
_IDENTIFIER = _FORMATTER_NAME


def _check_formatter(name: str, func: Formatter) -> None:
    if not isinstance(name, str) or not _FORMATTER_NAME.fullmatch(name):
        raise ValueError(f"formatter name must be an identifier, got {name!r}")
    if not callable(func):
        raise TypeError(f"formatter {name!r} must be callable, got {type(func).__name__}")


def register_formatter(name: str, func: Formatter) -> None:
    """Make ``{value:name}`` available to every template loaded from now on (may replace a built-in)."""
    _check_formatter(name, func)
    _FORMATTERS[name] = func


# ---------------------------------------------------------------- names every template sees


class KaliNames:
    """What the name ``kali`` gives every template (unless a parameter called ``kali`` is passed).

    ``{kali.css}`` and ``{kali.icon}`` are the content-hashed URLs of the stylesheet and
    icon that ship with kali (served under ``/_kali/`` by every app), and
    ``{.kali.head}`` is the two ``<link>`` tags for a page's ``<head>``.
    """

    __slots__ = ()

    @property
    def css(self) -> str:
        """The URL of kali's stylesheet, e.g. '/_kali/kali.3f9a1c2e.css'."""
        from .reserved import asset_url  # on first use: `import kali.templates` stays light
        return asset_url("kali.css")

    @property
    def icon(self) -> str:
        """The URL of kali's icon (SVG)."""
        from .reserved import asset_url
        return asset_url("icon.svg")

    @property
    def head(self) -> str:
        """Markup for a page's <head>: the icon and the stylesheet as <link> tags (insert with ``{.kali.head}``)."""
        from .pages import asset_links
        return asset_links()

    def __repr__(self) -> str:
        return "<kali's template names: css, icon, head>"


#: Names every template can use without their being passed; a parameter of the same name wins.
BUILTIN_NAMES: dict[str, object] = {"kali": KaliNames()}


class _Formatters:
    """Formatters of one template or folder, falling back to the global registry, and its global names."""

    def __init__(self, own: Optional[Mapping[str, Formatter]], names: Optional[Mapping[str, object]] = None) -> None:
        self.own: dict[str, Formatter] = {}
        for name, func in (own or {}).items():
            self.add(name, func)
        #: Names every render sees unless passed: kali's own (``kali``) and the ``globals=`` given.
        self.names: dict[str, object] = dict(BUILTIN_NAMES)
        for name, value in (names or {}).items():
            if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"globals=: a name must be an identifier, got {name!r}")
            self.names[name] = value

    def add(self, name: str, func: Formatter) -> None:
        _check_formatter(name, func)
        self.own[name] = func

    def get(self, name: str) -> Optional[Formatter]:
        return self.own.get(name) or _FORMATTERS.get(name)


# ---------------------------------------------------------------- templates

TemplateSource: TypeAlias = "Union[Mapping[str, Template], TemplateFolder]"


def _loader_for(templates: Optional[TemplateSource]) -> Optional[Loader]:
    """How ``extends``/``include`` in a string template find other templates."""
    if templates is None:
        return None
    if isinstance(templates, TemplateFolder):
        folder = templates
        return lambda name, loc: folder._get(name, loc)[0]._tree
    if not isinstance(templates, Mapping):
        raise TypeError(f"templates= must be a mapping of names to Templates or a TemplateFolder, got {type(templates).__name__}")
    mapping = templates

    def load(name: str, loc: Location) -> Tree:
        found = mapping.get(name)
        if not isinstance(found, Template):
            problem = "no template" if found is None else f"not a Template ({type(found).__name__})"
            raise loc.error(f"{problem} named '{name}' in templates=")
        return found._tree

    return load


class Template:
    """A compiled HTML template: call it with keyword parameters to get an iolist."""

    name: str
    parameters: tuple[str, ...]

    def __init__(
        self,
        text: str,
        *,
        name: str = "<string>",
        formatters: Optional[Mapping[str, Formatter]] = None,
        templates: Optional[TemplateSource] = None,
        globals: Optional[Mapping[str, object]] = None,
    ) -> None:
        if not isinstance(text, str):
            raise TypeError(f"template text must be str, got {type(text).__name__}")
        from kali.template_compiler import Source, build_tree
        scope, load = _Formatters(formatters, globals), _loader_for(templates)
        self._setup(name, build_tree(Source(name, text), scope.get, load), scope, load)

    def _setup(self, name: str, tree: Tree, formatters: _Formatters, load: Optional[Loader]) -> None:
        from kali.template_compiler import compile_tree
        self.name = name
        self._tree = tree
        self._formatters = formatters
        self._load = load
        self._compiled = compile_tree(tree, name, escape, _lookup, formatters.names)
        self._render = self._compiled.render
        self.parameters = self._compiled.parameters

    @classmethod
    def _from_tree(cls, name: str, tree: Tree, formatters: _Formatters, load: Optional[Loader]) -> Template:
        template = object.__new__(Template)
        template._setup(name, tree, formatters, load)
        return template

    def __call__(self, /, **params: object) -> list[Any]:
        """Render with these parameters into an iolist."""
        try:
            return self._render(params)
        except Exception as exc:
            error = self._compiled.explain(exc)
            if error is None:
                raise
            raise error from exc

    def extend(self, **fills: Union[str, Template]) -> Template:
        """A new template: this one with the named slots filled (text may use ``<!--{super}-->``)."""
        from kali.template_compiler import Source, fill_slots, parse
        trees: dict[str, tuple[Tree, Optional[Location]]] = {}
        for slot, fill in fills.items():
            if isinstance(fill, Template):
                trees[slot] = (fill._tree, None)
            elif isinstance(fill, str):
                source = Source(f"{self.name} [slot {slot}]", fill)
                trees[slot] = (parse(source, self._formatters.get, self._load, in_fill=True).tree, None)
            else:
                raise TypeError(f"slot {slot!r}: expected str or Template, got {type(fill).__name__}")
        tree = fill_slots(self._tree, trees, self.name)
        return Template._from_tree(f"{self.name} (extended)", tree, self._formatters, self._load)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class TemplateLoop(Template):
    """A list section built in Python: a preamble, a body per item, an epilogue, or otherwise when empty.

    ``TemplateLoop(body='<li>{row.name}</li>', preamble='<ul>', epilogue='</ul>',
    otherwise='<p>None.</p>')(rows=rows)``: the body sees the current item as
    ``item`` (default ``row``); the sequence is the parameter ``items``
    (default ``rows``); every other parameter is visible in every part.
    """

    def __init__(
        self,
        body: Union[str, Template],
        *,
        preamble: Union[str, Template] = "",
        epilogue: Union[str, Template] = "",
        otherwise: Union[str, Template] = "",
        item: str = "row",
        items: str = "rows",
        name: str = "<loop>",
        formatters: Optional[Mapping[str, Formatter]] = None,
        templates: Optional[TemplateSource] = None,
        globals: Optional[Mapping[str, object]] = None,
    ) -> None:
        for label, value in (("item", item), ("items", items)):
            if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
                raise ValueError(f"TemplateLoop {label}= must be an identifier, got {value!r}")
        from kali.template_compiler import Location, Loop, Source, build_tree
        scope, load = _Formatters(formatters, globals), _loader_for(templates)

        def part(label: str, value: Union[str, Template]) -> Tree:
            if isinstance(value, Template):
                return value._tree
            if not isinstance(value, str):
                raise TypeError(f"TemplateLoop {label}: expected str or Template, got {type(value).__name__}")
            return build_tree(Source(f"{name} [{label}]", value), scope.get, load)

        header = Source(name, f"<!--{{for {item} in {items}}}-->")
        loop = Loop(
            item,
            (items,),
            Location(header, 0),
            part("preamble", preamble),
            part("body", body),
            part("epilogue", epilogue),
            part("otherwise", otherwise),
        )
        self._setup(name, (loop,), scope, load)


# ---------------------------------------------------------------- folders

Stamp = tuple[int, int, int]

#: Called with the path of every template file a TemplateFolder reads (None: nobody asks).
#: The `run --reload` app process sets it, so its supervisor watches the templates the app uses.
on_template_file: Optional[Callable[[Path], None]] = None


def _stamp(path: Path) -> Stamp:
    # Size and inode as well as mtime: editors that save by renaming, or two
    # writes within one clock tick, still count as a change.
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _unchanged(stamps: tuple[tuple[Path, Stamp], ...]) -> bool:
    for path, stamp in stamps:
        try:
            if _stamp(path) != stamp:
                return False
        except OSError:
            return False
    return True


class TemplateFolder:
    """A folder of ``name.tpl`` files: loaded on demand, cached parsed, re-parsed when a file changes.

    ``folder['page']`` is the Template in ``page.tpl`` (``folder['admin/users']``
    for a subfolder); ``folder('page', **params)`` renders it. Each use costs one
    ``stat`` per file involved (the template and whatever it extends or
    includes); a changed file is re-parsed, along with the templates built on it.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        suffix: str = ".tpl",
        formatters: Optional[Mapping[str, Formatter]] = None,
        auto_reload: bool = True,
        globals: Optional[Mapping[str, object]] = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise NotADirectoryError(f"template folder {str(self.path)!r} is not a directory")
        self.suffix = suffix
        self.auto_reload = auto_reload
        self._formatters = _Formatters(formatters, globals)
        self._cache: dict[str, tuple[Template, tuple[tuple[Path, Stamp], ...]]] = {}
        self._loading: list[str] = []  # names being loaded right now, to report cycles

    def __getitem__(self, name: str) -> Template:
        """The template ``name`` (file ``name.tpl``), re-parsed first if its files changed."""
        return self._get(name, None)[0]

    def __call__(self, name: str, /, **params: object) -> list[Any]:
        """Render the template ``name`` with these parameters."""
        return self._get(name, None)[0](**params)

    def register_formatter(self, name: str, func: Formatter) -> None:
        """Make ``{value:name}`` available to this folder's templates (they are re-parsed)."""
        self._formatters.add(name, func)
        self._cache.clear()

    def __repr__(self) -> str:
        return f"<TemplateFolder {str(self.path)!r}>"

    def _error(self, message: str, loc: Optional[Location], file: Optional[str] = None) -> TemplateError:
        return loc.error(message) if loc is not None else TemplateError(message, file)

    def _file(self, name: str, loc: Optional[Location]) -> Path:
        parts = name.split("/") if isinstance(name, str) else []
        if (
            not parts
            or any(part in ("", ".", "..") for part in parts)
            or "\\" in name
            or "\0" in name
            or ":" in name
        ):
            raise self._error(
                f"bad template name {name!r}: use a relative name inside {str(self.path)!r}, "
                "like 'page' or 'admin/users' (no '..', no leading '/')",
                loc,
            )
        return self.path.joinpath(*parts[:-1], parts[-1] + self.suffix)

    def _get(self, name: str, loc: Optional[Location]) -> tuple[Template, tuple[tuple[Path, Stamp], ...]]:
        entry = self._cache.get(name)
        if entry is not None and (not self.auto_reload or _unchanged(entry[1])):
            return entry
        path = self._file(name, loc)
        if name in self._loading:
            chain = " -> ".join(self._loading[self._loading.index(name) :] + [name])
            raise self._error(f"templates extend or include each other in a cycle: {chain}", loc, str(path))
        try:
            stamp = _stamp(path)  # before reading: a write in between shows up next time
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise self._error(f"no template '{name}' (no file {str(path)!r})", loc) from None
        except UnicodeDecodeError as exc:
            raise TemplateError(f"not valid UTF-8: {exc}", str(path)) from None
        except OSError as exc:
            raise self._error(f"cannot read template '{name}': {exc}", loc) from None

        stamps = [(path, stamp)]
        if on_template_file is not None:
            on_template_file(path)

        def load(dependency: str, where: Location) -> Tree:
            template, dependency_stamps = self._get(dependency, where)
            stamps.extend(dependency_stamps)
            return template._tree

        from kali.template_compiler import Source, build_tree
        self._loading.append(name)
        try:
            tree = build_tree(Source(str(path), text), self._formatters.get, load)
        finally:
            self._loading.pop()
        later = lambda dependency, where: self._get(dependency, where)[0]._tree  # noqa: E731 - for extend()
        entry = (Template._from_tree(str(path), tree, self._formatters, later), tuple(dict.fromkeys(stamps)))
        self._cache[name] = entry
        return entry
