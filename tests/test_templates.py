"""Tests for kali.templates: the language, escaping, extension, Python-side loops and error messages."""

from __future__ import annotations

import collections
import datetime
import decimal
import html.parser
import sqlite3
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kali.iolist import to_bytes

from kali import templates
from kali.templates import (
    Template,
    TemplateError,
    TemplateLoop,
    TemplateRuntimeError,
    escape,
    register_formatter,
)


def flatten(iolist) -> str:
    """The text an iolist stands for, walked by the same code the server uses."""
    return to_bytes(iolist).decode("utf-8")


def render(text: str, **params) -> str:
    return flatten(Template(text)(**params))


def load_error(text: str, **kwargs) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        Template(text, **kwargs)
    assert not isinstance(info.value, TemplateRuntimeError)
    return info.value


def runtime_error(template: Template, **params) -> TemplateRuntimeError:
    with pytest.raises(TemplateRuntimeError) as info:
        template(**params)
    return info.value


# ---------------------------------------------------------------- escaping


def test_escape_text_and_attribute_characters():
    assert escape("<script>alert('x') & \"y\"</script>") == (
        "&lt;script&gt;alert(&#39;x&#39;) &amp; &#34;y&#34;&lt;/script&gt;"
    )


def test_escape_leaves_ordinary_and_non_ascii_text_alone():
    text = "Zürich, São Paulo, 大阪, emoji 🎉"
    assert escape(text) is text


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ""),
        (42, "42"),
        (-1.5, "-1.5"),
        (True, "True"),
        (b"<b>caf\xc3\xa9</b>", "&lt;b&gt;café&lt;/b&gt;"),
        (["<a>", ("&", ["'"]), None, 7], "&lt;a&gt;&amp;&#39;7"),
        (decimal.Decimal("1.50"), "1.50"),
    ],
)
def test_escape_other_values(value, expected):
    assert escape(value) == expected


def test_escape_generator_and_str_subclass_and_objects():
    class Shout(str):
        pass

    class Thing:
        def __str__(self):
            return "<thing>"

    assert escape(piece for piece in ["<", ">"]) == "&lt;&gt;"
    assert escape(Shout("<b>")) == "&lt;b&gt;"
    assert escape(Thing()) == "&lt;thing&gt;"


def test_placeholder_escapes_script_in_text():
    out = render("<p>{comment}</p>", comment="<script>alert(1)</script>")
    assert out == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_placeholder_escapes_both_quote_kinds_in_attributes():
    out = render("<input value=\"{v}\" title='{v}'>", v="a\"b'c")
    assert out == "<input value=\"a&#34;b&#39;c\" title='a&#34;b&#39;c'>"


def test_non_ascii_passes_through():
    assert render("<p>{city}</p>", city="Reykjavík – 東京") == "<p>Reykjavík – 東京</p>"


def test_list_value_in_escaped_placeholder_is_escaped_piece_by_piece():
    assert render("{x}", x=["<b>", ["bold"], "</b>"]) == "&lt;b&gt;bold&lt;/b&gt;"


def test_raw_placeholder_inserts_markup_unescaped():
    assert render("<div>{.body}</div>", body="<b>trusted</b>") == "<div><b>trusted</b></div>"


def test_raw_placeholder_nests_an_iolist_without_joining():
    inner = Template("<li>{name}</li>")(name="<x>")
    out = Template("<ul>{.items}</ul>")(items=inner)
    assert any(piece is inner for piece in out)
    assert flatten(out) == "<ul><li>&lt;x&gt;</li></ul>"


def test_render_returns_a_list_iolist():
    out = Template("a{x}b")(x="y")
    assert isinstance(out, list)
    assert all(isinstance(piece, (str, list)) for piece in out)


def test_none_renders_as_nothing_everywhere():
    t = Template("[{a}][{.a}][{a:cents}][{.a:cents}][{b.c}][{b.0}]")
    assert flatten(t(a=None, b=None)) == "[][][][][][]"


def test_numbers_render_with_str():
    assert render("{a} {b}", a=1234, b=2.5) == "1234 2.5"


def test_extra_parameters_are_ignored():
    assert render("{a}", a=1, unused="<x>") == "1"


def test_parameters_lists_what_the_template_needs():
    t = Template("{a}<!--{for r in rows}-->{r.x}{b}<!--{end}-->{a}")
    assert t.parameters == ("a", "rows", "b")


