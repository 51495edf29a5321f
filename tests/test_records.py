"""kali._records: the import-time-cheap stand-in for dataclasses behaves like dataclasses for what kali uses."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest

from kali import _records


def make(module: Any) -> dict[str, Any]:
    """The same three classes, built with `module.dataclass` / `module.field`."""
    @module.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0
        tag: Optional[str] = module.field(default=None, compare=False)

    @module.dataclass(frozen=True, slots=True)
    class Named:
        name: str
        where: Point = module.field(compare=False)

    @module.dataclass
    class Frame:
        kind: str
        parts: dict[str, list[int]] = module.field(default_factory=lambda: {"start": []})
        current: str = "start"

        @property
        def target(self) -> list[int]:
            return self.parts[self.current]

    return {"Point": Point, "Named": Named, "Frame": Frame}


BOTH = pytest.mark.parametrize("module", [dataclasses, _records], ids=["dataclasses", "records"])


@BOTH
def test_init_defaults_and_repr(module: Any) -> None:
    Point = make(module)["Point"]
    p = Point(1)
    assert (p.x, p.y, p.tag) == (1, 0, None)
    assert Point(1, y=2, tag="t").y == 2
    assert repr(Point(1, 2, "t")).endswith("Point(x=1, y=2, tag='t')")


@BOTH
def test_equality_and_hash_ignore_fields_not_compared(module: Any) -> None:
    classes = make(module)
    Point, Named = classes["Point"], classes["Named"]
    assert Point(1, 2, "a") == Point(1, 2, "b") and hash(Point(1, 2, "a")) == hash(Point(1, 2, "b"))
    assert Point(1, 2) != Point(2, 1)
    assert Named("n", Point(1)) == Named("n", Point(5))
    assert Point(1) != (1, 0, None)


@BOTH
def test_frozen_and_slotted(module: Any) -> None:
    Point = make(module)["Point"]
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2
    assert not hasattr(p, "__dict__")


@BOTH
def test_mutable_with_default_factory(module: Any) -> None:
    Frame = make(module)["Frame"]
    a, b = Frame("root"), Frame("root")
    a.target.append(1)
    assert a.parts == {"start": [1]} and b.parts == {"start": []}
    a.current = "each"
    assert a.current == "each" and a != b


@BOTH
def test_wrong_arguments_are_type_errors(module: Any) -> None:
    Point = make(module)["Point"]
    with pytest.raises(TypeError):
        Point()
    with pytest.raises(TypeError):
        Point(1, 2, 3, 4)
    with pytest.raises(TypeError):
        Point(1, z=3)
