"""`Router`: publish handlers, functions and classes at URL paths with `*` wildcards.

A router is itself a handler (`router(request) -> Response`), so routers nest:
`outer.delegate_folder('/admin/', admin)` gives `admin` every path below
'/admin/', and inside it `request.mount` is '/admin' and `request.app_url(...)`
builds links below it.

Paths live in a prefix tree of segments.  A literal segment is tried before a
`*` (which matches one non-empty segment), an exact route before a folder, and
a deeper folder before a shallower one; when a branch fails the lookup backs up
and tries the next, so '/a/*/c' and '/a/b/*' both work.

Error pages: the 404, 405 and 400 answers made here are ordinary error pages
(`Response.generic`), so the one place an app brands every error page -- its
own, the router's and the server's -- is `kali.response.set_error_page`.
"""

from __future__ import annotations

import copy
import datetime
import sys
import types
from urllib.parse import quote

from .request import Request
from .response import Handler, Response, to_response
from .security import find_cross_site_probe, has_cross_site_mark
from .truth import parse_bool

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")

__all__ = ["Router", "RouteError", "converter_for", "normal_path"]

_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Methods a router answers for a servlet or function without being told.
_IMPLIED = ("HEAD", "OPTIONS")
# Characters left as they are when the segments a folder consumed are re-encoded into `request.mount`.
_MOUNT_SAFE = "-._~!$'()*,:@&=+;"
# How many `__wrapped__` links are followed to find a router inside a wrapper.
_WRAPPER_DEPTH = 16


class RouteError(ValueError):
    """A route could not be registered (bad path, clash, unusable signature); the message names the path."""


# -- converting wildcard and query text ---------------------------------------------------

class _Converter:
    """Turns the text of a wildcard or query value into what a parameter's annotation asks for."""

    __slots__ = ("convert", "describe", "is_list", "optional")

    def __init__(self, convert: Callable[[str], Any] | None, describe: str, *, is_list: bool = False,
                 optional: bool = False) -> None:
        #: None means "keep the text as it is" (str parameters: nothing to do on the hot path).
        self.convert = convert
        self.describe = describe
        self.is_list = is_list
        self.optional = optional


_CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)


def _to_int(text: str) -> int:
    # int() also takes ' 7', '1_000', '+7' and non-ASCII digits: a URL should not.
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    return int(text)


def _to_float(text: str) -> float:
    import math
    if not text or text != text.strip() or "_" in text:
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _to_date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def _to_datetime(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


_SIMPLE: dict[Any, tuple[Callable[[str], Any] | None, str]] = {
    str: (None, "text"),
    int: (_to_int, "a whole number"),
    float: (_to_float, "a number"),
    bool: (parse_bool, "true or false (1/0, yes/no, y/n, on/off)"),
    datetime.date: (_to_date, "a date like 2024-12-31"),
    datetime.datetime: (_to_datetime, "a date and time like 2024-12-31T23:59"),
}


def converter_for(annotation: Any, where: str = "parameter") -> _Converter:
    """The conversion plan for a parameter annotation: str, int, float, bool, date, Optional, list, Literal or any callable."""
    # typing and inspect are not imported for this: they cost start-up time (inspect: ast, dis,
    # tokenize) before the first page.  An annotation made with typing means typing is loaded.
    typing = sys.modules.get("typing")
    inspect = sys.modules.get("inspect")
    if (annotation is _EMPTY or (typing is not None and annotation is typing.Any)
            or (inspect is not None and annotation is inspect.Parameter.empty)):
        return _Converter(None, "text")
    origin, args = _origin_and_args(annotation, typing)
    if (typing is not None and origin is typing.Union) or origin is types.UnionType:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise RouteError(f"{where}: cannot convert text to the union {annotation!r}")
        plan = converter_for(inner[0], where)
        plan.optional = True
        return plan
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise RouteError(f"{where}: use list[X] or tuple[X, ...] for repeated values, not {annotation!r}")
        plan = converter_for(args[0] if args else str, where)
        if plan.is_list:
            raise RouteError(f"{where}: lists of lists cannot come from a URL")
        plan.is_list = True
        return plan
    if typing is not None and origin is typing.Literal:
        choices = args
        table = {str(choice): choice for choice in choices}

        def one_of(text: str) -> Any:
            return table[text]
        return _Converter(one_of, "one of " + ", ".join(repr(str(c)) for c in choices))
    simple = _SIMPLE.get(annotation)
    if simple is not None:
        return _Converter(simple[0], simple[1])
    if isinstance(annotation, str):
        raise RouteError(f"{where}: the annotation {annotation!r} could not be resolved to a type")
    if callable(annotation):
        name = getattr(annotation, "__name__", repr(annotation))
        return _Converter(annotation, f"a valid {name}")
    raise RouteError(f"{where}: the annotation {annotation!r} is not a type or a callable taking a str")


def _origin_and_args(annotation: Any, typing: Any) -> tuple[Any, tuple[Any, ...]]:
    """typing.get_origin and get_args of `annotation`; without typing loaded, of the builtin forms
    (`list[int]`, `int | None`), the only generic annotations that can exist then."""
    if typing is not None:
        return typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, types.UnionType):
        return types.UnionType, annotation.__args__
    if isinstance(annotation, types.GenericAlias):
        return annotation.__origin__, annotation.__args__
    return None, ()


