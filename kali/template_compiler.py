"""Turn template text into a Python render function: lexing, parsing, slot filling, code generation.

This is the machinery behind :mod:`kali.templates`; the language itself is
documented there. Nothing here is public API except the two error classes
(from :mod:`kali.template_errors`), which ``kali.templates`` re-exports.
``kali.templates`` imports this module when the first template is compiled.

The pipeline is ``text -> tokens -> tree -> (slots filled) -> Python source ->
function``. The tree is made of a handful of frozen node classes; templates
that extend or include others are resolved into one tree at load time, so a
render is a single call of one generated function with no template-to-template
dispatch. Every generated line that can fail is mapped back to the template
node it came from, which is how runtime errors name the file and line.
"""

from __future__ import annotations

import bisect
import re
from types import CodeType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Union, cast

if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    # The same classes at a fraction of the import-time cost (no exec per class, no inspect).
    from ._records import dataclass, field

from .template_errors import TemplateError, TemplateRuntimeError

# The module docstring says it: only the two error classes are public (defined in
# kali.template_errors, re-exported by kali.templates).
__all__ = ["TemplateError", "TemplateRuntimeError"]


# ---------------------------------------------------------------- locations


class Source:
    """Template text plus its name, able to turn an offset into a line and column."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._line_starts: Optional[list[int]] = None

    def position(self, offset: int) -> tuple[int, int, str]:
        """1-based line, 1-based column and the text of that line."""
        if self._line_starts is None:
            # Only computed when a location is actually reported.
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        index = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[index]
        end = self.text.find("\n", start)
        line_text = self.text[start : len(self.text) if end < 0 else end].rstrip("\r")
        return index + 1, offset - start + 1, line_text


@dataclass(frozen=True, slots=True)
class Location:
    """A point in a template's text, for error messages."""

    source: Source
    offset: int

    def error(self, message: str) -> TemplateError:
        """A load-time error pointing at this location."""
        line, col, text = self.source.position(self.offset)
        return TemplateError(message, self.source.name, line, col, text)

    def runtime_error(self, message: str, parameter: str) -> TemplateRuntimeError:
        """A render-time error pointing at this location."""
        line, col, text = self.source.position(self.offset)
        return TemplateRuntimeError(message, parameter, self.source.name, line, col, text)


# ---------------------------------------------------------------- tree nodes

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Text:
    """Literal output."""

    text: str
    loc: Optional[Location] = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Value:
    """A placeholder: ``{path}``, ``{.path}``, ``{path:fmt}``."""

    path: Path
    raw: bool
    formatter: Optional[str]
    format_func: Optional[Callable[[object], object]] = field(compare=False)
    loc: Location = field(compare=False)

    @property
    def token(self) -> str:
        """The placeholder as written, for messages."""
        fmt = f":{self.formatter}" if self.formatter else ""
        return "{" + ("." if self.raw else "") + ".".join(self.path) + fmt + "}"


@dataclass(frozen=True, slots=True)
class Loop:
    """``for var in path``: preamble, body per item, epilogue, otherwise when empty."""

    var: str
    path: Path
    loc: Location = field(compare=False)
    preamble: Tree = ()
    body: Tree = ()
    epilogue: Tree = ()
    otherwise: Tree = ()


@dataclass(frozen=True, slots=True)
class If:
    """``if path`` / ``if not path`` with an optional otherwise part."""

    path: Path
    negate: bool
    loc: Location = field(compare=False)
    then: Tree = ()
    otherwise: Tree = ()


@dataclass(frozen=True, slots=True)
class Slot:
    """A named, replaceable part of a page; renders its body unless an extending template fills it."""

    name: str
    loc: Location = field(compare=False)
    body: Tree = ()


@dataclass(frozen=True, slots=True)
class Super:
    """Inside a slot fill: the content the slot had before this fill."""

    loc: Location = field(compare=False)


Node = Union[Text, Value, Loop, If, Slot, Super]
Tree = tuple[Node, ...]

# A loader gives the tree of another template by name; it raises TemplateError
# (pointing at the directive's location) when the name is bad, missing or cyclic.
Loader = Callable[[str, Location], Tree]
FormatterLookup = Callable[[str], Optional[Callable[[object], object]]]


def map_children(node: Node, fn: Callable[[Tree], Tree]) -> Node:
    """The same node with ``fn`` applied to each of its child sequences."""
    if isinstance(node, Loop):
        return Loop(node.var, node.path, node.loc, fn(node.preamble), fn(node.body), fn(node.epilogue), fn(node.otherwise))
    if isinstance(node, If):
        return If(node.path, node.negate, node.loc, fn(node.then), fn(node.otherwise))
    if isinstance(node, Slot):
        return Slot(node.name, node.loc, fn(node.body))
    return node