def test_parameter_named_self_and_keywords_work():
    assert render("{self}{class}", **{"self": 1, "class": 2}) == "12"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_string_parameter_comes_out_escaped(value):
    template = Template("<p title=\"{v}\" data-v='{v}'>{v}</p>")
    out = flatten(template(v=value))
    escaped = escape(value)
    assert not set("<>\"'") & set(escaped)
    assert out == f"<p title=\"{escaped}\" data-v='{escaped}'>{escaped}</p>"

    class Collector(html.parser.HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.tags, self.data = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_startendtag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_endtag(self, tag):
            self.tags.append(("/" + tag, None))

        def handle_data(self, data):
            self.data.append(data)

    parser = Collector()
    parser.feed(out)
    parser.close()
    # Exactly the template's one element, its attributes holding the value verbatim.
    assert [tag for tag, _ in parser.tags] == ["p", "/p"]
    expected = value.replace("\r\n", "\n").replace("\r", "\n")
    attrs = dict(parser.tags[0][1])
    assert attrs["title"].replace("\r\n", "\n").replace("\r", "\n") == expected
    assert attrs["data-v"].replace("\r\n", "\n").replace("\r", "\n") == expected


@given(st.text())
def test_escape_round_trips_through_html_unescape(value):
    import html as html_module

    escaped = escape(value)
    assert html_module.unescape(escaped) == value
    assert not set("<>\"'") & set(escaped)


# ---------------------------------------------------------------- lookups


def test_item_and_attribute_access():
    @dataclass
    class Book:
        title: str

    Point = collections.namedtuple("Point", "x y")
    t = Template("{d.k} {o.title} {p.x} {p.1} {seq.0} {deep.a.0.title}")
    out = flatten(t(d={"k": "dict"}, o=Book("obj"), p=Point(1, 2), seq=["first"], deep={"a": [Book("deep")]}))
    assert out == "dict obj 1 2 first deep"


def test_sqlite_rows_by_name_and_index():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    row = db.execute("select 'A & B' as title, 3 as qty").fetchone()
    assert render("{row.title}|{row.qty}|{row.0}|{row.TITLE}", row=row) == "A &amp; B|3|A &amp; B|A &amp; B"
    db.close()


def test_sqlite_row_in_a_loop_and_missing_column():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    rows = db.execute("select 1 as id union all select 2").fetchall()
    t = Template("<!--{for r in rows}-->[{r.id}]<!--{end}-->", name="rows.tpl")
    assert flatten(t(rows=rows)) == "[1][2]"
    error = runtime_error(Template("{r.nope}", name="r.tpl"), r=rows[0])
    assert "r.tpl:1:1" in str(error) and "{r.nope}" in str(error) and "'nope'" in str(error)
    db.close()


def test_mapping_item_first_then_attribute():
    class Record(collections.UserDict):
        label = "from attribute"

    record = Record(title="from item")
    assert render("{r.title} / {r.label}", r=record) == "from item / from attribute"


def test_object_with_getitem_but_no_keys_uses_attributes():
    class Weird:
        name = "attr"

        def __getitem__(self, key):
            raise AssertionError("must not be called for a non-mapping")

    assert render("{w.name}", w=Weird()) == "attr"


def test_missing_item_is_an_error_with_location():
    t = Template("line 1\n  <b>{user.nmae}</b>", name="user.tpl")
    error = runtime_error(t, user={"name": "x"})
    assert error.file == "user.tpl" and error.line == 2 and error.col == 6
    assert error.parameter == "user.nmae"
    assert "{user.nmae}" in str(error)
    assert isinstance(error.__cause__, KeyError)


# ---------------------------------------------------------------- formatters


@pytest.mark.parametrize(
    "fmt, value, expected",
    [
        ("num", 1234567, "1,234,567"),
        ("num", -1234.5, "-1,234.5"),
        ("num", 12, "12"),
        ("num", decimal.Decimal("1234.50"), "1,234.50"),
        ("cents", 1234.5, "1,234.50"),
        ("cents", 0, "0.00"),
        ("cents", decimal.Decimal("9999999.999"), "10,000,000.00"),
        ("date", datetime.date(2024, 3, 9), "2024-03-09"),
        ("date", datetime.datetime(2024, 3, 9, 17, 30), "2024-03-09"),
        ("date", "2024-03-09", "2024-03-09"),
        ("date", "2024-03-09 17:30:00", "2024-03-09"),
    ],
)
def test_builtin_formatters(fmt, value, expected):
    assert render("{x:%s}" % fmt, x=value) == expected


@pytest.mark.parametrize(
    "fmt, value",
    [("num", "12"), ("num", True), ("cents", "1.5"), ("date", "09/03/2024"), ("date", "2024-02-30"), ("date", 1700000000)],
)
def test_builtin_formatters_reject_bad_values_with_location(fmt, value):
    t = Template("<td>\n{x:%s}</td>" % fmt, name="money.tpl")
    error = runtime_error(t, x=value)
    assert error.file == "money.tpl" and error.line == 2
    assert f"formatter '{fmt}' failed on {{x:{fmt}}}" in str(error)
    assert error.parameter == "x"


def test_formatter_output_is_escaped_unless_raw():
    shout = {"shout": lambda s: f"<{s.upper()}>"}
    assert flatten(Template("{x:shout}|{.x:shout}", formatters=shout)(x="hi")) == "&lt;HI&gt;|<HI>"


def test_formatter_not_called_for_none():
    def boom(value):
        raise AssertionError("called")

    assert flatten(Template("[{x:boom}]", formatters={"boom": boom})(x=None)) == "[]"


@pytest.fixture
def global_formatter():
    name = "test_upper_case"
    register_formatter(name, str.upper)
    yield name
    templates._FORMATTERS.pop(name, None)


def test_register_formatter_globally(global_formatter):
    assert render("{x:%s}" % global_formatter, x="<a>") == "&lt;A&gt;"


def test_template_formatter_overrides_global(global_formatter):
    t = Template("{x:%s}" % global_formatter, formatters={global_formatter: str.lower})
    assert flatten(t(x="AbC")) == "abc"


def test_register_formatter_validates_arguments():
    with pytest.raises(ValueError):
        register_formatter("not a name", str)
    with pytest.raises(TypeError):
        register_formatter("fine", "not callable")
    with pytest.raises(ValueError):
        Template("x", formatters={"1bad": str})


def test_formatter_that_raises_names_placeholder_file_and_line():
    def fragile(value):
        raise ValueError("no good")

    t = Template("a\nb\n  {price:fragile}", name="shop.tpl", formatters={"fragile": fragile})
    error = runtime_error(t, price=3)
    assert str(error).splitlines()[0] == "shop.tpl:3:3: formatter 'fragile' failed on {price:fragile}: ValueError: no good"
    assert isinstance(error.__cause__, ValueError)


# ---------------------------------------------------------------- braces


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{name}", "{name}"),
        ("{{", "{"),
        ("}", "}"),
        ("}}", "}}"),
        ("a { color: red }", "a { color: red }"),
        ("if (x) { go(); }", "if (x) { go(); }"),
        ("{0} {'a': 1} {}", "{0} {'a': 1} {}"),
        ("{\n}", "{\n}"),
    ],
)
def test_literal_braces(text, expected):
    assert render(text) == expected


