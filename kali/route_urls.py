"""Reverse routing: the URL of a published handler, built from its wildcard values and query arguments.

Every route a `Router` publishes is recorded here under a name (the function's
or class's `__name__` unless `name=` says otherwise) and under the published
object itself, with its path pattern.  `router.url_for(name_or_object, *wildcards,
**query)` fills the pattern's `*` segments with the values, percent-encoded the
way `Request.app_url` encodes them, and adds the query.  A router given a folder
of another router with `delegate_folder` knows its place: the URL is the full
path from the outermost router, through every folder on the way, and the outer
router finds the inner one's routes too.
"""

from __future__ import annotations

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any

    from .routing import Router

__all__ = ["RouteNames", "NamedRoute"]


class NamedRoute:
    """One published path that `url_for` can build: its pattern, the number of `*` in it, what answers it."""

    __slots__ = ("path", "wildcards", "describe")

    def __init__(self, path: str, wildcards: int, describe: str) -> None:
        self.path = path
        self.wildcards = wildcards
        self.describe = describe

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamedRoute) and (self.path, self.wildcards, self.describe) == (
            other.path, other.wildcards, other.describe)

    def __repr__(self) -> str:
        return f"NamedRoute({self.path!r}, {self.wildcards}, {self.describe!r})"


def _join(prefix: str, path: str) -> str:
    """A folder's path ('/admin/') and a path below it ('/users/*') as one pattern ('/admin/users/*')."""
    return prefix.rstrip("/") + path


def _plural(count: int) -> str:
    return f"{count} wildcard{'' if count == 1 else 's'}"


class RouteNames:
    """The routes of one router by name and by published object, and the folders it sits in."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[NamedRoute]] = {}
        # Keyed by id(); the object is kept alongside so its id cannot be reused meanwhile.
        self._by_object: dict[int, tuple[object, list[NamedRoute]]] = {}
        #: Routers this one was given a folder of: (the outer router, the folder's path).
        self.mounts: list[tuple[Router, str]] = []
        #: Routers given a folder of this one: (the folder's path, the inner router).
        self.folders: list[tuple[str, Router]] = []

    def add(self, name: str | None, target: object, path: str, describe: str) -> None:
        """Record that `target` answers `path`, under `name` too (each when it is not None)."""
        route = NamedRoute(path, path.split("/").count("*"), describe)
        if name is not None:
            self._add_to(self._by_name.setdefault(name, []), route)
        if target is None:
            return
        entry = self._by_object.get(id(target))
        if entry is None:
            self._by_object[id(target)] = (target, [route])
        else:
            self._add_to(entry[1], route)

    @staticmethod
    def _add_to(routes: list[NamedRoute], route: NamedRoute) -> None:
        # One function published for GET and for POST at one path is one URL.
        if all(known.path != route.path for known in routes):
            routes.append(route)

    def own(self, target: object) -> list[NamedRoute]:
        """The routes of this router that `target` (a name or a published object) names."""
        if isinstance(target, str):
            return list(self._by_name.get(target, ()))
        entry = self._by_object.get(id(target))
        return list(entry[1]) if entry is not None and entry[0] is target else []

    def find(self, target: object) -> list[NamedRoute]:
        """The routes `target` names here, or else in the routers below this one's folders (full patterns)."""
        found = self.own(target)
        if found:
            return found
        for folder, inner in self.folders:
            for route in inner._route_names.find(target):
                self._add_to(found, NamedRoute(_join(folder, route.path), route.wildcards + folder.count("*"),
                                               route.describe))
        return found

    def prefix(self, router: Router, seen: tuple[int, ...] = ()) -> str:
        """The pattern of the folder this router answers in ('' for the outermost router)."""
        if id(router) in seen:
            raise ValueError("routers are mounted in each other in a cycle")
        mounts = self.mounts
        if not mounts:
            return ""
        if len(mounts) > 1:
            places = ", ".join(repr(_join(outer._route_names.prefix(outer, seen + (id(router),)), folder))
                               for outer, folder in mounts)
            raise ValueError(f"this router answers in several folders ({places}); ask the outer "
                             f"router's url_for, which knows which one")
        outer, folder = mounts[0]
        return _join(outer._route_names.prefix(outer, seen + (id(router),)), folder).rstrip("/")

    def url_for(self, router: Router, target: object, wildcards: tuple[Any, ...], query: dict[str, Any]) -> str:
        """The URL of the route `target` names, with `wildcards` in its `*` segments and `query` after it."""
        from .request import _build_url
        from .routing import RouteError
        what = repr(target) if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
        found = self.find(target)
        if not found:
            raise RouteError(f"url_for({what}): no route of this router or the routers in its folders "
                             f"has that {'name' if isinstance(target, str) else 'handler'}{self._hint(target)}")
        try:
            prefix = self.prefix(router)
        except ValueError as exc:
            raise RouteError(f"url_for({what}): {exc}") from None
        extra = prefix.count("*")
        fitting = [route for route in found if route.wildcards + extra == len(wildcards)]
        if not fitting:
            routes = "; ".join(f"route {_join(prefix, route.path)!r} ({route.describe}) takes "
                               f"{_plural(route.wildcards + extra)}" for route in found)
            raise RouteError(f"url_for({what}) got {_plural(len(wildcards))}: {routes}")
        if len(fitting) > 1:
            paths = ", ".join(repr(_join(prefix, route.path)) for route in fitting)
            raise RouteError(f"url_for({what}): {paths} all fit {_plural(len(wildcards))}; publish "
                             f"them with different name= to tell them apart")
        route = fitting[0]
        pattern = _join(prefix, route.path)
        try:
            return _build_url("", pattern, wildcards, query)
        except ValueError as exc:
            raise RouteError(f"url_for({what}): route {pattern!r} ({route.describe}): {exc}") from None

    def _hint(self, target: object) -> str:
        """' — did you mean 'x'?' for a misspelt name, or the names there are when they are few."""
        names = sorted(set(self._all_names()))
        if isinstance(target, str):
            import difflib      # only once something has failed
            close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
            if close:
                return f" — did you mean {close[0]!r}?"
        if names and len(names) <= 12:
            return f" (the names are {', '.join(map(repr, names))})"
        return ""

    def _all_names(self) -> list[str]:
        names = list(self._by_name)
        for _, inner in self.folders:
            names.extend(inner._route_names._all_names())
        return names