def child_trees(node: Node) -> tuple[Tree, ...]:
    """The node's child sequences, if any."""
    if isinstance(node, Loop):
        return (node.preamble, node.body, node.epilogue, node.otherwise)
    if isinstance(node, If):
        return (node.then, node.otherwise)
    if isinstance(node, Slot):
        return (node.body,)
    return ()


def slot_names(tree: Tree) -> set[str]:
    """Every slot name defined anywhere in a tree."""
    names: set[str] = set()
    for node in tree:
        if isinstance(node, Slot):
            names.add(node.name)
        for child in child_trees(node):
            names |= slot_names(child)
    return names


# ---------------------------------------------------------------- lexer

_NAME = r"[^\W\d]\w*"
_PATH = rf"{_NAME}(?:\.\w+)*"
_PLACEHOLDER = re.compile(rf"\{{(\.?)({_PATH})(?::({_NAME}))?\}}")
# A '{' followed by one of these was meant as a placeholder; anything else is literal text.
_LOOKS_LIKE_PLACEHOLDER = re.compile(rf"\.?{_NAME}")
_OPENER = re.compile(r"<!--\{|\{")
_NAME_RE = re.compile(_NAME)
_PATH_RE = re.compile(_PATH)
_TEMPLATE_NAME_RE = re.compile(r"\S+")  # the folder or mapping checks the name itself


@dataclass(frozen=True, slots=True)
class Directive:
    """A ``<!--{...}-->`` section marker, split into words."""

    words: tuple[str, ...]
    loc: Location


Token = Union[Text, Value, Directive]


def lex(source: Source, formatters: FormatterLookup) -> list[Token]:
    """Split template text into literal text, placeholders and directives."""
    text = source.text
    tokens: list[Token] = []
    pending: list[str] = []  # literal pieces not yet emitted, so '{{' does not split text tokens
    pending_start = pos = 0

    def flush(upto: int) -> None:
        nonlocal pending_start
        pending.append(text[pos:upto])
        literal = "".join(pending)
        pending.clear()
        if literal:
            # Point at the first visible character: that is what an error about stray text is about.
            visible = pending_start + len(literal) - len(literal.lstrip())
            tokens.append(Text(literal, Location(source, visible)))
        pending_start = upto

    while True:
        match = _OPENER.search(text, pos)
        if match is None:
            flush(len(text))
            return tokens
        start = match.start()
        if match.group() == "{":
            if text.startswith("{", start + 1):
                pending.append(text[pos : start + 1])
                pos = start + 2
                continue
            placeholder = _PLACEHOLDER.match(text, start)
            if placeholder is not None:
                flush(start)
                tokens.append(_make_value(placeholder, Location(source, start), formatters))
                pos = pending_start = placeholder.end()
                continue
            if _LOOKS_LIKE_PLACEHOLDER.match(text, start + 1):
                raise _bad_placeholder(source, start)
            # '{' before a space, quote, digit, brace...: CSS and JavaScript, kept as is.
            pending.append(text[pos : start + 1])
            pos = start + 1
            continue

        loc = Location(source, start)
        end = text.find("}-->", start + 5)
        newline = text.find("\n", start)
        if end < 0 or (0 <= newline < end):
            raise loc.error("unclosed directive: '<!--{' needs '}-->' on the same line")
        words = tuple(text[start + 5 : end].split())
        stop = end + 4
        # A directive alone on its line takes the whole line with it, so that
        # sections laid out one per line leave no blank lines in the output.
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", stop)
        line_end = len(text) if line_end < 0 else line_end + 1
        if line_start >= pos and not text[line_start:start].strip(" \t") and not text[stop:line_end].strip(" \t\r\n"):
            start, stop = line_start, line_end
        flush(start)
        tokens.append(Directive(words, loc))
        pos = pending_start = stop


def _make_value(match: re.Match[str], loc: Location, formatters: FormatterLookup) -> Value:
    raw, path, formatter = match.group(1), match.group(2), match.group(3)
    func = None
    if formatter is not None:
        func = formatters(formatter)
        if func is None:
            raise loc.error(f"unknown formatter '{formatter}' in {match.group()}")
    return Value(tuple(path.split(".")), bool(raw), formatter, func, loc)