def test_brace_after_placeholder():
    assert render("{x}}", x=1) == "1}"


def test_inline_style_and_script_need_no_escaping():
    text = "<style>\np { margin: 0 }\n</style><script>function f() { return { a: 1 }; }</script>{x}"
    assert render(text, x="<") == text.replace("{x}", "&lt;")


def test_brace_before_a_name_must_be_a_placeholder():
    # Never silently literal: the message says how to write a literal brace.
    error = load_error("<script>let o = {a: 1};</script>")
    assert "bad placeholder '{a: 1}'" in error.message and "write '{{'" in error.message
    assert render("<script>let o = {{a: 1};</script>") == "<script>let o = {a: 1};</script>"


# ---------------------------------------------------------------- conditionals


def test_if_shows_section_when_truthy():
    t = Template("<!--{if flag}-->yes<!--{end}-->.")
    assert flatten(t(flag=True)) == "yes."
    assert flatten(t(flag=[])) == "."
    assert flatten(t(flag=None)) == "."


def test_if_not_and_otherwise():
    t = Template("<!--{if not user}-->log in<!--{otherwise}-->hi {user.name}<!--{end}-->")
    assert flatten(t(user=None)) == "log in"
    assert flatten(t(user={"name": "Ann"})) == "hi Ann"


def test_if_on_a_dotted_path_inside_a_loop():
    t = Template("<!--{for r in rows}--><!--{if r.done}-->[x]<!--{otherwise}-->[ ]<!--{end}--><!--{end}-->")
    assert flatten(t(rows=[{"done": 1}, {"done": 0}])) == "[x][ ]"


@pytest.mark.parametrize("row, expected", [
    ({0: "x"}, "yes x"),          # a dict keyed by numbers (e.g. a {column index: value} map)
    (("a",), "yes a"),
    ([], "no"),
    ({}, "no"),
    (None, "no"),
])
def test_condition_on_a_number_part_matches_the_placeholder(row, expected):
    template = Template("<!--{if row.0}-->yes {row.0}<!--{otherwise}-->no<!--{end}-->")
    assert flatten(template(row=row)) == expected


def test_parameter_used_only_in_untaken_branch_is_still_required():
    t = Template("<!--{if editing}-->{record.title}<!--{end}-->", name="form.tpl")
    error = runtime_error(t, editing=False)
    assert error.parameter == "record" and "missing parameter 'record'" in str(error)
    assert flatten(t(editing=False, record=None)) == ""


# ---------------------------------------------------------------- loops

LIST_PAGE = """\
<h1>{title}</h1>
<!--{for row in rows}-->
<table>
<!--{each}-->
  <tr><td>{row.name}</td><td>{row.qty:num}</td></tr>
<!--{after}-->
</table>
<!--{otherwise}-->
<p>No {what} yet.</p>
<!--{end}-->
<p>end</p>
"""


def test_loop_with_preamble_body_epilogue():
    out = render(LIST_PAGE, title="Stock", what="items", rows=[{"name": "<nail>", "qty": 1500}, {"name": "bolt", "qty": 2}])
    assert out == (
        "<h1>Stock</h1>\n<table>\n"
        "  <tr><td>&lt;nail&gt;</td><td>1,500</td></tr>\n"
        "  <tr><td>bolt</td><td>2</td></tr>\n"
        "</table>\n<p>end</p>\n"
    )


@pytest.mark.parametrize("empty", [[], (), None, iter([]), (x for x in [])])
def test_loop_otherwise_when_empty(empty):
    out = render(LIST_PAGE, title="Stock", what="<items>", rows=empty)
    assert out == "<h1>Stock</h1>\n<p>No &lt;items&gt; yet.</p>\n<p>end</p>\n"


def test_loop_over_a_generator_consumes_it_once():
    rows = ({"name": n, "qty": i} for i, n in enumerate("ab"))
    out = render(LIST_PAGE, title="t", what="w", rows=rows)
    assert out.count("<tr>") == 2 and "<table>" in out and "</table>" in out


def test_loop_body_only():
    assert render("<!--{for x in xs}-->({x})<!--{end}-->", xs=["a", "<"]) == "(a)(&lt;)"


def test_loop_without_each_but_with_after_and_otherwise():
    t = Template("<!--{for x in xs}-->{x},<!--{after}-->.<!--{otherwise}-->none<!--{end}-->")
    assert flatten(t(xs=[1, 2])) == "1,2,."
    assert flatten(t(xs=[])) == "none"


def test_loop_variable_shadows_parameter_and_outer_names_are_visible():
    t = Template("{x}<!--{for x in xs}-->[{x}{sep}]<!--{end}-->{x}")
    assert flatten(t(x="outer", xs=["a", "b"], sep="|")) == "outer[a|][b|]outer"


def test_preamble_and_epilogue_see_outer_names_not_the_item():
    t = Template("<!--{for x in xs}-->{x}:<!--{each}-->{x}<!--{after}-->:{x}<!--{end}-->")
    assert flatten(t(x="O", xs=[1, 2])) == "O:12:O"


def test_nested_loops_and_sections():
    t = Template(
        "<!--{for g in groups}-->"
        "<h2>{g.name}</h2>"
        "<!--{for item in g.items}--><ul><!--{each}--><li>{item}{g.name}</li><!--{after}--></ul>"
        "<!--{otherwise}--><p>empty</p><!--{end}-->"
        "<!--{end}-->"
    )
    groups = [{"name": "A", "items": ["1", "2"]}, {"name": "B", "items": []}]
    assert flatten(t(groups=groups)) == "<h2>A</h2><ul><li>1A</li><li>2A</li></ul><h2>B</h2><p>empty</p>"