def _convert(plan: _Converter, text: str) -> Any:
    """Convert one value; raises one of _CONVERSION_ERRORS if the text does not fit."""
    convert = plan.convert
    return text if convert is None else convert(text)


# -- call plans: which parameter gets what ------------------------------------------------

_WILD, _REQUEST = 0, 1


class _Empty:
    """The default or annotation of a parameter that has none (inspect.Parameter.empty's part)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<empty>"


_EMPTY = _Empty()

# Parameter kinds, numbered as inspect.Parameter's are (they compare equal to inspect's).
_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD, _VAR_POSITIONAL, _KEYWORD_ONLY, _VAR_KEYWORD = range(5)
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


class _Param:
    """One parameter as routing reads it: what inspect.Parameter says, without importing inspect."""

    __slots__ = ("name", "kind", "default", "annotation")

    def __init__(self, name: str, kind: int, default: Any, annotation: Any) -> None:
        self.name = name
        self.kind = kind
        self.default = default
        self.annotation = annotation


def _parameters(target: Callable[..., Any]) -> list[_Param]:
    """The parameters of `target`, in inspect.signature's order (raises TypeError/ValueError like it).

    A plain function's are read from its code object: most routes are plain functions, and
    importing inspect costs several milliseconds of start-up.  Anything else (a class, a
    method, a partial, a wrapper with __wrapped__ or __signature__) goes to inspect.
    """
    if type(target) is not types.FunctionType or hasattr(target, "__wrapped__") \
            or hasattr(target, "__signature__"):
        import inspect
        return [_Param(p.name, int(p.kind), _EMPTY if p.default is p.empty else p.default,
                       _EMPTY if p.annotation is p.empty else p.annotation)
                for p in inspect.signature(target).parameters.values()]
    code = target.__code__
    names = code.co_varnames
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    annotations = target.__annotations__
    defaults = target.__defaults__ or ()
    keyword_defaults = target.__kwdefaults__ or {}
    first_default = positional - len(defaults)
    params = []
    for i, name in enumerate(names[:positional]):
        kind = _POSITIONAL_ONLY if i < code.co_posonlyargcount else _POSITIONAL_OR_KEYWORD
        default = defaults[i - first_default] if i >= first_default else _EMPTY
        params.append(_Param(name, kind, default, annotations.get(name, _EMPTY)))
    after = positional + keyword_only       # co_varnames: positional, keyword-only, *args, **kwargs
    if code.co_flags & _CO_VARARGS:
        name = names[after]
        params.append(_Param(name, _VAR_POSITIONAL, _EMPTY, annotations.get(name, _EMPTY)))
        after += 1
    for name in names[positional:positional + keyword_only]:
        params.append(_Param(name, _KEYWORD_ONLY, keyword_defaults.get(name, _EMPTY), annotations.get(name, _EMPTY)))
    if code.co_flags & _CO_VARKEYWORDS:
        name = names[after]
        params.append(_Param(name, _VAR_KEYWORD, _EMPTY, annotations.get(name, _EMPTY)))
    return params


class _QueryParam:
    """A keyword parameter filled from the query (or form); when absent, the function's default applies."""

    __slots__ = ("name", "plan", "required", "has_default")

    def __init__(self, name: str, plan: _Converter, has_default: bool) -> None:
        self.name = name
        self.plan = plan
        self.has_default = has_default
        #: Without a default, an absent list is [] and an absent Optional is None; anything else is a 400.
        self.required = not has_default and not plan.is_list and not plan.optional

    def absent(self, kwargs: dict[str, Any]) -> None:
        """Fill in the value of an absent field (the function's own default needs nothing)."""
        if not self.has_default:
            kwargs[self.name] = [] if self.plan.is_list else None


def _is_request_param(param: _Param, annotation: Any) -> bool:
    if param.name == "request":
        return True
    if isinstance(annotation, str):     # unresolved, e.g. a name imported only for type checkers
        return annotation == "Request" or annotation.endswith(".Request")
    return isinstance(annotation, type) and issubclass(annotation, Request)


def _annotation_namespace(target: Any) -> dict[str, Any]:
    function = getattr(target, "__init__") if isinstance(target, type) else target
    if hasattr(function, "__wrapped__"):
        import inspect
        function = inspect.unwrap(function)
    namespace = getattr(function, "__globals__", None)
    if namespace is None:
        import sys
        module = sys.modules.get(getattr(target, "__module__", ""), None)
        namespace = vars(module) if module is not None else {}
    return namespace