def _bad_placeholder(source: Source, start: int) -> TemplateError:
    text = source.text
    loc = Location(source, start)
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    close = text.find("}", start, line_end)
    if close < 0:
        return loc.error("unclosed '{' (write '{{' for a literal '{')")
    if text[:start].rstrip().endswith("<!--"):
        return loc.error(f"bad placeholder {text[start:close + 1]!r}: section markers are written <!--{{...}}--> with no spaces")
    return loc.error(
        f"bad placeholder {text[start:close + 1]!r}: expected {{name}}, {{.name}}, {{name.attr}} "
        "or {name:formatter} (write '{{' for a literal '{')"
    )


# ---------------------------------------------------------------- parser

_SECTION_ORDER = {"for": ("start", "each", "after", "otherwise"), "if": ("start", "otherwise")}
_KNOWN = "extends, include, slot, super, for, each, after, otherwise, if, end"


@dataclass
class _Open:
    """A section being parsed: which kind, where it opened, and the parts collected so far."""

    kind: str  # 'root', 'extending', 'fill', 'slot', 'for', 'if'
    directive: Optional[Directive]  # None only for 'root'
    parts: dict[str, list[Node]] = field(default_factory=lambda: {"start": []})
    current: str = "start"

    @property
    def target(self) -> list[Node]:
        return self.parts[self.current]

    @property
    def opener(self) -> Directive:
        """The directive that opened this section."""
        assert self.directive is not None, "the root frame is never closed"
        return self.directive


@dataclass
class Parsed:
    """A parsed template: a tree, or (for an extending template) a base name and slot fills."""

    tree: Tree
    extends: Optional[tuple[str, Location]] = None
    fills: dict[str, tuple[Tree, Location]] = field(default_factory=dict)


def parse(source: Source, formatters: FormatterLookup, load: Optional[Loader], in_fill: bool = False) -> Parsed:
    """Parse template text; ``in_fill`` allows ``super`` at top level (text given for one slot)."""
    tokens = lex(source, formatters)
    parsed = Parsed(())
    first = next((t for t in tokens if not (isinstance(t, Text) and not t.text.strip())), None)
    if isinstance(first, Directive) and first.words[:1] == ("extends",):
        if in_fill:
            raise first.loc.error("'extends' cannot be used inside a slot")
        name = _template_name(first)
        parsed.extends = (name, first.loc)
        tokens = tokens[tokens.index(first) + 1 :]
        stack = [_Open("extending", first)]
    else:
        stack = [_Open("root", None)]

    for token in tokens:
        top = stack[-1]
        if top.kind == "extending":
            if isinstance(token, Text) and not token.text.strip():
                continue
            if isinstance(token, Directive) and token.words[:1] == ("slot",):
                name = _slot_name(token)
                if name in parsed.fills:
                    raise token.loc.error(f"slot '{name}' is filled twice")
                stack.append(_Open("fill", token))
                continue
            # Lexed text always has a location; fall back to the 'extends' line just in case.
            raise (token.loc or top.opener.loc).error(
                "a template that extends another may only contain slot fills "
                "(<!--{slot name}-->...<!--{end}-->) after its 'extends' line"
            )
        if not isinstance(token, Directive):
            top.target.append(token)
            continue
        kind = token.words[0] if token.words else ""
        if kind == "end":
            _expect_words(token, 1)
            if top.kind in ("root", "extending"):
                raise token.loc.error("'end' without an open section")
            stack.pop()
            if top.kind == "fill":
                parsed.fills[_slot_name(top.opener)] = (tuple(top.parts["start"]), top.opener.loc)
            else:
                stack[-1].target.append(_close(top))
        elif kind in ("for", "if", "slot"):
            if kind == "for":
                _for_parts(token)
            elif kind == "if":
                _if_parts(token)
            else:
                _slot_name(token)
            stack.append(_Open(kind, token))
        elif kind in ("each", "after", "otherwise"):
            _expect_words(token, 1)
            order = _SECTION_ORDER.get(top.kind)
            if order is None or kind not in order:
                opened = "'for'" if kind != "otherwise" else "'for' or 'if'"
                raise token.loc.error(f"'{kind}' outside a {opened} section")
            if kind in top.parts:
                raise token.loc.error(f"'{kind}' appears twice in one '{top.kind}' section")
            if order.index(kind) < order.index(top.current):
                raise token.loc.error(f"'{kind}' must come before '{top.current}' (order: {', '.join(order[1:])})")
            top.parts[kind] = []
            top.current = kind
        elif kind == "super":
            _expect_words(token, 1)
            if not (in_fill or any(frame.kind == "fill" for frame in stack)):
                raise token.loc.error("'super' outside a slot fill of an extending template")
            top.target.append(Super(token.loc))
        elif kind == "include":
            name = _template_name(token)
            if load is None:
                raise token.loc.error(f"cannot include '{name}': this template has no folder or templates= to look in")
            top.target.extend(load(name, token.loc))
        elif kind == "extends":
            raise token.loc.error("'extends' must be the first thing in a template")
        else:
            raise token.loc.error(f"unknown directive {' '.join(token.words)!r} (known: {_KNOWN})")

    if len(stack) > 1:
        raise _unclosed(tokens, stack[0].kind == "extending", in_fill, stack[-1].opener)
    if parsed.extends is None:
        parsed.tree = tuple(stack[0].parts["start"])
    return parsed