def test_empty_sections_are_allowed():
    t = Template("<!--{for x in xs}--><!--{each}--><!--{after}--><!--{otherwise}--><!--{end}--><!--{if x}--><!--{end}-->")
    assert flatten(t(xs=[1], x=1)) == ""


def test_directive_alone_on_its_line_leaves_no_blank_line():
    text = "<ul>\n  <!--{for x in xs}-->\n  <li>{x}</li>\n  <!--{end}-->\n</ul>\n"
    assert render(text, xs=[1, 2]) == "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n"


def test_directive_spaces_inside_braces_are_fine():
    assert render("<!--{ if  x }-->y<!--{ end }-->", x=1) == "y"


def test_loop_over_non_iterable_names_file_and_line():
    t = Template("\n\n<!--{for r in rows}-->{r}<!--{end}-->", name="list.tpl")
    error = runtime_error(t, rows=5)
    assert str(error).startswith("list.tpl:3:1: cannot loop over 'rows': TypeError")


# ---------------------------------------------------------------- TemplateLoop


def test_template_loop_python_api():
    loop = TemplateLoop(
        body="<li>{row.name} {unit}</li>",
        preamble="<ul class=\"{cls}\">",
        epilogue="</ul>",
        otherwise="<p>No {unit}.</p>",
    )
    rows = [{"name": "a&b"}, {"name": "c"}]
    assert flatten(loop(rows=rows, unit="kg", cls="x")) == '<ul class="x"><li>a&amp;b kg</li><li>c kg</li></ul>'
    assert flatten(loop(rows=[], unit="kg", cls="x")) == "<p>No kg.</p>"
    assert isinstance(loop, Template)


def test_template_loop_custom_names_and_template_parts():
    loop = TemplateLoop(Template("<td>{cell}</td>"), item="cell", items="cells")
    assert flatten(loop(cells=["<", 2])) == "<td>&lt;</td><td>2</td>"


def test_template_loop_output_nests_into_a_page():
    loop = TemplateLoop("<li>{row}</li>", preamble="<ul>", epilogue="</ul>")
    page = Template("<body>{.list}</body>")
    assert flatten(page(list=loop(rows=["x"]))) == "<body><ul><li>x</li></ul></body>"


def test_template_loop_rejects_bad_names_and_parts():
    with pytest.raises(ValueError):
        TemplateLoop("x", item="not a name")
    with pytest.raises(TypeError):
        TemplateLoop(42)
    with pytest.raises(TemplateError):
        TemplateLoop("{oops")


def test_template_loop_errors_name_the_loop():
    loop = TemplateLoop("<li>{row.x}</li>", name="rows loop")
    error = runtime_error(loop, rows=[{}])
    assert error.file == "rows loop [body]" and "{row.x}" in str(error)
    error = runtime_error(loop, rows=3)
    assert error.file == "rows loop" and "cannot loop over 'rows'" in str(error)


# ---------------------------------------------------------------- extension and inclusion

BASE = """\
<html><title><!--{slot title}-->Site<!--{end}--></title>
<h1><!--{slot title}-->Site<!--{end}--></h1>
<main><!--{slot body}-->(empty)<!--{end}--></main>
<footer><!--{slot footer}-->(c) {year}<!--{end}--></footer></html>
"""


def test_base_renders_its_defaults():
    assert "<main>(empty)</main>" in render(BASE, year=2024)


def test_extension_fills_slots_and_keeps_defaults():
    base = Template(BASE, name="base")
    child = Template(
        "<!--{extends base}-->\n<!--{slot title}-->Users & {who}<!--{end}-->\n<!--{slot body}--><p>{who}</p><!--{end}-->\n",
        templates={"base": base},
    )
    out = flatten(child(who="<ann>", year=2024))
    assert out == (
        "<html><title>Users & &lt;ann&gt;</title>\n<h1>Users & &lt;ann&gt;</h1>\n"
        "<main><p>&lt;ann&gt;</p></main>\n<footer>(c) 2024</footer></html>\n"
    )


def test_extension_chain_of_three_with_super_and_new_slots():
    base = Template(BASE, name="base")
    section = Template(
        "<!--{extends base}-->"
        "<!--{slot title}-->Admin - <!--{super}--><!--{end}-->"
        "<!--{slot body}--><nav>menu</nav><!--{slot content}-->nothing<!--{end}--><!--{end}-->",
        templates={"base": base},
    )
    page = Template(
        "<!--{extends section}-->"
        "<!--{slot title}-->Users | <!--{super}--><!--{end}-->"
        "<!--{slot content}--><!--{for u in users}--><i>{u}</i><!--{end}--><!--{end}-->",
        templates={"section": section},
    )
    out = flatten(page(users=["a", "b"], year=1))
    assert "<title>Users | Admin - Site</title>" in out
    assert "<main><nav>menu</nav><i>a</i><i>b</i></main>" in out
    assert flatten(section(year=1)).count("nothing") == 1


def test_extension_chain_of_any_depth():
    tree = {"t0": Template("[<!--{slot s}-->0<!--{end}-->]", name="t0")}
    for depth in range(1, 30):
        tree[f"t{depth}"] = Template(
            f"<!--{{extends t{depth - 1}}}--><!--{{slot s}}--><!--{{super}}-->{depth % 10}<!--{{end}}-->",
            templates=tree,
        )
    assert flatten(tree["t29"]()) == "[" + "".join(str(d % 10) for d in range(30)) + "]"


def test_extend_method_with_text_and_templates():
    base = Template(BASE, name="base.tpl")
    page = base.extend(title="Hello {name}", body=Template("<p>{name}</p>"), footer="<!--{super}--> + more")
    out = flatten(page(name="<n>", year=2))
    assert "<title>Hello &lt;n&gt;</title>" in out and "<main><p>&lt;n&gt;</p></main>" in out
    assert "<footer>(c) 2 + more</footer>" in out
    assert set(page.parameters) == {"name", "year"}