def _resolve_annotation(annotation: Any, namespace: dict[str, Any]) -> Any:
    """The object a string annotation (from `from __future__ import annotations`) names, else the string."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)  # noqa: S307 - the application's own annotation text
    except Exception:
        return annotation


class _CallPlan:
    """How to call a function or constructor with a route's wildcards (and, for functions, the query)."""

    __slots__ = ("target", "describe", "leading", "wild_plans", "var_plan", "request_kw", "query",
                 "var_keyword", "simple", "names")

    def __init__(self, target: Callable[..., Any], wildcards: int, path: str, *, take_query: bool) -> None:
        self.target = target
        self.describe = _describe(target)
        where = f"route {path!r} ({self.describe})"
        try:
            # Not eval_str=True: an unresolvable annotation routing never uses (the return type,
            # the request's) must not stop a route from being published.
            params = _parameters(target)
        except (TypeError, ValueError) as exc:
            raise RouteError(f"{where}: cannot read the signature: {exc}") from None
        namespace = _annotation_namespace(target)
        #: What the leading positional arguments are: _WILD (next wildcard) or _REQUEST.
        self.leading: list[int] = []
        self.wild_plans: list[_Converter] = []
        self.var_plan: _Converter | None = None
        self.request_kw: str | None = None
        self.query: list[_QueryParam] = []
        self.var_keyword = False
        left = wildcards
        positional_done = False
        for param in params:
            annotation = _resolve_annotation(param.annotation, namespace)
            pwhere = f"{where}, parameter {param.name!r}"
            kind = param.kind
            if kind == _VAR_POSITIONAL:
                if left:
                    self.var_plan = converter_for(annotation, pwhere)
                    left = 0
                positional_done = True
                continue
            if kind == _VAR_KEYWORD:
                self.var_keyword = take_query
                continue
            if _is_request_param(param, annotation):
                if kind == _KEYWORD_ONLY or (positional_done and kind == _POSITIONAL_OR_KEYWORD):
                    self.request_kw = param.name
                elif positional_done:
                    raise RouteError(f"{pwhere}: a positional-only request parameter must come before "
                                     "the query parameters")
                else:
                    self.leading.append(_REQUEST)
                continue
            if kind != _KEYWORD_ONLY and left and not positional_done:
                plan = converter_for(annotation, pwhere)
                if plan.is_list:
                    raise RouteError(f"{pwhere}: a wildcard is one segment, it cannot be a list")
                self.leading.append(_WILD)
                self.wild_plans.append(plan)
                left -= 1
                continue
            positional_done = True
            required = param.default is _EMPTY
            if kind == _POSITIONAL_ONLY:
                raise RouteError(f"{pwhere}: no wildcard is left for this positional-only parameter "
                                 f"(the path has {wildcards})")
            if not take_query:
                if required:
                    raise RouteError(f"{pwhere}: no wildcard is left for it (the path has {wildcards}) "
                                     "and it has no default")
                continue
            self.query.append(_QueryParam(param.name, converter_for(annotation, pwhere), not required))
        if left:
            raise RouteError(f"{where}: the path has {wildcards} wildcard(s) but only "
                             f"{wildcards - left} parameter(s) to receive them")
        # Fields that **kwargs must not receive: every named parameter (a wildcard's too).
        self.names = frozenset(p.name for p in params if p.kind not in (_VAR_POSITIONAL, _VAR_KEYWORD))
        # Most routes take only text wildcards: call them without building keyword arguments.
        self.simple = (not self.query and not self.var_keyword and self.request_kw is None
                       and self.var_plan is None and _REQUEST not in self.leading
                       and all(p.convert is None for p in self.wild_plans))

    def arguments(self, request: Request, wild: list[str]) -> tuple[list[Any], dict[str, Any]] | Response:
        """The call's arguments, or an error response (404 for a wildcard, 400 for a query value)."""
        args: list[Any] = []
        i = 0
        plans = self.wild_plans
        for slot in self.leading:
            if slot == _REQUEST:
                args.append(request)
                continue
            plan = plans[i]
            text = wild[i]
            i += 1
            if plan.convert is None:
                args.append(text)
                continue
            try:
                args.append(plan.convert(text))
            except _CONVERSION_ERRORS:
                return _not_found(request)
        if self.var_plan is not None:
            for text in wild[i:]:
                try:
                    args.append(_convert(self.var_plan, text))
                except _CONVERSION_ERRORS:
                    return _not_found(request)
        kwargs: dict[str, Any] = {}
        if self.request_kw is not None:
            kwargs[self.request_kw] = request
        if self.query or self.var_keyword:
            problem = self._query_arguments(request, kwargs)
            if problem is not None:
                return problem
        return args, kwargs

    def _query_arguments(self, request: Request, kwargs: dict[str, Any]) -> Response | None:
        bags = [request.GET] if request.query_string else []
        if request.method not in ("GET", "HEAD") and request.content_type in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            bags.insert(0, request.POST)    # a submitted form's fields win over the query string
        where = "query" if len(bags) < 2 and request.method in ("GET", "HEAD") else "form or query"
        for param in self.query:
            plan = param.plan
            name = param.name
            if plan.is_list:
                texts = [item for bag in bags for item in bag.get_list(name)]
                values = []
                for item in texts:
                    if item == "" and plan.convert is not None:
                        continue        # an empty form input in a list of numbers means "none"
                    try:
                        values.append(_convert(plan, item))
                    except _CONVERSION_ERRORS:
                        return _bad_request(f"The {where} parameter {name!r} must be {plan.describe}, "
                                            f"not {item!r}.")
                if texts:
                    kwargs[name] = values
                else:
                    param.absent(kwargs)
                continue
            text: str | None = None
            for bag in bags:
                if name in bag:
                    text = bag[name]
                    break
            if text is None or (text == "" and plan.convert is not None and not param.required):
                if param.required:
                    return _bad_request(f"The {where} parameter {name!r} is missing ({plan.describe}).")
                param.absent(kwargs)
                continue
            try:
                kwargs[name] = _convert(plan, text)
            except _CONVERSION_ERRORS:
                return _bad_request(f"The {where} parameter {name!r} must be {plan.describe}, not {text!r}.")
        if self.var_keyword:
            taken = self.names
            for bag in reversed(bags):
                for key, value in bag.pairs():
                    if key not in taken:
                        kwargs.setdefault(key, value)
        return None