def _unclosed(tokens: list[Token], extending: bool, in_fill: bool, innermost: Directive) -> TemplateError:
    """The error for a section left open: at the section most likely missing its ``end``.

    Each ``end`` closes the innermost open section, so when one ``end`` is missing
    the section left open at the end of the text is often an outer one (a ``slot``
    whose last ``end`` went to an ``if`` inside it). Any section opened inside it
    could be the culprit instead, if the text still nests with that section's
    ``end`` supposed just before the ``end`` that closed it. Among the candidates,
    the one whose ``end``s then line up best with their openers (same line, same
    indentation) wins, then an ``if`` or ``for`` over a ``slot``, then the innermost.
    """
    as_parsed = _pairs(tokens, extending, in_fill, None)
    if as_parsed is None:  # not expected (the parser accepted this nesting): the parser's own answer
        return innermost.loc.error(f"unclosed '{innermost.words[0]}': add <!--{{end}}-->")
    candidates = [(as_parsed, innermost)]
    for opener, end in as_parsed:
        if opener.loc.offset > innermost.loc.offset:
            pairs = _pairs(tokens, extending, in_fill, (opener, end))
            if pairs is not None:
                candidates.append((pairs, opener))
    ranked = sorted(
        ((sum(_alignment(*pair) for pair in pairs), opener.words[0] != "slot", opener.loc.offset, opener)
         for pairs, opener in candidates),
        key=lambda entry: entry[:3], reverse=True)
    fit, _, _, culprit = ranked[0]
    message = f"unclosed '{culprit.words[0]}': add <!--{{end}}-->"
    tied = [entry[3] for entry in ranked[1:] if entry[0] == fit]
    if tied:  # the layout does not tell them apart: name the other reading too
        other = innermost if innermost in tied else tied[0]
        line = other.loc.source.position(other.loc.offset)[0]
        message += f" (or, if it is closed, the '{other.words[0]}' on line {line} is not)"
    return culprit.loc.error(message)


def _pairs(tokens: list[Token], extending: bool, in_fill: bool,
           unclosed: Optional[tuple[Directive, Directive]]) -> Optional[list[tuple[Directive, Directive]]]:
    """Each (opener, end) pair of a template left with one section open.

    With ``unclosed=(opener, end)``: as if that opener had no ``end`` of its own and
    its section stopped just before ``end`` (which then closes the next one out);
    None if the text does not nest that way.
    """
    stack: list[tuple[str, Optional[Directive], str]] = [("extending" if extending else "root", None, "start")]
    pairs: list[tuple[Directive, Directive]] = []
    for token in tokens:
        if unclosed is not None and token is unclosed[1]:
            if stack[-1][1] is not unclosed[0]:
                return None
            stack.pop()
        kind, opener, part = stack[-1]
        if not isinstance(token, Directive):
            if kind == "extending" and (isinstance(token, Value) or token.text.strip()):
                return None
            continue
        word = token.words[0] if token.words else ""
        if kind == "extending" and word != "slot":
            return None
        if word == "end":
            if opener is None:
                return None
            stack.pop()
            pairs.append((opener, token))
        elif word in ("for", "if", "slot"):
            stack.append(("fill" if kind == "extending" else word, token, "start"))
        elif word in ("each", "after", "otherwise"):
            order = _SECTION_ORDER.get(kind)
            if order is None or word not in order or order.index(word) <= order.index(part):
                return None
            stack[-1] = (kind, opener, word)
        elif word == "super" and not (in_fill or any(frame[0] == "fill" for frame in stack)):
            return None
    return pairs if unclosed is None or len(stack) == 1 else None


def _alignment(opener: Directive, end: Directive) -> int:
    """How well an ``end`` lines up with the section it closes: 1 same line or indentation, -1 another indentation."""
    open_line, open_col, open_text = opener.loc.source.position(opener.loc.offset)
    end_line, end_col, end_text = end.loc.source.position(end.loc.offset)
    if open_line == end_line:
        return 1
    open_indent, end_indent = open_text[: open_col - 1], end_text[: end_col - 1]
    if open_indent.strip() or end_indent.strip():  # not alone at the start of its line: no evidence
        return 0
    return 1 if open_indent == end_indent else -1