def test_extend_method_rejects_unknown_slot_and_bad_types():
    base = Template(BASE, name="base.tpl")
    with pytest.raises(TemplateError, match="'base.tpl' has no slot 'titel' \\(its slots: body, footer, title\\)"):
        base.extend(titel="x")
    with pytest.raises(TypeError):
        base.extend(title=3)


def test_unknown_slot_in_extending_template_points_at_the_fill():
    base = Template(BASE, name="base")
    error = load_error("<!--{extends base}-->\n\n  <!--{slot sidebar}-->x<!--{end}-->", name="p.tpl", templates={"base": base})
    assert (error.file, error.line, error.col) == ("p.tpl", 3, 3)
    assert "'base' has no slot 'sidebar'" in error.message


def test_slot_filled_twice_and_stray_text_are_errors():
    base = Template(BASE, name="base")
    error = load_error(
        "<!--{extends base}--><!--{slot title}-->a<!--{end}--><!--{slot title}-->b<!--{end}-->", templates={"base": base}
    )
    assert "filled twice" in error.message
    error = load_error("<!--{extends base}-->\nstray <b>text</b>\n", templates={"base": base})
    assert error.line == 2 and error.col == 1 and "may only contain slot fills" in error.message
    error = load_error("<!--{extends base}-->{x}", templates={"base": base})
    assert error.col == 22


def test_include_inserts_another_template_with_the_same_parameters():
    row = Template("<td>{r.name}</td>", name="cell")
    t = Template("<!--{for r in rows}--><tr><!--{include cell}--></tr><!--{end}-->", templates={"cell": row})
    assert flatten(t(rows=[{"name": "<a>"}])) == "<tr><td>&lt;a&gt;</td></tr>"


def test_slots_inside_sections_of_the_base_can_be_filled():
    base = Template(
        "<!--{if user}--><!--{slot greeting}-->hi<!--{end}--><!--{otherwise}-->anon<!--{end}-->"
        "<!--{for r in rows}--><!--{slot row}-->{r}<!--{end}-->,<!--{end}-->",
        name="base",
    )
    child = base.extend(greeting="hello {user}", row="<b>{r}</b>")
    assert flatten(child(user="ann", rows=[1, 2])) == "hello ann<b>1</b>,<b>2</b>,"
    assert flatten(child(user=None, rows=[])) == "anon"


def test_extends_inside_a_slot_fill_is_an_error():
    base = Template(BASE, name="base")
    with pytest.raises(TemplateError, match="'extends' cannot be used inside a slot"):
        base.extend(title="<!--{extends base}-->")


def test_include_and_extends_need_somewhere_to_look():
    assert "no folder or templates=" in load_error("<!--{include x}-->").message
    assert "cannot extend 'x': this template has no folder or templates=" in load_error("<!--{extends x}-->").message
    assert "no template named 'x' in templates=" in load_error("<!--{include x}-->", templates={}).message
    assert "not a Template" in load_error("<!--{extends x}-->", templates={"x": "text"}).message
    with pytest.raises(TypeError):
        Template("x", templates=["not", "a", "mapping"])


def test_missing_parameter_in_base_names_the_base_file_and_line():
    base = Template("<title>{title}</title>\n<!--{slot body}--><!--{end}-->", name="layout.tpl")
    child = Template("<!--{extends layout}--><!--{slot body}-->{x}<!--{end}-->", name="page.tpl", templates={"layout": base})
    error = runtime_error(child, x=1)
    assert (error.file, error.line, error.col, error.parameter) == ("layout.tpl", 1, 8, "title")


# ---------------------------------------------------------------- load-time errors


def test_syntax_error_message_format_with_caret():
    error = load_error("<html>\n<body>\n  <p>Hello {name</p>\n", name="templates/page.tpl")
    assert str(error) == (
        "templates/page.tpl:3:12: unclosed '{' (write '{{' for a literal '{')\n"
        "  <p>Hello {name</p>\n"
        "           ^"
    )
    assert (error.file, error.line, error.col) == ("templates/page.tpl", 3, 12)


def test_caret_lines_up_under_tabs():
    error = load_error("\t\t<p>{x:nope}</p>", name="t.tpl")
    assert str(error).splitlines()[1:] == ["\t\t<p>{x:nope}</p>", "\t\t   ^"]


@pytest.mark.parametrize(
    "text, line, col, message",
    [
        ("ok\n{name", 2, 1, "unclosed '{'"),
        ("a {bad name}", 1, 3, "bad placeholder '{bad name}'"),
        ("p{color:red}", 1, 2, "unknown formatter 'red' in {color:red}"),
        ("{a.}", 1, 1, "bad placeholder"),
        ("x <!--{if y}\n-->", 1, 3, "unclosed directive"),
        ("<!--{}-->", 1, 1, "unknown directive"),
        ("<!--{loop x}-->", 1, 1, "unknown directive 'loop x'"),
        ("<!--{for x of y}--><!--{end}-->", 1, 1, "expected <!--{for item in sequence}-->"),
        ("<!--{for 1 in y}--><!--{end}-->", 1, 1, "malformed directive"),
        ("<!--{if}--><!--{end}-->", 1, 1, "expected <!--{if name}-->"),
        ("<!--{if a b}--><!--{end}-->", 1, 1, "malformed directive"),
        ("<!--{slot}--><!--{end}-->", 1, 1, "expected <!--{slot name}-->"),
        ("<!--{end now}-->", 1, 1, "malformed directive"),
        ("text\n<!--{end}-->", 2, 1, "'end' without an open section"),
        ("<!--{for x in y}-->\n<!--{if x}-->\n", 2, 1, "unclosed 'if'"),
        ("<!--{for x in y}-->", 1, 1, "unclosed 'for'"),
        ("<!--{each}-->", 1, 1, "'each' outside a 'for' section"),
        ("<!--{if x}--><!--{each}--><!--{end}-->", 1, 14, "'each' outside a 'for' section"),
        ("<!--{after}-->", 1, 1, "'after' outside"),
        ("<!--{otherwise}-->", 1, 1, "'otherwise' outside a 'for' or 'if' section"),
        ("<!--{slot s}--><!--{otherwise}--><!--{end}-->", 1, 16, "'otherwise' outside"),
        ("<!--{for x in y}--><!--{each}--><!--{each}--><!--{end}-->", 1, 33, "'each' appears twice"),
        ("<!--{for x in y}--><!--{after}--><!--{each}--><!--{end}-->", 1, 34, "'each' must come before 'after'"),
        ("<!--{if x}--><!--{otherwise}--><!--{otherwise}--><!--{end}-->", 1, 32, "'otherwise' appears twice"),
        ("<!--{super}-->", 1, 1, "'super' outside a slot fill"),
        ("hi\n<!--{extends base}-->", 2, 1, "'extends' must be the first thing"),
        ("<!--{extends}-->", 1, 1, "expected <!--{extends template_name}-->"),
    ],
)
def test_syntax_errors_have_locations(text, line, col, message):
    error = load_error(text, name="e.tpl")
    assert (error.file, error.line, error.col) == ("e.tpl", line, col)
    assert message in error.message
    assert str(error).startswith(f"e.tpl:{line}:{col}: ")