def _describe(target: Any) -> str:
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if name is None:
        return repr(target)
    return f"{module}.{name}" if module and module != "builtins" else name


def _not_found(request: Request) -> Response:
    return Response.generic(404, f"There is nothing at {request.path}.")


def _bad_request(message: str) -> Response:
    return Response.generic(400, message)


# -- routes: what sits at a path -----------------------------------------------------------

class _Route:
    """Something that answers a request once the path has matched; `wild` holds the wildcard texts."""

    __slots__ = ("describe",)
    describe: str

    def __call__(self, request: Request, wild: list[str]) -> Response:
        raise NotImplementedError


class _HandlerRoute(_Route):
    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.describe = _describe(handler)

    def __call__(self, request: Request, wild: list[str]) -> Response:
        return to_response(self.handler(request))


class _FunctionRoute(_Route):
    __slots__ = ("plan", "func")

    def __init__(self, func: Callable[..., Any], plan: _CallPlan) -> None:
        self.func = func
        self.plan = plan
        self.describe = plan.describe

    def __call__(self, request: Request, wild: list[str]) -> Response:
        plan = self.plan
        if plan.simple:
            return to_response(self.func(*wild))
        found = plan.arguments(request, wild)
        if isinstance(found, Response):
            return found
        args, kwargs = found
        return to_response(self.func(*args, **kwargs))


class _MethodRoute(_Route):
    """One `do_*` method of a servlet or service class, called on a new instance per request."""

    __slots__ = ("plan", "cls", "attribute")

    def __init__(self, cls: type, plan: _CallPlan, attribute: str) -> None:
        self.cls = cls
        self.plan = plan
        self.attribute = attribute
        self.describe = f"{_describe(cls)}.{attribute}"

    def __call__(self, request: Request, wild: list[str]) -> Response:
        plan = self.plan
        if plan.simple:
            instance = self.cls(*wild)
        else:
            found = plan.arguments(request, wild)
            if isinstance(found, Response):
                return found
            args, kwargs = found
            instance = self.cls(*args, **kwargs)
        return to_response(getattr(instance, self.attribute)(request))


class _OptionsRoute(_Route):
    __slots__ = ("table",)

    def __init__(self, table: "_Table") -> None:
        self.table = table
        self.describe = "the router's OPTIONS answer"

    def __call__(self, request: Request, wild: list[str]) -> Response:
        return Response(code=204, headers=[("Allow", self.table.allow)])


class _Table:
    """The routes at one exact path, by method (HEAD and OPTIONS filled in from the others)."""

    __slots__ = ("path", "explicit", "any", "handlers", "allow")

    def __init__(self, path: str) -> None:
        self.path = path
        self.explicit: dict[str, _Route] = {}
        #: A handler taking every method (from `delegate` without methods=).
        self.any: _Route | None = None
        self.handlers: dict[str, _Route] = {}
        self.allow = ""

    def add(self, method: str | None, route: _Route, path: str) -> None:
        if method is None:
            if self.any is not None or self.explicit:
                taken = self.any or next(iter(self.explicit.values()))
                raise RouteError(f"route {path!r}: {taken.describe} is already published there; "
                                 f"cannot add {route.describe} for every method")
            self.any = route
        else:
            existing = self.explicit.get(method) or self.any
            if existing is not None:
                raise RouteError(f"route {path!r}: {method} is already served by {existing.describe}; "
                                 f"cannot add {route.describe}")
            self.explicit[method] = route
        handlers = dict(self.explicit)
        if "GET" in handlers:
            handlers.setdefault("HEAD", handlers["GET"])
        if self.any is None:
            handlers.setdefault("OPTIONS", _OptionsRoute(self))
        self.handlers = handlers
        self.allow = ", ".join(sorted(handlers))