def _close(frame: _Open) -> Node:
    parts = {key: tuple(nodes) for key, nodes in frame.parts.items()}
    loc = frame.opener.loc
    if frame.kind == "for":
        var, path = _for_parts(frame.opener)
        if "each" in parts:
            preamble, body = parts["start"], parts["each"]
        else:
            preamble, body = (), parts["start"]
        return Loop(var, path, loc, preamble, body, parts.get("after", ()), parts.get("otherwise", ()))
    if frame.kind == "if":
        path, negate = _if_parts(frame.opener)
        return If(path, negate, loc, parts["start"], parts.get("otherwise", ()))
    return Slot(_slot_name(frame.opener), loc, parts["start"])


def _malformed(token: Directive, usage: str) -> TemplateError:
    return token.loc.error(f"malformed directive {' '.join(token.words)!r}: expected <!--{{{usage}}}-->")


def _expect_words(token: Directive, count: int) -> None:
    if len(token.words) != count:
        raise _malformed(token, token.words[0])


def _for_parts(token: Directive) -> tuple[str, Path]:
    words = token.words
    if len(words) != 4 or words[2] != "in" or not _NAME_RE.fullmatch(words[1]) or not _PATH_RE.fullmatch(words[3]):
        raise _malformed(token, "for item in sequence")
    return words[1], tuple(words[3].split("."))


def _if_parts(token: Directive) -> tuple[Path, bool]:
    words = token.words
    negate = len(words) == 3 and words[1] == "not"
    if len(words) != 2 + negate or not _PATH_RE.fullmatch(words[-1]):
        raise _malformed(token, "if name")
    return tuple(words[-1].split(".")), negate


def _slot_name(token: Directive) -> str:
    if len(token.words) != 2 or not _NAME_RE.fullmatch(token.words[1]):
        raise _malformed(token, "slot name")
    return token.words[1]


def _template_name(token: Directive) -> str:
    if len(token.words) != 2 or not _TEMPLATE_NAME_RE.fullmatch(token.words[1]):
        raise _malformed(token, f"{token.words[0]} template_name")
    return token.words[1]


# ---------------------------------------------------------------- extension


def build_tree(source: Source, formatters: FormatterLookup, load: Optional[Loader]) -> Tree:
    """Parse a template and, if it extends another, fill the base's slots with its fills."""
    parsed = parse(source, formatters, load)
    if parsed.extends is None:
        return parsed.tree
    name, loc = parsed.extends
    if load is None:
        raise loc.error(f"cannot extend '{name}': this template has no folder or templates= to look in")
    base = load(name, loc)
    return fill_slots(base, parsed.fills, name)


def fill_slots(base: Tree, fills: Mapping[str, tuple[Tree, Optional[Location]]], base_name: str) -> Tree:
    """The base tree with each named slot's content replaced by a fill (``super`` = the old content)."""
    available = slot_names(base)
    for name, (_, loc) in fills.items():
        if name not in available:
            known = ", ".join(sorted(available)) or "none"
            message = f"'{base_name}' has no slot '{name}' (its slots: {known})"
            raise loc.error(message) if loc is not None else TemplateError(message, base_name)
    return _fill(base, {name: nodes for name, (nodes, _) in fills.items()})


def _fill(tree: Tree, fills: dict[str, Tree]) -> Tree:
    out: list[Node] = []
    for node in tree:
        if isinstance(node, Slot) and node.name in fills:
            # The slot stays a slot (so a deeper extension can fill it again);
            # slots defined inside the fill are the fill's own, left alone.
            out.append(Slot(node.name, node.loc, _replace_super(fills[node.name], node.body)))
        else:
            out.append(map_children(node, lambda child: _fill(child, fills)))
    return tuple(out)


def _replace_super(tree: Tree, previous: Tree) -> Tree:
    out: list[Node] = []
    for node in tree:
        if isinstance(node, Super):
            out.extend(previous)
        else:
            out.append(map_children(node, lambda child: _replace_super(child, previous)))
    return tuple(out)


# ---------------------------------------------------------------- code generation


@dataclass(frozen=True, slots=True)
class _Param:
    """A template parameter and where it is first used."""

    name: str
    loc: Location


@dataclass(frozen=True, slots=True)
class _Origin:
    """What a generated line does, so an exception raised there can be explained."""

    role: str  # 'param', 'lookup', 'format', 'loop', 'if'
    node: Union[_Param, Value, Loop, If]
    head: str = ""  # the local holding the path's first name, to retrace a failed lookup