def test_spaced_directive_gets_a_hint():
    error = load_error("<!-- {if x} -->")
    assert "section markers are written <!--{...}--> with no spaces" in error.message


def test_absurd_nesting_is_a_template_error_not_a_crash():
    depth = 25
    text = "".join(f"<!--{{for x{i} in xs}}-->" for i in range(depth)) + "." + "<!--{end}-->" * depth
    with pytest.raises(TemplateError, match="too complex"):
        Template(text)


def test_template_text_must_be_str():
    with pytest.raises(TypeError):
        Template(b"bytes")


# ---------------------------------------------------------------- runtime errors


def test_missing_parameter_names_parameter_file_and_line():
    t = Template("<h1>{title}</h1>\n<p>{body}</p>", name="templates/note.tpl")
    error = runtime_error(t, title="x")
    assert error.parameter == "body"
    assert str(error) == (
        "templates/note.tpl:2:4: missing parameter 'body' (pass body=None to render nothing)\n"
        "<p>{body}</p>\n"
        "   ^"
    )


def test_missing_parameter_never_renders_silently():
    for text in ("{x}", "{.x}", "{x:num}", "<!--{if x}--><!--{end}-->", "<!--{for a in x}--><!--{end}-->", "{x.y}"):
        with pytest.raises(TemplateRuntimeError, match="missing parameter 'x'"):
            Template(text)()


def test_if_whose_truth_test_raises_names_file_and_line():
    class Ambiguous:
        def __bool__(self):
            raise ValueError("truth value is ambiguous")

    error = runtime_error(Template("a\n<!--{if not v}-->x<!--{end}-->", name="if.tpl"), v=Ambiguous())
    assert str(error).splitlines()[0] == "if.tpl:2:1: cannot test 'v': ValueError: truth value is ambiguous"


def test_empty_then_branch_with_otherwise():
    t = Template("<!--{if x}--><!--{otherwise}-->no<!--{end}-->")
    assert flatten(t(x=1)) == "" and flatten(t(x=0)) == "no"


def test_repr_names_the_template():
    assert repr(Template("x", name="page.tpl")) == "<Template 'page.tpl'>"
    assert repr(TemplateLoop("x", name="rows")) == "<TemplateLoop 'rows'>"


def test_runtime_error_is_a_template_error():
    assert issubclass(TemplateRuntimeError, TemplateError)


def test_exceptions_outside_the_template_pass_through():
    class Exploding:
        def __iter__(self):
            raise RuntimeError("boom")

    error = runtime_error(Template("<!--{for x in xs}-->{x}<!--{end}-->", name="x.tpl"), xs=Exploding())
    assert "cannot loop over 'xs': RuntimeError: boom" in str(error)


def test_attribute_property_raising_is_reported_as_lookup():
    class Account:
        @property
        def balance(self):
            raise ZeroDivisionError("division by zero")

    error = runtime_error(Template("{a.balance:cents}", name="acct.tpl"), a=Account())
    assert "cannot look up {a.balance:cents}: ZeroDivisionError" in str(error)


def test_a_condition_on_a_missing_last_key_is_false():
    t = Template("<!--{if errors.email}-->[{errors.email}]<!--{otherwise}-->ok<!--{end}-->"
                 "<!--{if row.2}-->third<!--{end}-->")
    assert flatten(t(errors={}, row=[1])) == "ok"
    assert flatten(t(errors={"email": "bad <x>"}, row=(1, 2, 3))) == "[bad &lt;x&gt;]third"
    assert flatten(t(errors=object(), row=None)) == "ok"
    # Only the last step is soft: a missing parameter, or a missing step before it, is an error.
    assert "missing parameter 'errors'" in str(runtime_error(t, row=[]))
    deeper = Template("<!--{if a.b.c}-->x<!--{end}-->", name="deep.tpl")
    assert flatten(deeper(a={"b": {}})) == ""
    assert "cannot test 'a.b.c'" in str(runtime_error(deeper, a={}))


# ---------------------------------------------------------------- suggestions for failed lookups


def test_a_misspelt_dict_key_suggests_the_closest_key():
    error = runtime_error(Template("<h2>{b.titel}</h2>", name="book.tpl"), b={"title": "Dune", "author": "Herbert"})
    assert str(error).splitlines()[0] == "book.tpl:1:5: cannot look up {b.titel}: KeyError: 'titel' — did you mean {b.title}?"


