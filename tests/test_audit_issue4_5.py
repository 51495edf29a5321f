"""Audit of issues 4 (templates) and 5 (forms): behaviours the issues promise that no other test pinned down."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from kali.forms import (CSRF_FIELD, INT, ChoiceLens, Entry, EnumLens, Formlet, Pick, RadioGroup,
                        ValidationError, csrf_token)
from kali.response import Response
from kali.testing import Client


# -- forms: an optional select or radio group given a lens --------------------------------------

@pytest.mark.parametrize("element", [
    Pick(lens=EnumLens(["Low", "High"])),
    Pick([1, 2], lens=INT),
    Pick(lens=ChoiceLens(["a", "b"])),
    RadioGroup(lens=EnumLens(["Low", "High"])),
])
def test_optional_choice_with_a_lens_gives_none_for_the_empty_choice(element: Any) -> None:
    # The issue: "select ... with an empty choice unless required"; Pick's docstring: the empty choice gives None.
    if isinstance(element, Pick):
        assert '<option value="" selected>' in element.html("p", None), "the empty choice is offered"
    assert element.convert("") is None
    assert element.convert(element.options[1][0]) is not None


def test_required_choice_with_a_lens_still_refuses_blank() -> None:
    pick = Pick(lens=EnumLens(["Low", "High"]), required=True)
    assert '<option value=""' not in pick.html("p", None)
    with pytest.raises(ValidationError):
        pick.convert("")
    assert pick.convert("High") == 1


def test_optional_enum_pick_in_a_formlet_saves_none() -> None:
    saved: list[dict[str, Any]] = []

    class Task(Formlet):
        def __init__(self) -> None:
            super().__init__({"title": Entry(), "priority": Pick(lens=EnumLens(["Low", "High"]))})

        def save(self, native: dict[str, Any], request: Any) -> Any:
            saved.append(native)
            return Response.redirect("/done")

    r = Client(Task().handle).post("/task", data={"title": "Buy tea", "priority": "",
                                                  CSRF_FIELD: csrf_token("/task")})
    assert r.status == 303, r.text
    assert saved == [{"title": "Buy tea", "priority": None}]


# -- forms: a record the Formlet cannot read by field name ----------------------------------------

def test_plain_tuple_record_is_a_clear_error_not_a_blank_form() -> None:
    db = sqlite3.connect(":memory:")      # no row_factory: rows are plain tuples
    db.execute("create table item(title text, count integer)")
    db.execute("insert into item values ('Hat', 3)")

    class EditItem(Formlet):
        def __init__(self) -> None:
            super().__init__({"title": Entry(), "count": Entry(lens=INT)})

        def get_native(self, request: Any) -> Any:
            return db.execute("select title, count from item").fetchone()

    with pytest.raises(TypeError, match=r"EditItem.get_native returned a tuple.*sqlite3.Row"):
        EditItem().do_GET(Client(lambda r: "").get("/item").request)
    r = Client(EditItem().handle).get("/item")
    assert r.status == 500
    assert "method count" not in r.text, "never a tuple's method shown as a field value"

    db.row_factory = sqlite3.Row
    r = Client(EditItem().handle).get("/item")
    assert r.status == 200
    assert 'value="Hat"' in r.text and 'value="3"' in r.text


# -- lenses: a Test around a nullable lens ----------------------------------------------------------

def test_test_around_a_nullable_lens_accepts_blank() -> None:
    from kali.forms import DATE, Test, nullable

    positive = Test(lambda n: n > 0, error="Enter a positive number.", lens=nullable(INT))
    assert positive.to_native("  ") is None, "blank is no value: the predicate is not given None"
    assert positive.to_native("3") == 3
    with pytest.raises(ValidationError, match="positive"):
        positive.to_native("-3")
    five_digits = Test(r"[0-9]{5}", error="Enter five digits.", lens=nullable(INT))
    assert five_digits.to_native("") is None
    with pytest.raises(ValidationError, match="five digits"):
        five_digits.to_native("123")
    weekday = Test(lambda d: d.weekday() < 5, error="Choose a weekday.", lens=nullable(DATE))
    assert weekday.to_native("") is None
    with pytest.raises(ValidationError, match="weekday"):
        weekday.to_native("2024-06-01")
    # Without nullable, blank is still refused by the inner lens or the test.
    with pytest.raises(ValidationError, match="required"):
        Test(lambda n: n > 0, lens=INT).to_native("")
    with pytest.raises(ValidationError, match="five"):
        Test(r"[0-9]{5}", error="Enter five digits.").to_native("")


def test_test_around_a_nullable_lens_in_a_formlet_is_not_a_500() -> None:
    saved: list[dict[str, Any]] = []

    class Order(Formlet):
        def __init__(self) -> None:
            from kali.forms import Test, nullable
            super().__init__({"qty": Entry(lens=Test(lambda n: n > 0, error="Enter at least 1.",
                                                     lens=nullable(INT)))})

        def save(self, native: dict[str, Any], request: Any) -> Any:
            saved.append(native)
            return Response.redirect("/done")

    client = Client(Order().handle)
    assert client.post("/order", data={"qty": "", CSRF_FIELD: csrf_token("/order")}).status == 303
    r = client.post("/order", data={"qty": "0", CSRF_FIELD: csrf_token("/order")})
    assert r.status == 422 and "Enter at least 1." in r.text
    assert saved == [{"qty": None}]


# -- templates: a condition reads a path the way a placeholder does ----------------------------------

@pytest.mark.parametrize("row, expected", [
    ({0: "x"}, "yes x"),          # a dict keyed by numbers (e.g. a {column index: value} map)
    (("a",), "yes a"),
    ([], "no"),
    ({}, "no"),
    (None, "no"),
])
def test_condition_on_a_number_part_matches_the_placeholder(row: Any, expected: str) -> None:
    from kali.templates import Template

    template = Template("<!--{if row.0}-->yes {row.0}<!--{otherwise}-->no<!--{end}-->")
    assert "".join(template(row=row)) == expected


# -- forms: the status of a form shown again when display returns a Response ----------------------

def test_display_returning_a_response_keeps_the_422_and_403_statuses() -> None:
    class Item(Formlet):
        def __init__(self) -> None:
            super().__init__({"qty": Entry(lens=INT)})

        def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
            return Response(["<form method=post>", fields["qty"], errors.get("_form", ""), "</form>"],
                            headers={"X-Page": "mine"})

        def save(self, native: dict[str, Any], request: Any) -> Any:
            return Response.redirect("/done")

    client = Client(Item().handle)
    shown = client.get("/item")
    assert shown.status == 200 and shown.headers["x-page"] == "mine"
    bad = client.post("/item", data={"qty": "many", CSRF_FIELD: csrf_token("/item")})
    assert bad.status == 422 and "Enter a whole number" in bad.text
    refused = client.post("/item", data={"qty": "3"})
    assert refused.status == 403, "a POST without its token is refused, whatever display returns"
    assert "without its security token" in refused.text and 'value="3"' in refused.text
    assert client.post("/item", data={"qty": "3", CSRF_FIELD: csrf_token("/item")}).status == 303

    class Teapot(Item):
        def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
            return Response("<form method=post></form>", code=418)

    assert Client(Teapot().handle).post("/item", data={"qty": "x"}).status == 418, "a code the app chose is kept"