class CompiledTemplate:
    """A render function plus what is needed to explain its failures."""

    def __init__(self, render: Callable[[dict[str, Any]], list[Any]], code: CodeType, origins: dict[int, _Origin], parameters: tuple[str, ...], source: str, lookup: Callable[[object, str], object]) -> None:
        self.render = render
        self.lookup = lookup
        self.code = code
        self.origins = origins
        self.parameters = parameters
        self.python_source = source

    def explain(self, exc: BaseException) -> Optional[TemplateRuntimeError]:
        """A TemplateRuntimeError naming the placeholder, file and line where ``exc`` was raised, if it was ours."""
        lineno = None
        frame = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is self.code:
                lineno, frame = tb.tb_lineno, tb.tb_frame
            tb = tb.tb_next
        origin = self.origins.get(lineno) if lineno is not None else None
        if origin is None or frame is None:
            return None
        why = f"{type(exc).__name__}: {exc}"
        node = origin.node
        # Suggestions cost nothing on the happy path: they are worked out here, after the failure.
        if isinstance(node, _Param):
            passed = frame.f_locals.get("P")
            meant = _closest_name(node.name, [k for k in passed if isinstance(k, str)] if isinstance(passed, dict) else [])
            advice = f"pass {node.name}=None to render nothing"
            if meant is not None:
                return node.loc.runtime_error(f"missing parameter '{node.name}' — did you mean '{meant}'? (or {advice})", node.name)
            return node.loc.runtime_error(f"missing parameter '{node.name}' ({advice})", node.name)
        dotted = ".".join(node.path)
        hint = ""
        if origin.role != "format" and isinstance(exc, (LookupError, AttributeError)):
            hint = self._lookup_hint(frame.f_locals, origin, node)
        if isinstance(node, Value):
            if origin.role == "format":
                message = f"formatter '{node.formatter}' failed on {node.token}: {why}"
            else:
                message = f"cannot look up {node.token}: {why}{hint}"
        elif isinstance(node, Loop):
            message = f"cannot loop over '{dotted}': {why}{hint}"
        else:
            message = f"cannot test '{dotted}': {why}{hint}"
        return node.loc.runtime_error(message, dotted)

    def _lookup_hint(self, local_values: Mapping[str, Any], origin: _Origin, node: Union[Value, Loop, If]) -> str:
        """' — did you mean ...?' for the step of ``node.path`` that failed, retraced from the render's locals."""
        if origin.head not in local_values:
            return ""
        subject = local_values[origin.head]
        path = node.path
        # A condition's last step cannot fail (absent reads as false): only the steps before it can.
        last = len(path) - 1 if isinstance(node, If) else len(path)
        for index in range(1, last):
            part = path[index]
            if subject is None:
                return ""
            try:
                if part.isdigit():
                    subject = subject[int(part)]
                elif type(subject) is dict:
                    subject = subject[part]
                else:
                    subject = self.lookup(subject, part)
            except LookupError:
                candidates = [] if part.isdigit() else _names_of(subject)
                meant = _closest_name(part, candidates)
                if meant is not None:
                    fixed = ".".join(path[:index] + (meant,) + path[index + 1 :])
                    if isinstance(node, Value):
                        fmt = f":{node.formatter}" if node.formatter else ""
                        return f" — did you mean {{{'.' if node.raw else ''}{fixed}{fmt}}}?"
                    return f" — did you mean '{fixed}'?"
                if candidates and len(candidates) <= 12:
                    return f" ('{'.'.join(path[:index])}' has {', '.join(candidates)})"
                return ""
            except Exception:  # a property that raises: not a misspelling
                return ""
        return ""


def _names_of(subject: object) -> list[str]:
    """What a template could look up on ``subject``: a mapping's (or Row's) keys, else its public attributes."""
    try:
        if hasattr(type(subject), "keys") and hasattr(type(subject), "__getitem__"):
            return [key for key in subject.keys() if isinstance(key, str)]  # type: ignore[attr-defined]
        return [name for name in dir(subject) if not name.startswith("_")]
    except Exception:  # an odd object that cannot list itself gets no suggestion
        return []


def _closest_name(word: str, candidates: list[str]) -> Optional[str]:
    """The candidate a misspelt ``word`` most likely stands for, if one is close enough."""
    folded = word.casefold()
    for name in candidates:
        if name.casefold() == folded:
            return name
    import difflib  # only needed once something has failed

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