def test_a_misspelt_parameter_suggests_the_closest_one_passed():
    error = runtime_error(Template("<h2>{titel}</h2>", name="book.tpl"), title="Dune", rows=[])
    assert str(error).splitlines()[0] == (
        "book.tpl:1:5: missing parameter 'titel' — did you mean 'title'? (or pass titel=None to render nothing)")
    # Nothing close: the plain advice, unchanged.
    error = runtime_error(Template("<h2>{titel}</h2>", name="book.tpl"), rows=[])
    assert "did you mean" not in str(error) and "(pass titel=None to render nothing)" in str(error)


def test_a_misspelt_row_column_in_a_loop_suggests_the_column():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT 1 AS id, 'Dune' AS title, 'Herbert' AS author").fetchall()
    t = Template("<!--{for b in books}-->\n<li>{b.autor}</li>\n<!--{end}-->", name="list.tpl")
    error = runtime_error(t, books=rows)
    assert (error.line, error.col) == (2, 5)
    assert "cannot look up {b.autor}" in str(error) and str(error).splitlines()[0].endswith("did you mean {b.author}?")
    # No column is close: the columns are listed instead.
    error = runtime_error(Template("{b.price:cents}", name="p.tpl"), b=rows[0])
    assert str(error).splitlines()[0].endswith("('b' has id, title, author)")


def test_a_misspelt_attribute_suggests_the_attribute_and_keeps_the_placeholder_form():
    @dataclass
    class Book:
        title: str
        pages: int

    error = runtime_error(Template("{.b.Pages:num}", name="b.tpl"), b=Book("Dune", 412))
    assert str(error).splitlines()[0].endswith("— did you mean {.b.pages:num}?")


def test_suggestions_name_the_step_that_failed_in_conditions_and_loops():
    error = runtime_error(Template("<!--{if b.autor.name}-->x<!--{end}-->", name="c.tpl"), b={"author": {}})
    assert str(error).splitlines()[0].endswith("cannot test 'b.autor.name': KeyError: 'autor' — did you mean 'b.author.name'?")
    error = runtime_error(Template("<!--{for x in shelf.book}-->{x}<!--{end}-->", name="c.tpl"), shelf={"books": []})
    assert str(error).splitlines()[0].endswith("— did you mean 'shelf.books'?")


def test_no_suggestion_when_the_failure_is_not_a_misspelling():
    class Account:
        @property
        def balance(self):
            raise ZeroDivisionError("division by zero")

    error = runtime_error(Template("{a.balance}", name="a.tpl"), a=Account())
    assert "did you mean" not in str(error) and "ZeroDivisionError" in str(error)
    error = runtime_error(Template("{row.3}", name="a.tpl"), row=["a", "b"])
    assert str(error).splitlines()[0] == "a.tpl:1:1: cannot look up {row.3}: IndexError: list index out of range"


# ---------------------------------------------------------------- where an unclosed section is reported


def unclosed(text: str, **kwargs) -> tuple[int, str]:
    error = load_error(text, **kwargs)
    return error.line, error.message


def test_an_if_missing_its_end_inside_a_slot_is_reported_at_the_if():
    line, message = unclosed("<main>\n<!--{slot body}-->\n<h1>Books</h1>\n<!--{if rows}-->\n<ul></ul>\n<!--{end}-->\n</main>\n")
    assert line == 4 and message.startswith("unclosed 'if': add <!--{end}-->")
    assert "the 'slot' on line 2" in message        # the layout cannot tell the two readings apart: both named


def test_an_if_missing_its_end_in_a_slot_fill_is_reported_at_the_if():
    base = Template("<!--{slot body}--><!--{end}--><!--{slot side}--><!--{end}-->", name="base.tpl")
    text = ("<!--{extends base}-->\n<!--{slot body}-->\n<!--{if rows}-->\n<ul></ul>\n<!--{end}-->\n"
            "<!--{slot side}-->\n<p>side</p>\n<!--{end}-->\n")
    assert unclosed(text, templates={"base": base})[0] == 3
    # The fill is the last thing in the file: the if is still the likelier culprit.
    assert unclosed("<!--{extends base}-->\n<!--{slot body}-->\n<!--{if rows}-->\n<ul></ul>\n<!--{end}-->\n",
                    templates={"base": base})[0] == 3


def test_the_section_whose_end_is_on_its_own_line_is_not_blamed():
    # The 'if' opens and closes on one line: the slot is the one left open.
    line, message = unclosed("<!--{slot body}-->\n<!--{if x}--><b>!</b><!--{end}-->\n<p>more</p>\n")
    assert line == 1 and message == "unclosed 'slot': add <!--{end}-->"


def test_indentation_decides_which_section_is_unclosed():
    inner_closed = "<!--{for r in rows}-->\n  <!--{if r.x}-->\n  <p>x</p>\n  <!--{end}-->\n"
    assert unclosed(inner_closed) == (1, "unclosed 'for': add <!--{end}-->")
    outer_closed = "<!--{for r in rows}-->\n  <!--{if r.x}-->\n  <p>x</p>\n<!--{end}-->\n"
    assert unclosed(outer_closed) == (2, "unclosed 'if': add <!--{end}-->")


def test_a_reading_that_does_not_nest_is_never_blamed():
    # Were the 'if' the open one, its end would close the fill and leave <p>after</p> outside
    # any slot, which an extending template cannot have: so the fill is the one left open.
    base = Template("<!--{slot body}--><!--{end}-->", name="base.tpl")
    text = "<!--{extends base}-->\n<!--{slot body}-->\n<!--{if rows}-->\n<ul></ul>\n<!--{end}-->\n<p>after</p>\n"
    assert unclosed(text, templates={"base": base}) == (2, "unclosed 'slot': add <!--{end}-->")


def test_two_sections_left_open_report_the_innermost():
    assert unclosed("<!--{for x in y}-->\n<!--{if x}-->\n") == (2, "unclosed 'if': add <!--{end}-->")