class _Node:
    """One segment position in the prefix tree."""

    __slots__ = ("static", "wild", "table", "folder")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.wild: _Node | None = None
        self.table: _Table | None = None
        #: A handler owning every path below this node (`delegate_folder`).
        self.folder: _Route | None = None


def _parse_path(path: Any, what: str) -> list[str]:
    """The segments of a route path; a RouteError naming the path if it is not one."""
    if not isinstance(path, str):
        raise RouteError(f"{what}: the path must be a str like '/tasks/*', not {path!r}")
    if not path.startswith("/"):
        raise RouteError(f"{what}: the path {path!r} must start with '/'")
    for bad in ("?", "#", "\\", "\x00"):
        if bad in path:
            raise RouteError(f"{what}: the path {path!r} contains {bad!r}; a route is only a path")
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        if segment == "" and i != len(segments) - 1:
            raise RouteError(f"{what}: the path {path!r} contains an empty segment ('//')")
        if segment in (".", ".."):
            raise RouteError(f"{what}: the path {path!r} contains a {segment!r} segment")
        if "*" in segment and segment != "*":
            raise RouteError(f"{what}: in {path!r}, '*' must be a whole segment ('/a/*/b'), not part of {segment!r}")
    return segments


def _route_name(name: str | None, target: Any, path: str) -> str | None:
    """The name `url_for` knows a route by: `name=`, else the function's or class's `__name__`."""
    if name is None:
        found = getattr(target, "__name__", None)
        return found if isinstance(found, str) and found != "<lambda>" else None
    if not isinstance(name, str) or not name:
        raise RouteError(f"route {path!r}: name= must be a non-empty str, not {name!r}")
    return name


def _router_in(handler: Any) -> "Router | None":
    """The Router that `handler` is or wraps (through `__wrapped__`, as guard() and secure() leave it)."""
    for _ in range(_WRAPPER_DEPTH):
        if isinstance(handler, Router):
            return handler
        handler = getattr(handler, "__wrapped__", None)
        if handler is None:
            return None
    return None


def _parse_methods(methods: Any, path: str) -> tuple[str, ...]:
    """The method names of `methods=` ('get', ['post'], ('GET', 'HEAD')...), upper-cased, each once."""
    if isinstance(methods, str):
        methods = (methods,)
    try:
        given = list(methods)
    except TypeError:
        raise RouteError(f"route {path!r}: methods= must be a method name like 'GET' or a list of them, "
                         f"not {methods!r}") from None
    result: list[str] = []
    for method in given:
        # Written in any case ('get', 'Post'): the name on the wire is upper case (RFC 9110 9.1).
        name = method.upper() if isinstance(method, str) and method.isascii() else None
        if not name or not set(name) <= _METHOD_CHARS:
            raise RouteError(f"route {path!r}: {method!r} is not an HTTP method name like 'GET'")
        if name not in result:
            result.append(name)
    if not result:
        raise RouteError(f"route {path!r}: methods= is empty")
    return tuple(result)


def _class_methods(cls: type) -> list[str]:
    return [name for name in dir(cls) if name.startswith("do_") and callable(getattr(cls, name, None))]


# -- path normalisation -------------------------------------------------------------------

def _dots(segment: str) -> int:
    """2 for a '..' segment, 1 for '.', 0 otherwise; percent-encoded dots count (browsers decode them)."""
    if segment == "." or segment == "..":
        return len(segment)
    if "%" in segment and len(segment) <= 6:
        lowered = segment.lower()
        if lowered == "%2e":
            return 1
        if lowered in ("%2e%2e", ".%2e", "%2e."):
            return 2
    return 0


def normal_path(raw_path: str) -> str:
    """The normal form of a percent-encoded path: no '//', '/./' or '/../' ('..' stops at the root)."""
    out: list[str] = []
    segments = raw_path.split("/")[1:]
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        dots = _dots(segment)
        if dots:
            if dots == 2 and out:
                out.pop()
            if i == last:
                out.append("")
        elif segment or i == last:
            out.append(segment)
    return "/" + "/".join(out)


def _needs_normalising(raw_path: str) -> bool:
    if "//" in raw_path:
        return True
    if "/." in raw_path or "%2" in raw_path:
        return any(_dots(segment) for segment in raw_path.split("/"))
    return False


# -- the router ---------------------------------------------------------------------------