class _CodeWriter:
    """Accumulates the body of the render function and the origin of each line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: dict[int, _Origin] = {}  # index into self.lines
        self.params: dict[str, Location] = {}  # first use of each free name
        self.param_locals: dict[str, str] = {}
        self.constants: dict[str, object] = {}
        self.scopes: list[dict[str, str]] = [{}]
        self.counter = 0

    def emit(self, indent: int, text: str, origin: Optional[_Origin] = None) -> None:
        if origin is not None:
            self.origins[len(self.lines)] = origin
        self.lines.append("    " * indent + text)

    def fresh(self, prefix: str, name: str = "") -> str:
        self.counter += 1
        # Non-ASCII names are legal identifiers but NFKC-normalised by the
        # compiler, so two distinct names could collide; numbers cannot.
        suffix = f"_{name}" if name.isascii() and name else ""
        return f"{prefix}{self.counter}{suffix}"

    def constant(self, value: object) -> str:
        for name, existing in self.constants.items():
            if existing is value:
                return name
        name = f"F{len(self.constants)}"
        self.constants[name] = value
        return name

    def head(self, name: str, loc: Location) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name not in self.param_locals:
            self.params[name] = loc
            self.param_locals[name] = self.fresh("p", name)
        return self.param_locals[name]

    def path(self, path: Path, loc: Location, *, soft_last: bool = False) -> str:
        """An expression for a dotted path: dict items inline, everything else through ``g``.

        With ``soft_last`` (conditions), a missing last key or attribute reads as None, so
        ``<!--{if errors.email}-->`` works when ``errors`` has no 'email'.
        """
        code = self.head(path[0], loc)
        simple = True  # is ``code`` a plain local, safe to evaluate twice?
        last = len(path) - 1
        for index, part in enumerate(path[1:], 1):
            if not simple:
                temp = self.fresh("t")
                subject, bind = temp, f"({temp} := {code})"
            else:
                subject = bind = code
            if soft_last and index == last:
                code = (f"({subject}.get({part!r}) if type({bind}) is dict else s({subject}, {part!r}))"
                        if not part.isdigit() else f"s({bind}, {part!r})")
            elif part.isdigit():
                code = f"(None if {bind} is None else {subject}[{int(part)}])"
            else:
                # Plain dicts (the common case) are indexed inline; the helper
                # handles Row, other mappings, objects and None.
                code = f"({subject}[{part!r}] if type({bind}) is dict else g({subject}, {part!r}))"
            simple = False
        return code


def compile_tree(tree: Tree, name: str, escape: Callable[[object], str], lookup: Callable[[object, str], object],
                 builtins: Optional[Mapping[str, object]] = None) -> CompiledTemplate:
    """Generate, compile and load the render function for a resolved tree.

    `builtins` are names every render sees without being passed (a passed parameter of the
    same name wins).
    """
    writer = _CodeWriter()
    _write_block(writer, tree, 1)
    builtins = builtins or {}
    seen = {param: writer.constant(builtins[param]) for param in writer.params if param in builtins}
    header = ["def render(P, e=e, g=g, s=s, J=J, type=type, dict=dict{}):", "    out = []", "    a = out.append"]
    constants = "".join(f", {key}={key}" for key in writer.constants)
    header[0] = header[0].format(constants)
    origins: dict[int, _Origin] = {}
    for param, loc in writer.params.items():
        origins[len(header) + 1] = _Origin("param", _Param(param, loc))
        if param in seen:
            header.append(f"    {writer.param_locals[param]} = P[{param!r}] if {param!r} in P else {seen[param]}")
        else:
            header.append(f"    {writer.param_locals[param]} = P[{param!r}]")
    offset = len(header) + 1  # line numbers are 1-based
    for index, origin in writer.origins.items():
        origins[index + offset] = origin
    lines = header + writer.lines + ["    return out"]
    source = "\n".join(lines) + "\n"
    def soft_lookup(obj: object, key: str) -> object:
        # Conditions only: absent reads as false rather than as an error.
        try:
            # A number part indexes by int, as in a placeholder ({row.0} is row[0] for a dict too).
            if key.isdigit() and obj is not None:
                return obj[int(key)]  # type: ignore[index]
            return lookup(obj, key)
        except (LookupError, TypeError):
            return None

    namespace: dict[str, object] = {"e": escape, "g": lookup, "s": soft_lookup, "J": "".join, **writer.constants}
    try:
        code = compile(source, f"<template {name}>", "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        # Only reachable through limits of Python's compiler (e.g. more than
        # 20 nested loops); the generated code is otherwise always valid.
        raise TemplateError(f"template too complex to compile ({type(exc).__name__}: {exc}); nest fewer sections", name) from None
    exec(code, namespace)
    render = cast(Callable[[dict[str, Any]], list[Any]], namespace["render"])
    return CompiledTemplate(render, render.__code__, origins, tuple(writer.params), source, lookup)


def _inline_slots(tree: Tree) -> Iterator[Node]:
    for node in tree:
        if isinstance(node, Slot):
            yield from _inline_slots(node.body)
        else:
            yield node


def _write_block(w: _CodeWriter, tree: Tree, indent: int) -> bool:
    """Write the statements for ``tree``; False when there was nothing to write."""
    start = len(w.lines)
    # One run = consecutive literals and escaped values, written as one joined
    # string: fewer, larger pieces in the iolist, cheaper to encode and send.
    # Each item is a literal str or a list of (code line, origin) pairs.
    run: list[Union[str, list[tuple[str, Optional[_Origin]]]]] = []

    def flush() -> None:
        if not run:
            return
        items = [[(repr(item), None)] if isinstance(item, str) else item for item in run]
        if len(items) == 1 and len(items[0]) == 1:
            code, origin = items[0][0]
            w.emit(indent, f"a({code})", origin)
        else:
            w.emit(indent, "a(J((")
            for item in items:
                for i, (code, origin) in enumerate(item):
                    w.emit(indent + 1, code + ("," if i == len(item) - 1 else ""), origin)
            w.emit(indent, ")))")
        run.clear()

    for node in _inline_slots(tree):
        if isinstance(node, Text):
            if run and isinstance(run[-1], str):
                run[-1] += node.text
            else:
                run.append(node.text)
        elif isinstance(node, Value):
            lookup = w.path(node.path, node.loc)
            head = w.head(node.path[0], node.loc)
            as_lookup, as_format = _Origin("lookup", node, head), _Origin("format", node, head)
            if not node.raw:
                if node.format_func is None:
                    run.append([(f"e({lookup})", as_lookup)])
                else:
                    temp, func = w.fresh("t"), w.constant(node.format_func)
                    # None renders as nothing without bothering the formatter.
                    run.append([(f"('' if ({temp} := {lookup}) is None else", as_lookup), (f" e({func}({temp})))", as_format)])
            else:
                flush()
                temp = w.fresh("t")
                w.emit(indent, f"if ({temp} := {lookup}) is not None:", as_lookup)
                if node.format_func is None:
                    w.emit(indent + 1, f"a({temp})")
                else:
                    w.emit(indent + 1, f"a({w.constant(node.format_func)}({temp}))", as_format)
        elif isinstance(node, Loop):
            flush()
            _write_loop(w, node, indent)
        elif isinstance(node, If):
            flush()
            condition = w.path(node.path, node.loc, soft_last=True)
            w.emit(indent, f"if {'not ' if node.negate else ''}{condition}:", _Origin("if", node, w.head(node.path[0], node.loc)))
            if not _write_block(w, node.then, indent + 1):
                w.emit(indent + 1, "pass")
            if node.otherwise:
                w.emit(indent, "else:")
                if not _write_block(w, node.otherwise, indent + 1):
                    w.emit(indent + 1, "pass")
        else:  # pragma: no cover - Super is always replaced while filling slots
            raise AssertionError(f"unexpected node {node!r}")
    flush()
    return len(w.lines) > start


def _write_loop(w: _CodeWriter, node: Loop, indent: int) -> None:
    sequence, temp = w.path(node.path, node.loc), w.fresh("t")
    needs_flag = bool(node.preamble or node.epilogue or node.otherwise)
    flag = w.fresh("empty")
    if needs_flag:
        w.emit(indent, f"{flag} = True")
    var = w.fresh("v", node.var)
    # None is an empty sequence: an optional list needs no extra 'if'.
    w.emit(indent, f"for {var} in (() if ({temp} := {sequence}) is None else {temp}):", _Origin("loop", node, w.head(node.path[0], node.loc)))
    if node.preamble:
        # The preamble runs once, before the first item: it sees the outer
        # names only, so it is compiled outside the loop variable's scope.
        w.emit(indent + 1, f"if {flag}:")
        w.emit(indent + 2, f"{flag} = False")
        _write_block(w, node.preamble, indent + 2)
    elif needs_flag:
        w.emit(indent + 1, f"{flag} = False")
    w.scopes.append({node.var: var})
    wrote = _write_block(w, node.body, indent + 1)
    w.scopes.pop()
    if not wrote and not needs_flag:
        w.emit(indent + 1, "pass")
    if node.otherwise or node.epilogue:
        w.emit(indent, f"if {flag}:")
        if not _write_block(w, node.otherwise, indent + 1):
            w.emit(indent + 1, "pass")
        if node.epilogue:
            w.emit(indent, "else:")
            _write_block(w, node.epilogue, indent + 1)

