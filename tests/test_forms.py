"""kali.forms: lenses, elements (HTML and round trip of bad input), Formlet flows and CSRF protection."""

from __future__ import annotations

import datetime
import decimal
import re
import sqlite3
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kali.forms import (BOOL, CSRF_FIELD, DATE, DECIMAL, FLOAT, FORM_ERRORS, INT, REQUIRED, STRING,
                        Checkbox, ConvertedValues, ChoiceLens, Entry, EnumLens, FileField, Formlet, Hidden, Lens, Memo,
                        Pick, RadioGroup, SaveError, Test, ValidationError, add_csrf_tokens, csrf_input,
                        csrf_token, html_attrs, nullable, verify_csrf_token)
from kali.http import HTTPError
from kali.request import Request
from kali.response import Response
from kali.testing import Client


# -- a tiny HTML reader, so tests look at what a browser would see ------------------------------

class Page(HTMLParser):
    """Elements of a page as (tag, attrs dict), plus the text inside textareas/options/spans."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("textarea", "option", "span", "p", "label", "select"):
            self._open.append(len(self.tags) - 1)
            self.texts[len(self.tags) - 1] = ""

    def handle_endtag(self, tag: str) -> None:
        for i in reversed(range(len(self._open))):
            if self.tags[self._open[i]][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for i in self._open:
            self.texts[i] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def one(self, tag: str, **attrs: str) -> dict[str, str | None]:
        found = self.find(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {found}"
        return found[0]

    def text_of(self, tag: str, **attrs: str) -> str:
        for n, (t, a) in enumerate(self.tags):
            if t == tag and all(a.get(k) == v for k, v in attrs.items()):
                text = self.texts[n]
                # Like a browser, drop the one newline that may follow <textarea>.
                return text[1:] if tag == "textarea" and text.startswith("\n") else text
        raise AssertionError(f"no <{tag} {attrs}>")


# -- lenses ---------------------------------------------------------------------------------------

def bad(lens: Lens, text: Any) -> str:
    with pytest.raises(ValidationError) as info:
        lens.to_native(text)
    return info.value.message


def test_string_trims_and_allows_blank() -> None:
    assert STRING.to_native("  Ann  ") == "Ann"
    assert STRING.to_native("   ") == ""
    assert STRING.to_text(None) == ""
    assert STRING.to_text(42) == "42"
    assert bad(STRING(max_length=3), " abcd ") == "Enter at most 3 characters (this has 4)."
    assert STRING(max_length=3).to_native(" abc ") == "abc"
    assert bad(STRING(min_length=2), "a") == "Enter at least 2 characters (this has 1)."
    assert STRING(strip=False).to_native("  pw ") == "  pw "


def test_required_refuses_blank() -> None:
    assert REQUIRED.to_native(" x ") == "x"
    assert bad(REQUIRED, " \t\n") == "This field is required."
    assert bad(REQUIRED, "") == "This field is required."


def test_int() -> None:
    assert INT.to_native(" 42 ") == 42
    assert INT.to_native("-7") == -7
    assert INT.to_text(5) == "5"
    assert INT.to_text(None) == ""
    assert bad(INT, "") == "This field is required."
    for text in ("4.5", "abc", "1_000", "١٢", "0x10", "--1"):
        assert bad(INT, text) == "Enter a whole number, like 42.", text
    assert bad(INT, "9" * 5000) == "This number is too long."
    bounded = INT(min=0, max=100)
    assert bounded.to_native("100") == 100
    assert bad(bounded, "-1") == "Enter a value of at least 0."
    assert bad(bounded, "101") == "Enter a value of at most 100."
    assert INT.to_native("-1") == -1, "calling a lens must not change the original"


def test_lens_options_are_checked() -> None:
    with pytest.raises(TypeError, match="no option 'maximum'"):
        INT(maximum=3)
    with pytest.raises(ValueError, match="min 5 is greater than max 1"):
        INT(min=5, max=1)
    assert repr(INT(min=0)) == "INT(min=0)"


def test_float_and_decimal() -> None:
    assert FLOAT.to_native("3.5") == 3.5
    assert FLOAT.to_native("1e3") == 1000.0
    assert FLOAT.to_native(".5") == 0.5
    assert FLOAT.to_text(2.0) == "2"
    assert FLOAT.to_text(0.1) == "0.1"
    for text in ("nan", "inf", "1,5", "abc"):
        assert bad(FLOAT, text) == "Enter a number, like 3.5."
    assert bad(FLOAT, "1e999") == "This number is too large."
    assert bad(FLOAT(min=0.5), "0.4") == "Enter a value of at least 0.5."
    assert DECIMAL.to_native("12.50") == decimal.Decimal("12.50")
    assert DECIMAL.to_text(decimal.Decimal("1E+2")) == "100"
    assert DECIMAL.to_text(0.1) == "0.1"
    assert bad(DECIMAL, "1e2") == "Enter a number, like 12.50."
    money = DECIMAL(places=2, min=decimal.Decimal(0))
    assert money.to_native("3.10") == decimal.Decimal("3.10")
    assert bad(money, "3.105") == "Enter at most 2 digits after the decimal point."
    assert bad(money, "-1") == "Enter a value of at least 0."
    assert bad(DECIMAL(places=0), "1.5") == "Enter a whole number."


def test_date() -> None:
    assert DATE.to_native("2024-02-29") == datetime.date(2024, 2, 29)
    assert DATE.to_text(datetime.date(2024, 3, 1)) == "2024-03-01"
    assert DATE.to_text(datetime.datetime(2024, 3, 1, 12, 30)) == "2024-03-01"
    assert DATE.to_text("2024-03-01") == "2024-03-01", "SQLite keeps dates as text"
    assert bad(DATE, "2023-02-29") == "2023-02-29 is not a date in the calendar."
    for text in ("1/2/2024", "20240102", "2024-W01-1", "2024-1-2"):
        assert bad(DATE, text) == "Enter a date as YYYY-MM-DD, like 2024-03-31.", text
    assert bad(DATE, " ") == "This field is required."
    limited = DATE(min=datetime.date(2024, 1, 1), max=datetime.date(2024, 12, 31))
    assert bad(limited, "2023-12-31") == "Enter a date on or after 2024-01-01."
    assert bad(limited, "2025-01-01") == "Enter a date on or before 2024-12-31."


def test_time() -> None:
    from kali.forms import TIME
    assert TIME.to_native("09:30") == datetime.time(9, 30)
    assert TIME.to_native("23:59:58") == datetime.time(23, 59, 58)
    assert TIME.to_text(datetime.time(7, 5)) == "07:05"
    assert TIME.to_text(datetime.time(7, 5, 9)) == "07:05:09"
    assert TIME.to_text("07:05") == "07:05", "SQLite keeps times as text"
    assert TIME.to_text(None) == ""
    assert bad(TIME, "24:00") == "24:00 is not a time of day."
    for text in ("9:30", "0930", "9.30am", "09:30pm"):
        assert bad(TIME, text) == "Enter a time as HH:MM, like 09:30.", text
    assert bad(TIME, "") == "This field is required."
    office = TIME(min=datetime.time(9), max=datetime.time(17, 30))
    assert bad(office, "08:59") == "Enter a time at or after 09:00."
    assert bad(office, "17:31") == "Enter a time at or before 17:30."
    assert nullable(TIME).to_native(" ") is None


def test_bool() -> None:
    assert BOOL.to_native("on") is True
    assert BOOL.to_native("") is False
    assert BOOL.to_native("FALSE") is False
    assert BOOL.to_text(1) == "on"
    assert BOOL.to_text(0) == ""
    assert BOOL.to_text(None) == ""
    assert bad(BOOL, "maybe") == "Enter yes or no."


def test_nullable() -> None:
    age = nullable(INT(min=0))
    assert age.to_native("  ") is None
    assert age.to_native("3") == 3
    assert age.to_text(None) == ""
    assert age.to_text(3) == "3"
    assert bad(age, "-1") == "Enter a value of at least 0."
    assert nullable(STRING).to_native("") is None
    assert nullable(DATE).to_native("2024-01-02") == datetime.date(2024, 1, 2)
    with pytest.raises(TypeError):
        nullable("not a lens")  # type: ignore[arg-type]


def test_test_regex_and_predicate() -> None:
    zip_code = Test(r"[0-9]{5}", error="Enter five digits.")
    assert zip_code.to_native(" 12345 ") == "12345"
    assert bad(zip_code, "1234") == "Enter five digits."
    assert bad(zip_code, "123456") == "Enter five digits.", "the whole text must match"
    even = Test(lambda n: n % 2 == 0, error="Enter an even number.", lens=INT)
    assert even.to_native("4") == 4
    assert bad(even, "3") == "Enter an even number."
    assert bad(even, "x") == "Enter a whole number, like 42.", "the inner lens speaks first"
    assert nullable(zip_code).to_native("") is None
    checked = INT.check(lambda n: n != 13, "Not 13.")
    assert bad(checked, "13") == "Not 13."
    with pytest.raises(TypeError):
        Test(42)  # type: ignore[arg-type]


def test_test_around_a_nullable_lens_accepts_blank() -> None:
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


def test_enum_lens() -> None:
    priority = EnumLens(["Low", "Normal", "High"])
    assert priority.to_text(2) == "High"
    assert priority.to_text(None) == ""
    assert priority.to_native("High") == 2
    assert priority.to_native(" high ") == 2
    assert bad(priority, "Urgent") == "'Urgent' is not one of the options; choose another."
    assert bad(priority, "") == "Choose an option."
    assert priority.choices == [("Low", "Low"), ("Normal", "Normal"), ("High", "High")]
    with pytest.raises(ValueError):
        EnumLens(["a", "a"])


def test_choice_lens_single_and_multiple() -> None:
    colour = ChoiceLens([(1, "Red"), (2, "Green")])
    assert colour.to_native("2") == 2
    assert colour.to_text(1) == "1"
    assert bad(colour, "3") == "'3' is not one of the options; choose another."
    assert bad(colour, "") == "Choose an option."
    many = ChoiceLens({"a": "Apple", "b": "Banana", "c": "Cherry"}, multiple=True)
    assert many.multiple
    assert many.to_native(["c", "a", "c"]) == ["c", "a"]
    assert many.to_native([]) == []
    assert many.to_text(["a", "b"]) == ["a", "b"]
    assert many.to_text(None) == []
    assert bad(many, ["a", "z"]) == "'z' is not one of the options; choose another."
    assert bad(many(required=True), []) == "Choose at least one option."
    assert nullable(many).to_native([]) is None


def test_custom_lens_from_functions() -> None:
    def parse_cents(text: str) -> int:
        try:
            return round(float(text) * 100)
        except ValueError:
            raise ValidationError("Enter an amount.") from None

    cents = Lens(to_native=parse_cents, to_text=lambda c: f"{c / 100:.2f}")
    assert cents.to_native("1.25") == 125
    assert cents.to_text(125) == "1.25"
    assert bad(cents, "x") == "Enter an amount."


@given(st.integers(min_value=-10**30, max_value=10**30))
def test_int_round_trip(n: int) -> None:
    assert INT.to_native(INT.to_text(n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trip(x: float) -> None:
    assert FLOAT.to_native(FLOAT.to_text(x)) == x


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9))
def test_decimal_round_trip(d: decimal.Decimal) -> None:
    assert DECIMAL.to_native(DECIMAL.to_text(d)) == d


@given(st.dates())
def test_date_round_trip(d: datetime.date) -> None:
    if d.year >= 1000:      # four-digit years only, as <input type=date> sends
        assert DATE.to_native(DATE.to_text(d)) == d


# -- elements -------------------------------------------------------------------------------------

def test_html_attrs_translation() -> None:
    out = html_attrs({"class_": "wide big", "data_row_id": 3, "required": True, "disabled": False,
                      "title": None, "placeholder": 'say "hi" & <go>'})
    assert out == (' class="wide big" data-row-id="3" required '
                   'placeholder="say &quot;hi&quot; &amp; &lt;go&gt;"')
    with pytest.raises(ValueError, match="not a valid HTML attribute name"):
        html_attrs({'on"click': "x"})


def test_entry_html() -> None:
    html = Entry(type="email", lens=nullable(STRING), class_="wide", placeholder="you@example.org").render(
        "email", "ann@example.org")
    assert html == ('<input name="email" id="email" type="email" value="ann@example.org" class="wide" '
                    'placeholder="you@example.org">')
    page = Page(Entry(type="date", lens=DATE).html("born", datetime.date(2000, 1, 31)))
    assert page.one("input", name="born")["value"] == "2000-01-31"
    assert page.one("input", name="born")["type"] == "date"


def test_entry_refuses_misuse() -> None:
    with pytest.raises(ValueError, match="use Checkbox"):
        Entry(type="checkbox")
    with pytest.raises(TypeError, match="sets the 'name' attribute itself"):
        Entry(name="x")
    with pytest.raises(TypeError, match="takes a lens"):
        Entry(lens=int)  # type: ignore[arg-type]


NASTY = ['"><script>alert(1)</script>', "a & b", "it's", "<", "  spaced  ", "ünïcödé ✓", "&amp;"]


@pytest.mark.parametrize("raw", NASTY)
def test_entry_round_trips_bad_input_exactly(raw: str) -> None:
    element = Entry(lens=INT)
    with pytest.raises(ValidationError):
        element.convert(raw)
    html = element.render("n", raw, "Enter a whole number, like 42.")
    assert "<script>" not in html
    page = Page(html)
    field = page.one("input", name="n")
    assert field["value"] == raw
    assert field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "n-error"
    assert page.text_of("span", id="n-error") == "Enter a whole number, like 42."


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_every_text_round_trips_through_entry_and_memo(raw: str) -> None:
    assert Page(Entry().render("f", raw)).one("input", name="f")["value"] == raw
    assert Page(Memo().render("m", raw)).text_of("textarea", name="m") == raw


def test_password_is_never_sent_back() -> None:
    html = Entry(type="password", lens=REQUIRED).render("pw", "secret")
    assert "secret" not in html
    assert 'type="password"' in html


def test_memo_html_keeps_leading_newline_and_escapes() -> None:
    html = Memo(rows=3).render("notes", "\nfirst</textarea><b>")
    assert html == '<textarea name="notes" id="notes" rows="3">\n\nfirst&lt;/textarea&gt;&lt;b&gt;</textarea>'
    assert Page(html).text_of("textarea", name="notes") == "\nfirst</textarea><b>"


def test_hidden_element() -> None:
    assert Hidden(lens=INT).html("id", 7) == '<input name="id" id="id" type="hidden" value="7">'


def test_pick_single_with_empty_choice() -> None:
    pick = Pick([(1, "One"), (2, "Two & more")])
    assert pick.convert("") is None, "an optional select's empty choice is None"
    assert pick.convert("2") == 2
    html = pick.html("n", 2)
    assert html == ('<select name="n" id="n"><option value=""></option><option value="1">One</option>'
                    '<option value="2" selected>Two &amp; more</option></select>')
    assert 'value="" selected' in pick.html("n", None)


def test_pick_required_has_no_empty_choice() -> None:
    pick = Pick(["a", "b"], required=True, empty="-- choose --")
    html = pick.render("x", "b")
    assert "<option value=\"\"" not in html
    assert " required" in html
    with pytest.raises(ValidationError, match="required"):
        pick.convert("")


def test_pick_keeps_an_unknown_value_visible_and_refuses_it() -> None:
    pick = Pick(["red", "green"])
    with pytest.raises(ValidationError) as info:
        pick.convert("purple")
    page = Page(pick.render("c", "purple", info.value.message))
    options = page.find("option")
    assert [o["value"] for o in options] == ["", "red", "green", "purple"]
    assert "selected" in page.one("option", value="purple")
    assert page.text_of("span", id="c-error") == "'purple' is not one of the options; choose another."


def test_pick_from_enum_lens() -> None:
    pick = Pick(lens=EnumLens(["Low", "High"]), empty="(none)")
    page = Page(pick.html("p", 1))
    assert "selected" in page.one("option", value="High")
    assert page.text_of("option", value="") == "(none)"
    assert pick.convert("Low") == 0


def test_pick_multiple() -> None:
    pick = Pick({"py": "Python", "rs": "Rust", "go": "Go"}, multiple=True)
    assert pick.multiple
    page = Page(pick.html("langs", ["py", "go"]))
    assert "multiple" in page.one("select", name="langs")
    assert [o["value"] for o in page.find("option") if "selected" in o] == ["py", "go"]
    assert not [o for o in page.find("option") if o["value"] == ""], "no empty choice in a multiple select"
    assert pick.convert(["rs"]) == ["rs"]
    assert pick.convert([]) == []
    with pytest.raises(ValidationError):
        pick.convert(["py", "cobol"])
    with pytest.raises(ValidationError, match="required"):
        Pick(["a"], multiple=True, required=True).convert([])
    with pytest.raises(TypeError, match="multi-valued lens"):
        Pick(["a"], multiple=True, lens=STRING)


def test_radio_group() -> None:
    radio = RadioGroup([("s", "Small"), ("l", "Large")], required=True)
    html = radio.html("size", "l", "Pick one")
    page = Page(html)
    inputs = page.find("input", type="radio", name="size")
    assert [(i["value"], "checked" in i, "required" in i) for i in inputs] == [
        ("s", False, True), ("l", True, True)]
    group = page.one("span", role="radiogroup")
    assert group["aria-invalid"] == "true" and group["aria-describedby"] == "size-error"
    assert page.text_of("span", id="size-error") == "Pick one"
    assert radio.convert("s") == "s"
    with pytest.raises(ValidationError):
        radio.convert("")
    assert RadioGroup(["x", "y"]).convert("") is None


@pytest.mark.parametrize("element", [
    Pick(lens=EnumLens(["Low", "High"])),
    Pick([1, 2], lens=INT),
    Pick(lens=ChoiceLens(["a", "b"])),
    RadioGroup(lens=EnumLens(["Low", "High"])),
])
def test_optional_choice_with_a_lens_gives_none_for_the_empty_choice(element: Any) -> None:
    # A select has an empty choice unless required (Pick's docstring: the empty choice gives None).
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


def test_checkbox() -> None:
    box = Checkbox(class_="toggle")
    assert box.html("vip", 1) == '<input name="vip" id="vip" type="checkbox" value="on" checked class="toggle">'
    assert "checked" not in box.html("vip", 0)
    assert box.convert("on") is True
    assert box.convert("") is False
    with pytest.raises(ValidationError, match="Check this box"):
        Checkbox(required=True).convert("")


def test_checkbox_reads_presence() -> None:
    request = Request("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                      body=b"vip=yes")
    assert Checkbox().read(request, "vip") == "on"
    assert Checkbox().read(request, "other") == ""


def test_required_and_maxlength_attributes_are_enforced_on_the_server() -> None:
    with pytest.raises(ValidationError, match="required"):
        Entry(required=True).convert("   ")
    with pytest.raises(ValidationError, match="at most 5"):
        Entry(maxlength=5).convert("123456")


def test_file_field_html() -> None:
    html = FileField(accept=".pdf,image/*", multiple=True).html("docs")
    assert html == '<input name="docs" id="docs" type="file" accept=".pdf,image/*" multiple>'
    assert "Current file: cv.pdf" in FileField().html("cv", "cv.pdf")


def test_custom_id_is_used_for_error_hooks() -> None:
    page = Page(Entry(id="contact-name").render("name", "", "Required"))
    field = page.one("input", name="name")
    assert field["id"] == "contact-name"
    assert field["aria-describedby"] == "contact-name-error"
    assert page.text_of("span", id="contact-name-error") == "Required"


# -- Formlet flows --------------------------------------------------------------------------------

def make_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.executescript("""
        create table contact(id integer primary key, name text not null, email text unique,
                             age integer, born text, kind text, vip integer, notes text);
        insert into contact values (1, 'Ann', 'ann@example.org', 30, '1994-05-06', 'friend', 1, 'likes tea');
        insert into contact values (2, 'Bob', 'bob@example.org', null, null, 'work', 0, '');
    """)
    return db


class EditContact(Formlet):
    """The Formlet most tests drive: an sqlite3.Row record, every common element, a UNIQUE constraint."""

    title = "Contact"

    def __init__(self, db: sqlite3.Connection, contact_id: int) -> None:
        super().__init__({
            "name": Entry(lens=REQUIRED(max_length=40), label="Full name"),
            "email": Entry(type="email", lens=nullable(Test(r"[^@\s]+@[^@\s]+", error="Enter an e-mail address."))),
            "age": Entry(type="number", lens=nullable(INT(min=0, max=150))),
            "born": Entry(type="date", lens=nullable(DATE)),
            "kind": Pick(["friend", "work", "family"], required=True),
            "vip": Checkbox(),
            "notes": Memo(),
        })
        self.db = db
        self.contact_id = contact_id
        self.saved: list[dict[str, Any]] = []

    def get_native(self, request: Any) -> Any:
        row = self.db.execute("select * from contact where id=?", (self.contact_id,)).fetchone()
        if row is None:
            raise HTTPError(404, f"There is no contact {self.contact_id}.")
        return row

    def semantic_checks(self, native: dict[str, Any]) -> dict[str, str] | None:
        if native["kind"] == "work" and not native["email"]:
            return {"email": "A work contact needs an e-mail address."}
        return None

    def save(self, native: dict[str, Any], request: Any) -> Any:
        try:
            with self.db:
                self.db.execute("update contact set name=:name, email=:email, age=:age, born=:born, "
                                "kind=:kind, vip=:vip, notes=:notes where id=:id",
                                dict(native, id=self.contact_id))
        except sqlite3.IntegrityError:
            raise SaveError({"email": "Another contact has this e-mail address."}) from None
        return Response.redirect(f"/contact/{self.contact_id}")


def contact_app(db: sqlite3.Connection) -> Any:
    """A tiny dispatcher standing in for the router: /contact/N -> EditContact(N)."""
    def handler(request: Request) -> Any:
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "contact" or not parts[1].isdigit():
            raise HTTPError(404, "no such page")
        return EditContact(db, int(parts[1])).handle(request)
    return handler


def token_of(text: str) -> str:
    m = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', text)
    assert m, "the form has no CSRF token"
    return m.group(1)


GOOD = {"name": "Ann Smith", "email": "ann@example.org", "age": "31", "born": "1994-05-06",
        "kind": "friend", "vip": "on", "notes": "likes tea\r\nand cake"}


def test_get_shows_the_record() -> None:
    client = Client(contact_app(make_db()))
    r = client.get("/contact/1")
    assert r.status == 200
    page = Page(r.text)
    assert page.one("input", name="name")["value"] == "Ann"
    assert page.one("input", name="email")["value"] == "ann@example.org"
    assert page.one("input", name="age")["value"] == "30"
    assert page.one("input", name="born")["value"] == "1994-05-06"
    assert "selected" in page.one("option", value="friend")
    assert "checked" in page.one("input", name="vip")
    assert page.text_of("textarea", name="notes") == "likes tea"
    assert page.text_of("label", **{"for": "name"}) == "Full name"
    assert page.text_of("label", **{"for": "born"}) == "Born"
    assert page.one("input", name=CSRF_FIELD)["value"] == csrf_token("/contact/1")
    assert page.one("form")["method"] == "post"
    assert not page.find("input", **{"aria-invalid": "true"})


def test_get_of_missing_record_is_404() -> None:
    assert Client(contact_app(make_db())).get("/contact/99").status == 404


def test_head_works_like_get() -> None:
    r = Client(contact_app(make_db())).head("/contact/1")
    assert r.status == 200 and r.body == b""


def test_bad_post_keeps_input_and_shows_every_error() -> None:
    db = make_db()
    client = Client(contact_app(db))
    token = token_of(client.get("/contact/1").text)
    typed = {"name": "  ", "email": "not an <email>", "age": "-4", "born": "31/12/1990",
             "kind": "enemy", "notes": "  keep\r\n  my <b>spaces</b> ", CSRF_FIELD: token}
    r = client.post("/contact/1", data=typed)
    assert r.status == 422
    page = Page(r.text)
    for name in ("name", "email", "age", "born"):
        field = page.one("input", name=name)
        assert field["value"] == typed[name], name
        assert field["aria-invalid"] == "true", name
    assert page.text_of("span", id="name-error") == "This field is required."
    assert page.text_of("span", id="email-error") == "Enter an e-mail address."
    assert page.text_of("span", id="age-error") == "Enter a value of at least 0."
    assert page.text_of("span", id="born-error") == "Enter a date as YYYY-MM-DD, like 2024-03-31."
    assert page.text_of("span", id="kind-error") == "'enemy' is not one of the options; choose another."
    assert "selected" in page.one("option", value="enemy")
    assert "checked" not in page.one("input", name="vip"), "an unchecked box stays unchecked"
    assert page.text_of("textarea", name="notes") == "  keep\n  my <b>spaces</b> "
    assert page.one("input", name=CSRF_FIELD)["value"] == token
    assert db.execute("select name from contact where id=1").fetchone()[0] == "Ann", "nothing saved"


def test_semantic_checks_run_after_fields_convert() -> None:
    db = make_db()
    client = Client(contact_app(db))
    token = token_of(client.get("/contact/2").text)
    r = client.post("/contact/2", data={**GOOD, "kind": "work", "email": "", CSRF_FIELD: token})
    assert r.status == 422
    page = Page(r.text)
    assert page.text_of("span", id="email-error") == "A work contact needs an e-mail address."
    assert page.one("input", name="name")["value"] == "Ann Smith"


def test_good_post_saves_and_redirects() -> None:
    db = make_db()
    client = Client(contact_app(db))
    token = token_of(client.get("/contact/1").text)
    r = client.post("/contact/1", data={**GOOD, CSRF_FIELD: token, "vip": []})
    assert r.status == 303
    assert r.location == "/contact/1"
    row = db.execute("select * from contact where id=1").fetchone()
    assert dict(row) == {"id": 1, "name": "Ann Smith", "email": "ann@example.org", "age": 31,
                         "born": "1994-05-06", "kind": "friend", "vip": 0, "notes": "likes tea\nand cake"}
    shown = Page(client.get(r.location).text)
    assert shown.one("input", name="name")["value"] == "Ann Smith"
    assert "checked" not in shown.one("input", name="vip")


def test_blank_optional_fields_save_as_null() -> None:
    db = make_db()
    client = Client(contact_app(db))
    token = token_of(client.get("/contact/1").text)
    r = client.post("/contact/1", data={**GOOD, "email": " ", "age": "", "born": "", CSRF_FIELD: token})
    assert r.status == 303
    assert tuple(db.execute("select email, age, born from contact where id=1").fetchone()) == (None, None, None)


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


def test_test_around_a_nullable_lens_in_a_formlet_is_not_a_500() -> None:
    saved: list[dict[str, Any]] = []

    class Order(Formlet):
        def __init__(self) -> None:
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


def test_save_error_redisplays_with_its_message() -> None:
    db = make_db()
    client = Client(contact_app(db))
    token = token_of(client.get("/contact/2").text)
    r = client.post("/contact/2", data={**GOOD, "name": "Bob", "email": "ann@example.org", CSRF_FIELD: token})
    assert r.status == 422
    page = Page(r.text)
    assert page.text_of("span", id="email-error") == "Another contact has this e-mail address."
    assert page.one("input", name="email")["value"] == "ann@example.org"
    assert db.execute("select email from contact where id=2").fetchone()[0] == "bob@example.org"


def test_save_error_forms() -> None:
    assert SaveError("Disk full.").errors == {FORM_ERRORS: "Disk full."}
    assert SaveError(["One.", "Two."]).errors == {FORM_ERRORS: "One. Two."}
    assert SaveError({"": "Whole form.", "x": "Field."}).errors == {FORM_ERRORS: "Whole form.", "x": "Field."}


class Simple(Formlet):
    """A Formlet with the default layout and configurable save behaviour."""

    def __init__(self, outcome: Any = None) -> None:
        super().__init__({"title": Entry(lens=REQUIRED), "qty": Entry(type="number", lens=INT(min=1)),
                          "ref": Hidden(lens=nullable(INT))})
        self.outcome = outcome
        self.saved: list[dict[str, Any]] = []

    def get_native(self, request: Any) -> Any:
        return {"title": "Widget", "qty": 2, "ref": None}

    def save(self, native: dict[str, Any], request: Any) -> Any:
        self.saved.append(native)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def post(formlet: Formlet, data: dict[str, Any], path: str = "/item", headers: dict[str, str] | None = None,
         token: bool = True) -> Any:
    client = Client(lambda request: formlet.handle(request))
    if token:
        data = {**data, CSRF_FIELD: csrf_token(path.split("?")[0])}
    return client.post(path, data=data, headers=headers)


def test_form_wide_save_error_and_unknown_keys() -> None:
    formlet = Simple(SaveError({"title": "Taken.", "colour": "Not stocked."}))
    r = post(formlet, {"title": "Hat", "qty": "1", "ref": ""})
    assert r.status == 422
    page = Page(r.text)
    assert page.text_of("span", id="title-error") == "Taken."
    assert page.text_of("p", role="alert") == "colour: Not stocked."


def test_save_returning_none_redirects_back() -> None:
    formlet = Simple(None)
    r = post(formlet, {"title": "Hat", "qty": "3", "ref": "7"}, path="/item?x=1")
    assert r.status == 303 and r.location == "/item?x=1"
    assert formlet.saved == [{"title": "Hat", "qty": 3, "ref": 7}]


def test_missing_save_is_a_clear_500() -> None:
    class NoSave(Formlet):
        def __init__(self) -> None:
            super().__init__({"a": Entry()})

    r = post(NoSave(), {"a": "x"})
    assert r.status == 500
    assert "NoSave.save(native, request) is not written" in r.text


def test_semantic_checks_may_raise_validation_error() -> None:
    class Range(Formlet):
        def __init__(self) -> None:
            super().__init__({"low": Entry(lens=INT), "high": Entry(lens=INT)})

        def semantic_checks(self, native: dict[str, Any]) -> None:
            if native["low"] > native["high"]:
                raise ValidationError("Low must not exceed high.")

        def save(self, native: dict[str, Any], request: Any) -> Any:
            return Response.redirect("/ok")

    r = post(Range(), {"low": "5", "high": "1"})
    assert r.status == 422
    assert Page(r.text).text_of("p", role="alert") == "Low must not exceed high."
    assert post(Range(), {"low": "1", "high": "5"}).status == 303


class Booking(Formlet):
    """Cross-field rules: the end after the start, a room free on that day (needs the day and the room)."""

    def __init__(self) -> None:
        super().__init__({"day": Entry(lens=DATE), "starts": Entry(lens=INT(min=0, max=23)),
                          "ends": Entry(lens=INT(min=0, max=24)), "room": Entry(lens=REQUIRED)})
        self.seen: list[dict[str, Any]] = []

    def semantic_checks(self, native: ConvertedValues) -> dict[str, str]:
        self.seen.append(dict(native))
        errors = {}
        # Each rule runs when its own fields converted...
        if native.converted("starts", "ends") and native["ends"] <= native["starts"]:
            errors["ends"] = "The end must be after the start."
        if native.converted("day") and native["day"].weekday() == 6:
            errors["day"] = "Closed on Sundays."
        # ...but an unguarded read of a field that did not convert skips the whole check.
        if native["room"] == "Attic":
            errors["room"] = "The attic is closed."
        return errors

    def save(self, native: dict[str, Any], request: Any) -> Any:
        return Response.redirect("/booked")


def test_cross_field_rules_run_with_the_field_errors_when_their_fields_converted() -> None:
    # 'day' does not convert; the start/end rule and the room rule still run, in the same round.
    formlet = Booking()
    r = post(formlet, {"day": "tomorrow", "starts": "14", "ends": "9", "room": "Attic"})
    assert r.status == 422
    page = Page(r.text)
    assert page.text_of("span", id="day-error").startswith("Enter a date")
    assert page.text_of("span", id="ends-error") == "The end must be after the start."
    assert page.text_of("span", id="room-error") == "The attic is closed."
    assert formlet.seen == [{"starts": 14, "ends": 9, "room": "Attic"}]     # only what converted


def test_a_rule_whose_field_failed_is_skipped_and_the_field_keeps_its_own_error() -> None:
    r = post(Booking(), {"day": "2030-01-06", "starts": "late", "ends": "9", "room": "Hall"})
    page = Page(r.text)
    assert page.text_of("span", id="starts-error").startswith("Enter a whole number")
    assert 'id="ends-error"' not in r.text                     # the start/end rule could not run
    assert page.text_of("span", id="day-error") == "Closed on Sundays."
    # All fields fine but the rules: every rule's message at once.
    page = Page(post(Booking(), {"day": "2030-01-06", "starts": "14", "ends": "9", "room": "Attic"}).text)
    assert [page.text_of("span", id=f"{name}-error") for name in ("day", "ends", "room")] == [
        "Closed on Sundays.", "The end must be after the start.", "The attic is closed."]
    assert post(Booking(), {"day": "2030-01-07", "starts": "9", "ends": "14", "room": "Hall"}).status == 303


def test_an_unguarded_read_of_a_field_that_did_not_convert_skips_the_whole_check() -> None:
    r = post(Booking(), {"day": "2030-01-06", "starts": "14", "ends": "9", "room": " "})
    assert r.status == 422
    assert Page(r.text).text_of("span", id="room-error") == "This field is required."
    assert 'id="day-error"' not in r.text and 'id="ends-error"' not in r.text


def test_converted_values_refuse_reads_of_fields_that_did_not_convert() -> None:
    values = ConvertedValues({"a": 1}, failed=["b"])
    assert values["a"] == 1 and values.get("c", 5) == 5 and values.converted("a") and not values.converted("a", "b")
    with pytest.raises(KeyError):
        values["c"]
    for read in (lambda: values["b"], lambda: values.get("b")):
        with pytest.raises(Exception) as error:
            read()
        assert not isinstance(error.value, KeyError), "a KeyError would be caught like a missing key"
    assert dict(values) == {"a": 1}


def test_a_validation_error_from_the_rules_joins_the_field_errors() -> None:
    class Range(Formlet):
        def __init__(self) -> None:
            super().__init__({"low": Entry(lens=INT), "high": Entry(lens=INT), "note": Entry(lens=REQUIRED)})

        def semantic_checks(self, native: dict[str, Any]) -> None:
            if native["low"] > native["high"]:
                raise ValidationError("Low must not exceed high.")

        def save(self, native: dict[str, Any], request: Any) -> Any:
            return Response.redirect("/ok")

    page = Page(post(Range(), {"low": "5", "high": "1", "note": ""}).text)
    assert page.text_of("p", role="alert") == "Low must not exceed high."
    assert page.text_of("span", id="note-error") == "This field is required."


def test_the_default_page_links_kalis_stylesheet_and_shows_flash_messages() -> None:
    from kali.flash import flash
    from kali.reserved import asset_url

    formlet = Simple(None)
    client = Client(lambda request: formlet.handle(request))
    page = client.get("/item").text
    assert f'<link rel="stylesheet" href="{asset_url("kali.css")}">' in page
    assert "<style>" not in page, "the look comes from the shipped stylesheet"
    assert '<header class="bar"><a class="brand" href="/">' in page

    def flashing(request: Request) -> Any:
        if request.path == "/done":
            return flash(Response.redirect("/item"), "Hat saved.", "success")
        return formlet.handle(request)

    client = Client(flashing)
    client.get("/done")
    assert '<p class="flash success">Hat saved.</p>' in client.get("/item").text
    assert "Hat saved." not in client.get("/item").text


def test_default_layout_labels_and_hidden() -> None:
    r = Client(Simple().handle).get("/item")
    page = Page(r.text)
    assert page.text_of("label", **{"for": "qty"}) == "Qty"
    assert page.one("input", name="ref")["type"] == "hidden"
    assert page.find("button", type="submit")
    assert "<title>Form</title>" in r.text


def test_custom_display_gets_fields_and_errors() -> None:
    seen: dict[str, Any] = {}

    class Custom(Simple):
        def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
            seen.update(fields=fields, errors=errors, request=self.request)
            return ["<form method=POST action='/item'>", fields["title"], fields["qty"], "</form>",
                    "<form method=get action=/search></form>",
                    "<form method=post action='http://evil.example/steal'></form>",
                    "<script>var s = '<form method=post>';</script>"]

    r = post(Custom(), {"title": "", "qty": "0"})
    assert r.status == 422
    assert seen["errors"] == {"title": "This field is required.", "qty": "Enter a value of at least 1."}
    assert set(seen["fields"]) == {"title", "qty", "ref"}
    assert seen["request"].method == "POST"
    assert r.text.count(CSRF_FIELD) == 1, "only the post form aimed at this server gets a token"
    assert r.text.startswith(f"<form method=POST action='/item'>{csrf_input('/item')}")


def test_display_may_return_a_response() -> None:
    class WithResponse(Simple):
        def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
            return Response(["<form method=post>", fields["title"], "</form>"], code=200,
                            headers={"X-Form": "yes"})

    r = Client(WithResponse().handle).get("/item")
    assert r.headers["x-form"] == "yes"
    assert csrf_input("/item") in r.text


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


def test_methods_other_than_get_and_post_are_405() -> None:
    r = Client(Simple().handle).put("/item", data={"title": "x"})
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD, POST"


def test_formlet_refuses_bad_element_tables() -> None:
    with pytest.raises(TypeError, match=r"field 'qty' must be a form element.*Entry\(lens=INT\)"):
        Formlet({"qty": INT})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="reserved"):
        Formlet({CSRF_FIELD: Entry()})


def test_formlet_reads_objects_and_dicts_as_records() -> None:
    class Record:
        title = "From an object"
        qty = 5

    class ObjectRecord(Simple):
        def get_native(self, request: Any) -> Any:
            return Record()

    page = Page(Client(ObjectRecord().handle).get("/item").text)
    assert page.one("input", name="title")["value"] == "From an object"
    assert page.one("input", name="ref")["value"] == "", "absent fields show blank"


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


# -- CSRF -------------------------------------------------------------------------------------------

def test_tokens_are_bound_to_the_path() -> None:
    assert verify_csrf_token(csrf_token("/a"), "/a")
    assert not verify_csrf_token(csrf_token("/a"), "/b")
    assert not verify_csrf_token("", "/a")
    assert not verify_csrf_token(None, "/a")
    assert not verify_csrf_token("ünïcödé", "/a"), "non-ASCII tokens are refused, not a crash"


def test_forged_cross_site_post_is_refused() -> None:
    formlet = Simple(Response.redirect("/ok"))
    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                    {"Origin": "https://evil.example"},
                    {"Referer": "https://evil.example/page"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:8080"}):
        r = post(formlet, {"title": "Hat", "qty": "1"}, headers=headers)
        assert r.status == 403, headers
        assert "nothing was saved" in r.text
        assert "go back" in r.text
    assert formlet.saved == [], "a forged request never reaches save"


def test_same_site_post_is_accepted() -> None:
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"},
                    {"Origin": "http://127.0.0.1:8080"},
                    {"Referer": "http://127.0.0.1:8080/item"},
                    {}):
        formlet = Simple(Response.redirect("/ok"))
        r = post(formlet, {"title": "Hat", "qty": "1"}, headers=headers)
        assert r.status == 303, headers
        assert formlet.saved == [{"title": "Hat", "qty": 1, "ref": None}]


@pytest.mark.parametrize("token", [None, "", "wrong", csrf_token("/other")])
def test_missing_or_wrong_token_is_refused_with_input_kept(token: str | None) -> None:
    formlet = Simple(Response.redirect("/ok"))
    data = {"title": "My <precious> text", "qty": "1"}
    if token is not None:
        data[CSRF_FIELD] = token
    r = post(formlet, data, token=False, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status == 403
    assert formlet.saved == []
    page = Page(r.text)
    assert page.one("input", name="title")["value"] == "My <precious> text"
    assert "nothing was saved" in page.text_of("p", role="alert")
    assert page.one("input", name=CSRF_FIELD)["value"] == csrf_token("/item"), "a fresh token to resubmit with"
    again = post(formlet, {"title": "My <precious> text", "qty": "1"})
    assert again.status == 303


def test_token_works_with_multipart_forms() -> None:
    formlet = Simple(Response.redirect("/ok"))
    client = Client(formlet.handle)
    r = client.post("/item", data={"title": "Hat", "qty": "2", CSRF_FIELD: csrf_token("/item")},
                    files={"unused": ("a.txt", b"x", "text/plain")})
    assert r.status == 303


def test_opting_out() -> None:
    class Api(Simple):
        csrf_protect = False

    formlet = Api(Response.redirect("/ok"))
    r = post(formlet, {"title": "Hat", "qty": "1"}, token=False, headers={"Origin": "https://other.example"})
    assert r.status == 303
    assert CSRF_FIELD not in Client(Api().handle).get("/item").text


def test_add_csrf_tokens_resolves_relative_actions() -> None:
    request = Request("GET", "/contacts/3/edit?x=1", headers={"host": "127.0.0.1:8080"})
    page = ('<form method="post" action="../delete">'
            '<FORM METHOD=POST action="http://127.0.0.1:8080/a%20b">'
            '<!-- <form method=post> -->'
            '<form method=post action="//evil.example/x">')
    out = add_csrf_tokens(page, request)
    assert csrf_input("/contacts/delete") in out
    assert csrf_input("/a b") in out
    assert out.count(CSRF_FIELD) == 2


def test_opting_out_marks_the_class_like_allow_cross_site_requests() -> None:
    from kali.security import has_cross_site_mark

    class Api(Simple):
        csrf_protect = False

    assert has_cross_site_mark(Api)
    assert not has_cross_site_mark(Simple)


# -- through the real Router and the security wrapper ------------------------------------------------

def routed_app(db: sqlite3.Connection) -> Any:
    from kali.routing import Router

    app = Router()

    @app.servlet("/contact/*")
    class RoutedContact(EditContact):
        def __init__(self, contact_id: int) -> None:
            super().__init__(db, contact_id)

    return app


def test_formlet_through_the_router() -> None:
    db = make_db()
    client = Client(routed_app(db))
    r = client.get("/contact/2")
    assert r.status == 200
    assert Page(r.text).one("input", name="name")["value"] == "Bob"
    assert client.head("/contact/2").status == 200
    token = token_of(r.text)
    bad_post = client.post("/contact/2", data={**GOOD, "age": "old", CSRF_FIELD: token})
    assert bad_post.status == 422
    assert Page(bad_post.text).one("input", name="age")["value"] == "old"
    good_post = client.post("/contact/2", data={**GOOD, "email": "bob@example.org", CSRF_FIELD: token},
                            follow_redirects=True)
    assert good_post.status == 200
    assert good_post.history[0].location == "/contact/2"
    assert Page(good_post.text).one("input", name="name")["value"] == "Ann Smith"
    assert client.post("/contact/1", data={**GOOD, CSRF_FIELD: token}).status == 403, "token is per path"
    assert client.get("/contact/99").status == 404


def test_formlet_behind_the_security_wrapper() -> None:
    from kali.security import secure

    db = make_db()
    client = Client(secure(routed_app(db)))
    token = token_of(client.get("/contact/1").text)
    same = client.post("/contact/1", data={**GOOD, CSRF_FIELD: token},
                       headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"})
    assert same.status == 303
    forged = client.post("/contact/1", data={**GOOD, "name": "Mallory", CSRF_FIELD: token},
                         headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    assert forged.status == 403
    assert db.execute("select name from contact where id=1").fetchone()[0] == "Ann Smith"


def test_display_with_a_kali_template() -> None:
    from kali.templates import Template

    page = Template('<h1>{title}</h1><form method="post">'
                    '<!--{if errors._form}--><p role="alert">{errors._form}</p><!--{end}-->'
                    '<label>Title {.fields.title}</label><label>Qty {.fields.qty}</label>{.fields.ref}'
                    '<button>Save</button></form>')

    class Templated(Simple):
        def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
            return page(title="Item <1>", fields=fields, errors=errors)

    r = post(Templated(SaveError("Out of stock & gone.")), {"title": "Hat & co", "qty": "2"})
    assert r.status == 422
    shown = Page(r.text)
    assert shown.one("input", name="title")["value"] == "Hat & co"
    assert shown.text_of("p", role="alert") == "Out of stock & gone."
    assert "<h1>Item &lt;1&gt;</h1>" in r.text
    assert shown.one("input", name=CSRF_FIELD)["value"] == csrf_token("/item")


def test_protection_can_be_turned_back_on_in_a_subclass() -> None:
    from kali.security import has_cross_site_mark

    class Api(Simple):
        csrf_protect = False

    class Strict(Api):
        csrf_protect = True

    assert has_cross_site_mark(Api) and not has_cross_site_mark(Strict)
    r = post(Strict(Response.redirect("/ok")), {"title": "Hat", "qty": "1"}, token=False)
    assert r.status == 403