class Router:
    """A handler that sends each request to what is published at its path (see the module docs)."""

    def __init__(self) -> None:
        self._root = _Node()
        # The tables of paths without wildcards, by path: one dict lookup finds what the tree
        # search would find first for such a path (it tries literal segments before wildcards).
        self._exact: dict[str, _Table] = {}
        self._published: list[tuple[str, str, str]] = []
        from .route_urls import RouteNames
        #: Published paths by name and by handler, for `url_for`.
        self._route_names = RouteNames()

    # -- publishing ---------------------------------------------------------------

    def _node(self, segments: list[str]) -> _Node:
        node = self._root
        for segment in segments:
            if segment == "*":
                if node.wild is None:
                    node.wild = _Node()
                node = node.wild
            else:
                child = node.static.get(segment)
                if child is None:
                    child = node.static[segment] = _Node()
                node = child
        return node

    def _add(self, path: str, segments: list[str], methods: tuple[str, ...] | None, route: _Route) -> None:
        node = self._node(segments)
        if node.table is None:
            node.table = _Table(path)
            if "*" not in segments:
                self._exact["/" + "/".join(segments)] = node.table
        if methods is None:
            node.table.add(None, route, path)
        else:
            for method in methods:
                node.table.add(method, route, path)
        self._published.append((path, ", ".join(methods) if methods else "*", route.describe))

    def delegate(self, path: str, handler: Handler, *, methods: Any = None, name: str | None = None) -> None:
        """Publish any handler at exactly `path` (every method, unless `methods` names some)."""
        segments = _parse_path(path, "delegate")
        if not callable(handler):
            raise RouteError(f"route {path!r}: the handler {handler!r} is not callable")
        route_name = _route_name(name, handler, path)
        self._add(path, segments, None if methods is None else _parse_methods(methods, path),
                  _HandlerRoute(handler))
        self._route_names.add(route_name, handler, path, _describe(handler))

    def delegate_folder(self, path: str, handler: Handler, *, name: str | None = None) -> None:
        """Give a handler every path below the folder `path`; it sees `request.mount` and `request.rest`."""
        segments = _parse_path(path, "delegate_folder")
        if not callable(handler):
            raise RouteError(f"folder {path!r}: the handler {handler!r} is not callable")
        route_name = _route_name(name, handler, path)
        if segments[-1] == "":
            segments = segments[:-1]
        node = self._node(segments)
        if node.folder is not None:
            raise RouteError(f"folder {path!r}: {node.folder.describe} already owns it; "
                             f"cannot add {_describe(handler)}")
        node.folder = _HandlerRoute(handler)
        folder = "/" + "".join(s + "/" for s in segments)
        self._published.append((folder, "* (folder)", _describe(handler)))
        self._route_names.add(route_name, handler, folder, _describe(handler))
        inner = _router_in(handler)
        if inner is not None:
            # The inner router's url_for builds full paths through this folder, and this
            # router's url_for finds the inner one's routes.
            inner._route_names.mounts.append((self, folder))
            self._route_names.folders.append((folder, inner))

    def function(self, path: str, *, methods: Any = ("GET",), name: str | None = None) -> Callable[[T], T]:
        """Publish a function: wildcards become positional arguments, query fields keyword arguments."""
        segments = _parse_path(path, "function")
        allowed = _parse_methods(methods, path)

        def publish(func: T) -> T:
            if not callable(func):
                raise RouteError(f"route {path!r}: {func!r} is not a function")
            route_name = _route_name(name, func, path)
            plan = _CallPlan(func, segments.count("*"), path, take_query=True)
            self._add(path, segments, allowed, _FunctionRoute(func, plan))
            self._route_names.add(route_name, func, path, plan.describe)
            return func
        return publish

    def servlet(self, path: str, *, name: str | None = None) -> Callable[[type], type]:
        """Publish a class: a new instance per request gets the wildcards; `do_GET(request)` etc. answer."""
        segments = _parse_path(path, "servlet")

        def publish(cls: type) -> type:
            if not isinstance(cls, type):
                raise RouteError(f"servlet {path!r}: {cls!r} is not a class")
            methods = {name[3:]: name for name in _class_methods(cls) if set(name[3:]) <= _METHOD_CHARS
                       and name[3:]}
            if not methods:
                raise RouteError(f"servlet {path!r}: {_describe(cls)} has no do_GET/do_POST/... method")
            route_name = _route_name(name, cls, path)
            plan = _CallPlan(cls, segments.count("*"), path, take_query=False)
            self._add_methods(segments, path, cls, plan, methods)
            self._route_names.add(route_name, cls, path, _describe(cls))
            return cls
        return publish

    def service(self, path: str, *, name: str | None = None) -> Callable[[type], type]:
        """Publish a class owning a folder: `do_GET_edit(request)` answers GET <folder>/edit.

        `do_GET_index` (or `do_GET_`) answers the folder itself; a path without its final
        slash is redirected to the folder.  For `url_for`, page `edit` is named 'Class.edit'
        (`name.edit` with `name=`) and the folder itself 'Class' (or the class object).
        """
        segments = _parse_path(path, "service")
        if segments[-1] == "":
            segments = segments[:-1]
        folder = "/" + "".join(s + "/" for s in segments)

        def publish(cls: type) -> type:
            if not isinstance(cls, type):
                raise RouteError(f"service {folder!r}: {cls!r} is not a class")
            base = _route_name(name, cls, folder)
            plan = _CallPlan(cls, segments.count("*"), folder, take_query=False)
            pages: dict[str, dict[str, str]] = {}
            for attribute in _class_methods(cls):
                method, sep, page = attribute[3:].partition("_")
                if not sep or not method or not set(method) <= _METHOD_CHARS:
                    continue
                if page == "index":
                    page = ""
                by_method = pages.setdefault(page, {})
                if method in by_method:
                    raise RouteError(f"service {folder!r}: both {_describe(cls)}.{by_method[method]} and "
                                     f".{attribute} answer {method} {folder}{page}")
                by_method[method] = attribute
            if not pages:
                raise RouteError(f"service {folder!r}: {_describe(cls)} has no do_GET_<name> method")
            for page, by_method in sorted(pages.items()):
                self._add_methods([*segments, page], folder + page, cls, plan, by_method)
                names = self._route_names
                if page:
                    names.add(f"{base}.{page}", None, folder + page, _describe(cls))
                else:
                    names.add(base, cls, folder, _describe(cls))
                    names.add(f"{base}.index", None, folder, _describe(cls))
            return cls
        return publish

    def _add_methods(self, segments: list[str], path: str, cls: type, plan: _CallPlan,
                     by_method: dict[str, str]) -> None:
        """Publish `cls`'s methods at one path: HTTP method -> name of the `do_*` attribute."""
        node = self._node(segments)
        if node.table is None:
            node.table = _Table(path)
        for method, attribute in sorted(by_method.items()):
            node.table.add(method, _MethodRoute(cls, plan, attribute), path)
        self._published.append((path, ", ".join(sorted(by_method)), _describe(cls)))

    def routes(self) -> list[tuple[str, str, str]]:
        """What is published: (path, methods, handler name) in registration order (for debugging)."""
        return list(self._published)

    def url_for(self, target: Any, /, *wildcards: Any, **query: Any) -> str:
        """The URL of a published route: `target` is its name (the function's or class's name, or
        `name=`) or the published function, class or handler; `wildcards` fill its `*` segments
        in order and `query` becomes the query string, all percent-encoded.

        `app.url_for("contact", 7, tab="notes")` gives '/contacts/7?tab=notes' for a function
        `contact` published at '/contacts/*'.  Through `delegate_folder` the path is the full
        one, from the outermost router.  A name that fits no route, or a wrong number of
        wildcards, is a RouteError naming the route.
        """
        return self._route_names.url_for(self, target, wildcards, query)

    # -- answering ----------------------------------------------------------------

    def _match(self, request: Request) -> _Found | _Miss:
        """Where the request's path leads in this router: the one lookup behind both answering
        (`__call__`) and the cross-site question (`allows_cross_site`), so they cannot disagree."""
        raw = request.raw_path
        if raw[:1] != "/":
            return _Miss(_NOT_A_PATH)
        if _needs_normalising(raw):
            return _Miss(_NOT_NORMAL)
        segments = request.__dict__.get("rest_segments")
        if segments is None:
            # At the top: without '%' the decoded segments are the raw ones (skips a decode per segment).
            segments = raw.split("/")[1:] if "%" not in raw else request.segments
        wild: list[str] = []
        refused: list[_Table] = []
        found = _find(self._root, segments, 0, len(segments), wild, request.method, refused)
        if found is None:
            return _Miss(_NO_ROUTE, segments, refused[0] if refused else None)
        # A plain tuple: this runs for every request.
        return found[0], wild, segments, found[1]

    def __call__(self, request: Request) -> Response:
        """Find what is published at the request's path and let it answer."""
        table = self._exact.get(request.raw_path)
        if table is not None and "rest_segments" not in request.__dict__ and "%" not in request.raw_path:
            # A published path without wildcards, at the top (no folder consumed a part of it),
            # as it was sent: no decoding, and no '//', '.' or '..' segment (routes have none).
            route = table.handlers.get(request.method) or table.any
            if route is not None:
                return route(request, [])
        match = self._match(request)
        if not isinstance(match, _Miss):
            route, wild, segments, consumed = match
            if wild or consumed >= 0:
                _enter(request, wild, segments, consumed)
            return route(request, wild)
        kind = match.kind
        if kind is _NOT_A_PATH:
            if request.raw_path == "*" and request.method == "OPTIONS":
                return Response(code=204)
            return _bad_request("The request target is not a path.")
        if kind is _NOT_NORMAL:
            return _normalise_redirect(request, normal_path(request.raw_path))
        if match.refused is not None:
            allow = match.refused.allow
            return Response.generic(405, f"{request.path} does not accept {request.method}; "
                                    f"it accepts {allow}.", headers=[("Allow", allow)])
        return self._not_found(request, match.segments)

    def allows_cross_site(self, request: Request) -> bool:
        """Whether what this path would run opted out of the cross-site check (see kali.security).

        The security wrapper sits outside the router, so it asks here before refusing: a
        function, servlet class or handler marked with `allow_cross_site_requests` (or a
        Formlet with `csrf_protect = False`) may then receive requests from other sites.
        """
        match = self._match(request)
        if isinstance(match, _Miss):
            return False
        route, wild, segments, consumed = match
        if isinstance(route, _HandlerRoute):
            target: Any = route.handler
        elif isinstance(route, _FunctionRoute):
            target = route.func
        elif isinstance(route, _MethodRoute):
            if has_cross_site_mark(getattr(route.cls, route.attribute, None)):
                return True
            target = route.cls
        else:
            return False
        if has_cross_site_mark(target):
            return True
        if consumed >= 0:
            # A folder handler may itself be a router (or wrap one): ask it about the rest.
            probe = find_cross_site_probe(target)
            if probe is not None:
                inner = copy.copy(request)
                _enter(inner, wild, segments, consumed)
                return probe(inner) is True
        return False

    def _not_found(self, request: Request, segments: list[str]) -> Response:
        if segments and segments[-1] != "":
            # '/x' where only the folder '/x/' exists: send the browser to the folder.
            longer = [*segments, ""]
            refused: list[_Table] = []
            if _find(self._root, longer, 0, len(longer), [], request.method, refused) or refused:
                target = request.raw_path + "/"
                if request.query_string:
                    target += "?" + request.query_string
                return _redirect(target)
        return _not_found(request)