# ---------------------------------------------------------------- the url formatter


def test_url_formatter_keeps_a_query_value_whole():
    t = Template('<a href="?q={q:url}&amp;page={page:url}">next</a>')
    assert flatten(t(q="a&b", page=2)) == '<a href="?q=a%26b&amp;page=2">next</a>'
    from urllib.parse import parse_qs, urlsplit
    for value in ["a&b", "x=y#z", "1+1 = 2", "50%", "Zoë / ünïcode", "?&=#+ \t\"'<>"]:
        href = flatten(Template('{q:url}')(q=value))
        assert parse_qs(urlsplit("?q=" + href).query)["q"] == [value]


def test_path_formatter_keeps_a_path_segment_whole():
    from kali import Router
    from kali.testing import Client

    app = Router()
    app.function("/tags/*")(lambda request, tag: f"[{tag}]")
    link = Template('<a href="/tags/{tag:path}">', name="tags.tpl")
    for tag in ["a/b", "c d", "50%", "é?x#y", "...", "a.b", "~x"]:
        href = flatten(link(tag=tag)).split('"')[1]
        assert Client(app).get(href).text == f"[{escape(tag)}]", href


def test_path_formatter_refuses_what_cannot_be_a_segment():
    # '/tags/..' is '/' to a browser and '/tags/' is another page: an error, not a wrong link.
    link = Template('<a href="/tags/{tag:path}">', name="tags.tpl")
    for tag in ["", ".", ".."]:
        error = runtime_error(link, tag=tag)
        assert f"formatter 'path' failed on {{tag:path}}: ValueError: {tag!r} cannot be a path segment" in str(error)
    # In a query value they are ordinary text.
    assert render("?tag={tag:url}", tag="..") == "?tag=.."


def test_url_formatter_leaves_unreserved_characters_and_renders_none_as_nothing():
    assert render("{v:url}", v="Az09-._~") == "Az09-._~"
    assert render("{v:url}|{.v:url}", v=None) == "|"
    assert render("{v:url}", v=12.5) == "12.5"
    assert render("{v:url}", v=b"\xff ") == "%FF%20"


_PIECES = ["<!--{for x in y}-->", "<!--{if x}-->", "<!--{slot s}-->", "<!--{slot t}-->", "<!--{end}-->",
           "<!--{each}-->", "<!--{after}-->", "<!--{otherwise}-->", "<!--{super}-->", "text", "{x}", "\n", "  "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.booleans())
def test_any_nesting_loads_or_is_a_template_error_at_one_of_its_sections(pieces, extending):
    base = Template("<!--{slot s}--><!--{end}--><!--{slot t}--><!--{end}-->", name="base.tpl")
    text = ("<!--{extends base}-->\n" if extending else "") + "".join(pieces)
    try:
        Template(text, name="t.tpl", templates={"base": base})
    except TemplateError as error:
        assert error.line is not None and error.col is not None
        if error.message.startswith("unclosed '"):
            # It points at an opener of the kind it names.
            kind = error.message.split("'")[1]
            assert error.source_line[error.col - 1:].startswith(f"<!--{{{kind} ")


# ---------------------------------------------------------------- names every template sees


def test_every_template_sees_kalis_asset_urls() -> None:
    from kali.reserved import asset_url
    page = Template('<link rel="stylesheet" href="{kali.css}"><link rel="icon" href="{kali.icon}">')
    assert render('<a href="{kali.css}">') == f'<a href="{asset_url("kali.css")}">'
    assert flatten(page()) == (f'<link rel="stylesheet" href="{asset_url("kali.css")}">'
                               f'<link rel="icon" href="{asset_url("icon.svg")}">')
    head = render("<head>{.kali.head}</head>")
    assert f'href="{asset_url("kali.css")}"' in head and f'href="{asset_url("icon.svg")}"' in head
    # The URLs are content-hashed paths under kali's reserved prefix.
    assert asset_url("kali.css").startswith("/_kali/kali.") and asset_url("kali.css").endswith(".css")


def test_a_parameter_called_kali_wins_over_the_built_in_name() -> None:
    assert render("{kali.css}", kali={"css": "mine.css"}) == "mine.css"
    assert render("{kali}", kali="x") == "x"


def test_a_misspelt_kali_name_suggests_the_right_one() -> None:
    with pytest.raises(TemplateRuntimeError, match=r"cannot look up \{kali\.csss\}.* did you mean \{kali\.css\}\?"):
        render("{kali.csss}")


def test_globals_are_seen_by_every_render_unless_passed(tmp_path) -> None:
    from kali.templates import TemplateFolder
    assert render("x") == "x"
    greet = Template("<p>{flashes}{site}</p>", globals={"flashes": (), "site": "Shop"})
    assert flatten(greet()) == "<p>Shop</p>"
    assert flatten(greet(site="Other", flashes=["!"])) == "<p>!Other</p>"
    (tmp_path / "layout.tpl").write_text("<title>{site}</title><!--{slot body}--><!--{end}-->")
    (tmp_path / "page.tpl").write_text("<!--{extends layout}--><!--{slot body}-->{who}<!--{end}-->")
    folder = TemplateFolder(tmp_path, globals={"site": "Shop"})
    assert flatten(folder("page", who="Ann")) == "<title>Shop</title>Ann"
    # Without globals= a name must still be passed.
    with pytest.raises(TemplateRuntimeError, match="missing parameter 'site'"):
        TemplateFolder(tmp_path)("page", who="Ann")
    loop = TemplateLoop("<li>{row}{sep}</li>", globals={"sep": ";"})
    assert flatten(loop(rows=[1, 2])) == "<li>1;</li><li>2;</li>"


def test_globals_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="globals=: a name must be an identifier, got 'a-b'"):
        Template("x", globals={"a-b": 1})
