"""A start-up-cheap stand-in for `dataclasses.dataclass` and `field`, for kali's own record classes.

`dataclasses` writes and `exec`s the source of several methods for every class it
decorates and imports `inspect` (which loads `ast`, `dis` and `tokenize`): about a
millisecond per class at import time. This module builds the same methods from a
handful of shared closures instead. It supports what kali's classes use: fields from
annotations in order, defaults, `field(default=, default_factory=, compare=)`, `frozen`,
`slots`, and the generated `__init__`, `__repr__`, `__eq__` and (frozen) `__hash__`.
Type checkers see the real `dataclasses` (modules import this one only at run time).
"""

from __future__ import annotations

_MISSING = object()


class _Field:
    """What `field()` returns: a default (or a factory for one) and whether the field is compared."""

    __slots__ = ("default", "default_factory", "compare")

    def __init__(self, default: object, default_factory: object, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: object = _MISSING, default_factory: object = _MISSING, compare: bool = True) -> object:
    """Describe a field: its default or default factory, and whether `==` and `hash` look at it."""
    return _Field(default, default_factory, compare)


def dataclass(cls: object = None, *, frozen: bool = False, slots: bool = False) -> object:
    """Add `__init__`, `__repr__`, `__eq__` (and `__hash__` when frozen) built from the class's annotations."""
    def wrap(cls: type) -> type:
        return _make(cls, frozen, slots)
    return wrap if cls is None else wrap(cls)  # type: ignore[arg-type]


def _make(cls: type, frozen: bool, slots: bool) -> type:
    names: list[str] = []
    defaults: dict[str, object] = {}
    factories: dict[str, object] = {}
    compared: list[str] = []
    namespace = dict(cls.__dict__)
    for name, annotation in namespace.get("__annotations__", {}).items():
        if str(annotation).startswith("ClassVar"):
            continue
        names.append(name)
        value = namespace.pop(name, _MISSING) if slots else namespace.get(name, _MISSING)
        compare = True
        if isinstance(value, _Field):
            compare = value.compare
            if value.default_factory is not _MISSING:
                factories[name] = value.default_factory
            elif value.default is not _MISSING:
                defaults[name] = value.default
            if not slots:
                if name in defaults:
                    setattr(cls, name, defaults[name])
                else:
                    delattr(cls, name)
        elif value is not _MISSING:
            defaults[name] = value
        if compare:
            compared.append(name)
    fields = tuple(names)
    compare_fields = tuple(compared)
    assign = object.__setattr__

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} positional arguments but {len(args)} were given")
        for name, value in zip(fields, args):
            assign(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in defaults:
                value = defaults[name]
            elif name in factories:
                value = factories[name]()  # type: ignore[operator]
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
            assign(self, name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in compare_fields)

    methods: dict[str, object] = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        def __setattr__(self: object, name: str, value: object) -> None:
            raise AttributeError(f"cannot assign to field {name!r} of a frozen {cls.__name__}")

        def __delattr__(self: object, name: str) -> None:
            raise AttributeError(f"cannot delete field {name!r} of a frozen {cls.__name__}")

        def __hash__(self: object) -> int:
            return hash(tuple(getattr(self, name) for name in compare_fields))

        methods.update(__setattr__=__setattr__, __delattr__=__delattr__, __hash__=__hash__)
    else:
        methods["__hash__"] = None      # as dataclasses does for eq=True, frozen=False
    for name, method in methods.items():
        if name not in namespace or name == "__hash__":
            if callable(method):
                method.__qualname__ = f"{cls.__qualname__}.{name}"  # type: ignore[attr-defined]
            namespace[name] = method
    if slots:
        namespace["__slots__"] = fields
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        return type(cls)(cls.__name__, cls.__bases__, namespace)
    for name, method in methods.items():
        setattr(cls, name, namespace[name])
    return cls