#: A route lookup that found what answers: (the route, the texts its `*` wildcards matched,
#: the path segments looked up below the router's mount, how many of them a folder handler
#: consumed or -1 for an exact route).
_Found = tuple["_Route", list[str], list[str], int]

# Why a lookup found nothing (`_Miss.kind`).
_NO_ROUTE, _NOT_A_PATH, _NOT_NORMAL = "no route", "not a path", "not normal"


class _Miss:
    """A route lookup that found nothing to call, and why."""

    __slots__ = ("kind", "segments", "refused")

    def __init__(self, kind: str, segments: list[str] | None = None, refused: _Table | None = None) -> None:
        self.kind = kind
        #: The path segments that were looked up (for _NO_ROUTE).
        self.segments: list[str] = segments if segments is not None else []
        #: The routes at an exact path that exists, but not for this method (a 405).
        self.refused = refused


def _enter(request: Request, wild: list[str], segments: list[str], consumed: int) -> None:
    """Record on the request what a found route consumed: wildcards, and a folder's mount and rest."""
    if wild:
        request.wildcards = request.wildcards + tuple(wild)
    if consumed >= 0:
        # A folder handler: it sees the folder as its mount and only the rest of the path.
        request.mount = request.mount + "".join("/" + quote(s, safe=_MOUNT_SAFE) for s in segments[:consumed])
        request.rest_segments = segments[consumed:]


