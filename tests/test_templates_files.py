"""Tests for kali.templates.TemplateFolder: .tpl files, caching, reloading, names and cycles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kali.iolist import to_bytes

from kali.templates import Template, TemplateError, TemplateFolder, TemplateRuntimeError


def flatten(iolist) -> str:
    """The text an iolist stands for, walked by the same code the server uses."""
    return to_bytes(iolist).decode("utf-8")


def write(folder: Path, name: str, text: str) -> Path:
    """Write a template file and move its mtime forward, so a rewrite is always seen as a change."""
    path = folder / f"{name}.tpl"
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    later = max(previous + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(later, later))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> TemplateFolder:
    return TemplateFolder(tmp_path)


LAYOUT = """\
<!DOCTYPE html>
<title><!--{slot title}-->App<!--{end}--></title>
<!--{slot body}-->
<!--{end}-->
"""

LIST = """\
<!--{extends layout}-->
<!--{slot title}-->{title} - <!--{super}--><!--{end}-->
<!--{slot body}-->
<!--{for row in rows}-->
<table>
<!--{each}-->
<tr><!--{include cell}--></tr>
<!--{after}-->
</table>
<!--{otherwise}-->
<p>Nothing.</p>
<!--{end}-->
<!--{end}-->
"""


def test_folder_loads_renders_extends_and_includes(tmp_path, folder):
    write(tmp_path, "layout", LAYOUT)
    write(tmp_path, "list", LIST)
    write(tmp_path, "cell", "<td>{row.name}</td>")
    out = flatten(folder("list", title="<People>", rows=[{"name": "Zoë & co"}]))
    assert out == (
        "<!DOCTYPE html>\n<title>&lt;People&gt; - App</title>\n"
        "<table>\n<tr><td>Zoë &amp; co</td></tr>\n</table>\n"
    )
    assert flatten(folder("list", title="x", rows=[])).endswith("<p>Nothing.</p>\n")


def test_getitem_returns_a_cached_template(tmp_path, folder):
    write(tmp_path, "page", "<p>{x}</p>")
    first = folder["page"]
    assert isinstance(first, Template)
    assert folder["page"] is first
    assert flatten(first(x="<")) == "<p>&lt;</p>"


def test_subfolders(tmp_path, folder):
    write(tmp_path, "layouts/base", "[<!--{slot s}--><!--{end}-->]")
    write(tmp_path, "admin/users", "<!--{extends layouts/base}--><!--{slot s}-->users<!--{end}-->")
    assert flatten(folder("admin/users")) == "[users]"


def test_reload_after_the_file_changes(tmp_path, folder):
    write(tmp_path, "page", "<p>old {x}</p>")
    old = folder["page"]
    assert flatten(folder("page", x=1)) == "<p>old 1</p>"
    write(tmp_path, "page", "<p>new {x}</p>")
    assert flatten(folder("page", x=1)) == "<p>new 1</p>"
    assert folder["page"] is not old
    assert folder["page"] is folder["page"]


def test_same_size_rewrite_is_seen(tmp_path, folder):
    write(tmp_path, "page", "AAAA")
    assert flatten(folder("page")) == "AAAA"
    write(tmp_path, "page", "BBBB")
    assert flatten(folder("page")) == "BBBB"


def test_reload_when_a_base_or_included_file_changes(tmp_path, folder):
    write(tmp_path, "layout", "<h1><!--{slot t}--><!--{end}--></h1><!--{include footer}-->")
    write(tmp_path, "footer", "<footer>v1</footer>")
    write(tmp_path, "page", "<!--{extends layout}--><!--{slot t}-->Hi<!--{end}-->")
    assert flatten(folder("page")) == "<h1>Hi</h1><footer>v1</footer>"
    write(tmp_path, "layout", "<h2><!--{slot t}--><!--{end}--></h2><!--{include footer}-->")
    assert flatten(folder("page")) == "<h2>Hi</h2><footer>v1</footer>"
    write(tmp_path, "footer", "<footer>v2</footer>")
    assert flatten(folder("page")) == "<h2>Hi</h2><footer>v2</footer>"


def test_unchanged_files_are_not_parsed_again(tmp_path, folder, monkeypatch):
    write(tmp_path, "layout", LAYOUT)
    write(tmp_path, "page", "<!--{extends layout}--><!--{slot body}-->x<!--{end}-->")
    folder["page"]
    reads = []
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self.name) or original(self, *a, **k))
    for _ in range(5):
        folder("page")
    assert reads == []


def test_auto_reload_off_keeps_the_first_version(tmp_path):
    folder = TemplateFolder(tmp_path, auto_reload=False)
    write(tmp_path, "page", "one")
    assert flatten(folder("page")) == "one"
    write(tmp_path, "page", "two")
    assert flatten(folder("page")) == "one"


def test_syntax_error_in_a_file_has_path_line_col_and_recovers(tmp_path, folder):
    path = write(tmp_path, "page", "<ul>\n  <li>{item</li>\n</ul>\n")
    with pytest.raises(TemplateError) as info:
        folder["page"]
    assert str(info.value) == f"{path}:2:7: unclosed '{{' (write '{{{{' for a literal '{{')\n  <li>{{item</li>\n      ^"
    write(tmp_path, "page", "<ul>\n  <li>{item}</li>\n</ul>\n")
    assert flatten(folder("page", item="ok")) == "<ul>\n  <li>ok</li>\n</ul>\n"


def test_error_in_a_base_file_points_into_the_base(tmp_path, folder):
    layout = write(tmp_path, "layout", "<title>\n{title:nope}</title><!--{slot b}--><!--{end}-->")
    write(tmp_path, "page", "<!--{extends layout}-->")
    with pytest.raises(TemplateError) as info:
        folder["page"]
    assert (info.value.file, info.value.line, info.value.col) == (str(layout), 2, 1)


def test_missing_parameter_names_the_file_and_line(tmp_path, folder):
    write(tmp_path, "layout", LAYOUT)
    page = write(tmp_path, "page", "<!--{extends layout}-->\n<!--{slot body}-->\n  <p>{message}</p>\n<!--{end}-->")
    with pytest.raises(TemplateRuntimeError) as info:
        folder("page")
    assert str(info.value).splitlines()[0] == f"{page}:3:6: missing parameter 'message' (pass message=None to render nothing)"


def test_missing_template(tmp_path, folder):
    with pytest.raises(TemplateError, match="no template 'nope'"):
        folder["nope"]
    write(tmp_path, "page", "x\n<!--{include nope}-->")
    with pytest.raises(TemplateError) as info:
        folder["page"]
    assert info.value.line == 2 and "no template 'nope'" in info.value.message


def test_deleted_file_is_noticed(tmp_path, folder):
    path = write(tmp_path, "page", "x")
    folder["page"]
    path.unlink()
    with pytest.raises(TemplateError, match="no template 'page'"):
        folder["page"]


@pytest.mark.parametrize("name", ["../secret", "a/../../b", "/etc/passwd", "a//b", "./a", "a\\b", "", "c:x", "a/"])
def test_names_cannot_leave_the_folder(folder, name):
    with pytest.raises(TemplateError, match="bad template name"):
        folder[name]


def test_directive_names_cannot_leave_the_folder(tmp_path, folder):
    (tmp_path / "inner").mkdir()
    write(tmp_path.parent, "outside", "secret")
    inner = TemplateFolder(tmp_path / "inner")
    write(tmp_path / "inner", "page", "<!--{include ../outside}-->")
    with pytest.raises(TemplateError) as info:
        inner["page"]
    assert "bad template name '../outside'" in info.value.message and info.value.line == 1


def test_extends_cycle_is_reported_with_the_chain(tmp_path, folder):
    write(tmp_path, "a", "<!--{extends b}-->")
    write(tmp_path, "b", "<!--{extends c}-->")
    write(tmp_path, "c", "<!--{extends a}-->")
    with pytest.raises(TemplateError) as info:
        folder["a"]
    assert "cycle: a -> b -> c -> a" in info.value.message
    assert info.value.file.endswith("c.tpl") and info.value.line == 1


def test_include_self_cycle_is_reported(tmp_path, folder):
    write(tmp_path, "tree", "<li><!--{include tree}--></li>")
    with pytest.raises(TemplateError, match="cycle: tree -> tree"):
        folder["tree"]
    # The failed load left nothing behind: a fixed file loads fine.
    write(tmp_path, "tree", "<li></li>")
    assert flatten(folder("tree")) == "<li></li>"


def test_folder_formatters(tmp_path):
    folder = TemplateFolder(tmp_path, formatters={"upper": str.upper})
    write(tmp_path, "page", "{x:upper}")
    assert flatten(folder("page", x="a<")) == "A&lt;"  # formatted, then escaped
    write(tmp_path, "other", "{x:lower}")
    with pytest.raises(TemplateError, match="unknown formatter 'lower'"):
        folder["other"]
    folder.register_formatter("lower", str.lower)
    assert flatten(folder("other", x="AB")) == "ab"


def test_string_template_can_extend_a_folder_template(tmp_path, folder):
    write(tmp_path, "layout", LAYOUT)
    page = Template("<!--{extends layout}--><!--{slot body}-->{x}<!--{end}-->", templates=folder)
    assert flatten(page(x="<")) == "<!DOCTYPE html>\n<title>App</title>\n&lt;"


def test_extend_a_folder_template_from_python(tmp_path, folder):
    write(tmp_path, "layout", LAYOUT)
    write(tmp_path, "footer", "<footer/>")
    page = folder["layout"].extend(body="<p>{x}</p><!--{include footer}-->")
    assert flatten(page(x=1)) == "<!DOCTYPE html>\n<title>App</title>\n<p>1</p><footer/>"


def test_utf8_bom_and_bad_encoding(tmp_path, folder):
    (tmp_path / "bom.tpl").write_bytes("\ufeff<p>é {x}</p>".encode("utf-8"))
    assert flatten(folder("bom", x=1)) == "<p>é 1</p>"
    (tmp_path / "latin.tpl").write_bytes("<p>\xe9</p>".encode("latin-1"))
    with pytest.raises(TemplateError, match="not valid UTF-8"):
        folder["latin"]


def test_custom_suffix(tmp_path):
    (tmp_path / "page.html").write_text("<b>{x}</b>")
    assert flatten(TemplateFolder(tmp_path, suffix=".html")("page", x=2)) == "<b>2</b>"


def test_unreadable_template_is_a_template_error(tmp_path, folder):
    (tmp_path / "odd.tpl").mkdir()
    with pytest.raises(TemplateError, match="cannot read template 'odd'"):
        folder["odd"]


def test_repr(tmp_path, folder):
    assert repr(folder) == f"<TemplateFolder {str(tmp_path)!r}>"


def test_folder_must_exist(tmp_path):
    with pytest.raises(NotADirectoryError):
        TemplateFolder(tmp_path / "missing")