def _find(node: _Node, segments: list[str], i: int, n: int, wild: list[str], method: str,
          refused: list[_Table]) -> tuple[_Route, int] | None:
    """Depth-first match of segments[i:] below `node`: (route, -1) for an exact route, (folder, i)
    for a folder handler, or None.  Exact paths that exist but not for `method` go to `refused`."""
    if i == n:
        table = node.table
        if table is not None:
            route = table.handlers.get(method) or table.any
            if route is not None:
                return route, -1
            refused.append(table)
        return None
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        found = _find(child, segments, i + 1, n, wild, method, refused)
        if found is not None:
            return found
    wild_node = node.wild
    if wild_node is not None and segment:
        wild.append(segment)
        found = _find(wild_node, segments, i + 1, n, wild, method, refused)
        if found is not None:
            return found
        wild.pop()
    # A folder takes what no exact route published, but not another method of a published path.
    if node.folder is not None and not refused:
        return node.folder, i
    return None


def _redirect(target: str) -> Response:
    response = Response.redirect(target, 308)
    # A moved-permanently answer would be cached for good; apps change while being written.
    response.headers["Cache-Control"] = "no-cache"
    return response


def _normalise_redirect(request: Request, path: str) -> Response:
    # Browsers read '\' in a Location as '/', so '/\host' would send them to another site.
    path = path.replace("\\", "%5C")
    if request.query_string:
        path += "?" + request.query_string
    return _redirect(path)
