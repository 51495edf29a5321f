"""The debug page: the 500 page a browser on this machine sees, with the app's frames first and kali's folded.

Only `kali.response.internal_error` uses it, and only for a client on this
machine with debug on (everyone else gets the plain 500 page). It is built
from the exception alone: the error first (for a template error, the template's
file, line and a caret), then the traceback, where the app's own frames are
open and highlighted with their source and each run of frames inside kali or
Python's library is folded into one line.
"""

from __future__ import annotations

import html
import linecache
import os
import sys
import sysconfig
import traceback
from types import TracebackType
from typing import Any, Optional

__all__ = ["debug_page", "startup_error_page", "startup_error_place"]

_KALI_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONTEXT_LINES = 2  # source lines shown above and below an app frame's line
_MAX_CHAIN = 8  # chained exceptions shown (cause, context), a guard against odd cycles


def debug_page(request: Any, error: BaseException) -> list[str]:
    """The HTML of the debug page for `error`, raised while handling `request`."""
    request_line = f"{request.method} {request.target}"
    template_error = _template_error(error)
    frames = _frames(error.__traceback__)
    app_frames = [frame for frame in frames if frame.owner == "app"]
    out: list[str] = _head(f"500 {type(error).__name__} - {request_line}")
    out += [
        "<h1>500 Internal Server Error</h1>\n<p class=\"request\">The handler for <code>",
        _e(request_line), "</code> raised an exception. This page is shown only to this machine; "
        "the server's log has the same traceback.</p>\n<section class=\"error\">\n",
    ]
    if template_error is not None:
        out += _template_block(template_error, error)
    else:
        out += ["<pre class=\"exception\">", _exception_text(error), "</pre>\n"]
    if app_frames:
        out += _where(app_frames[-1])
    else:
        out.append("<p class=\"where\">No frame of the traceback is in your code: the error was raised "
                   "inside kali or Python's library (the innermost frames are unfolded below).</p>\n")
    out.append("</section>\n")
    return out + _traceback_sections(error, frames, app_frames)


def _where(innermost: _Frame) -> list[str]:
    """The line under the exception that links to the innermost frame in the app's code."""
    return ["<p class=\"where\">In your code: <a href=\"#", innermost.anchor, "\">", _e(innermost.place()),
            "</a></p>\n"]


def _traceback_sections(error: BaseException, frames: list[_Frame], app_frames: list[_Frame]) -> list[str]:
    """The end of both pages: the traceback (app frames open), the chained exceptions, the plain text."""
    out: list[str] = []
    if frames:
        out.append("<section class=\"traceback\">\n<h2>Traceback <small>(most recent call last)</small></h2>\n")
        out += _frame_list(frames, open_last=not app_frames)
        out.append("</section>\n")
    out += _chain(error)
    plain = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    out += ["<details class=\"plain\"><summary>The traceback as plain text</summary><pre>", _e(plain),
            "</pre></details>\n</body></html>\n"]
    return out


def startup_error_page(error: BaseException, script: str) -> list[str]:
    """The debug page for an app that does not start: running `script` raised `error` (at import, say).

    The `run --reload` supervisor answers every request with it until a saved
    change makes the app start again.  It looks like the debug page; for a
    SyntaxError it shows the file, the line and the offending line itself.
    """
    frames = _frames(error.__traceback__)
    app_frames = [frame for frame in frames if frame.owner == "app"]
    out: list[str] = _head(f"500 {type(error).__name__} - {script} does not start")
    out += [
        "<h1>The app does not start</h1>\n<p class=\"request\">Running <code>", _e(script),
        "</code> raised an exception, so every page shows this one until a saved change makes the app start "
        "again (this page then reloads by itself). It is shown only to this machine; the console has the "
        "same traceback.</p>\n<section class=\"error\">\n",
    ]
    if isinstance(error, SyntaxError):
        out += ["<pre class=\"exception\"><b>", _e(type(error).__name__), "</b>: ", _e(str(error.msg)), "</pre>\n"]
    else:
        out += ["<pre class=\"exception\">", _exception_text(error), "</pre>\n"]
    if isinstance(error, SyntaxError):
        place = startup_error_place(error)
        if place is not None:
            out += ["<p class=\"where\">In your code: <code>", _e(place[0]), "</code>, line ", str(place[1]),
                    ":</p>\n"]
            out += _Frame(_syntax_error_summary(error, place), "where").render()
    elif app_frames:
        out += _where(app_frames[-1])
    out.append("</section>\n")
    return out + _traceback_sections(error, frames, app_frames)


def startup_error_place(error: BaseException) -> Optional[tuple[str, int, str]]:
    """(file, line number, the line's text) where `error` points in the app's code, if it does.

    A SyntaxError names its own place; any other error, the innermost frame of the
    app's code in its traceback (else its innermost frame).
    """
    if isinstance(error, SyntaxError):
        if error.filename and error.lineno:
            text = error.text if error.text is not None else linecache.getline(error.filename, error.lineno)
            return error.filename, error.lineno, text.rstrip("\r\n").strip()
        return None
    frames = _frames(error.__traceback__)
    if not frames:
        return None
    app_frames = [frame for frame in frames if frame.owner == "app"]
    frame = (app_frames or frames)[-1]
    return frame.filename, frame.lineno, linecache.getline(frame.filename, frame.lineno).strip()


def _syntax_error_summary(error: SyntaxError, place: tuple[str, int, str]) -> traceback.FrameSummary:
    """A frame for the place a SyntaxError names, its offending characters marked (from Python 3.11)."""
    file, line, _ = place
    text = linecache.getline(file, line).rstrip("\r\n")
    start, end = error.offset, getattr(error, "end_offset", None)
    if start and getattr(error, "end_lineno", line) in (line, None):
        end = max(end or 0, start + 1)      # an error at one character has end == start
        if sys.version_info >= (3, 11):     # before, a frame has no columns
            # The offsets count characters from 1; a frame's columns count UTF-8 bytes from 0.
            return traceback.FrameSummary(file, line, "<module>", end_lineno=line,
                                          colno=len(text[:start - 1].encode("utf-8")),
                                          end_colno=len(text[:end - 1].encode("utf-8")))
    return traceback.FrameSummary(file, line, "<module>")


# -- the page's parts --------------------------------------------------------------------

# The page links kali's shared stylesheet (kali/assets/kali.css, under /_kali/) like kali's
# other pages; these are the debug-only rules on top of it. The page stays light in a dark
# scheme: its highlights are tuned for a white background.
_STYLE = """
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#fff;
 margin:0 auto;max-width:75rem;padding:1rem;overflow-wrap:anywhere}
:where(.kali-debug) pre,:where(.kali-debug) code{background:none;padding:0;border-radius:0}
section.error{color:inherit}
h1{font-size:1.4rem;margin:.2em 0 .4em}
h2{font-size:1.1rem;margin:1.5em 0 .5em}
h2 small,.at small{font-weight:normal;color:#59636e}
code,pre{font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
.exception{font-size:14px;background:#ffebe9;border-left:4px solid #cf222e;padding:.6em .9em;border-radius:4px}
.where{margin:.6em 0}
.template{background:#ffebe9;border-left:4px solid #cf222e;padding:.6em .9em;border-radius:4px}
.template .exception{background:none;border:0;padding:0;margin:0 0 .4em}
.template p{margin:0 0 .4em}
.source{background:#fff;padding:.3em .5em .9em;border-radius:4px;line-height:2}
mark.at{position:relative;background:#ffd33d;color:inherit;border-radius:2px}
mark.at::after{content:"^";position:absolute;left:0;top:1.1em;color:#cf222e;font-weight:bold}
.frame{border:1px solid #d1d9e0;border-radius:6px;margin:.4em 0;padding:.4em .7em}
.frame.app{border-color:#d4a72c;border-left:5px solid #bf8700;background:#fff8c5}
.at{margin:0 0 .2em}
.code{display:grid;grid-template-columns:auto minmax(0,1fr);column-gap:.8em;
 font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.code code{white-space:pre-wrap;overflow-wrap:anywhere}
.code .n{color:#59636e;text-align:right;user-select:none}
.code .current{background:#ffe58f;font-weight:600}
.code .current mark{background:none;color:inherit;text-decoration:underline wavy #cf222e}
details.frames{margin:.4em 0;color:#59636e}
details.frames>summary{cursor:pointer;padding:.2em 0}
details.frames .frame{background:#f6f8fa}
.repeat{color:#59636e;font-style:italic;margin:.2em 0 .6em}
.chained{margin-top:1.5em}
details.chained{margin-top:1.5em;color:#59636e}
details.chained>summary{cursor:pointer}
details.plain{margin-top:2em}
details.plain>summary{cursor:pointer;color:#59636e}
"""


def _head(title: str) -> list[str]:
    from .pages import asset_links
    return ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta name=\"robots\" content=\"noindex\">\n<title>", _e(title), "</title>\n",
            asset_links(), "<style>", _STYLE, "</style>\n</head><body class=\"kali-debug\">\n"]


def _template_block(template_error: Any, error: BaseException) -> list[str]:
    """The template error at the top: its kind and message, the file and line, the line with the column marked."""
    where = ", ".join(part for part in (
        template_error.file and f"template {template_error.file}",
        template_error.line and f"line {template_error.line}",
        template_error.col and f"column {template_error.col}") if part)
    head = ":".join(str(part) for part in (template_error.file, template_error.line, template_error.col)
                    if part is not None)
    message = f"{head}: {template_error.message}" if head else template_error.message
    out = ["<div class=\"template\">"]
    if template_error is not error:  # a template error the app caught and wrapped: say both
        out += ["<pre class=\"exception\">", _exception_text(error), "</pre><p>It was raised from:</p>"]
    out += ["<pre class=\"exception\"><b>", _e(type(template_error).__name__), "</b>: ", _e(message), "</pre>\n"]
    if where:
        out += ["<p class=\"where\">In ", _e(where), ":</p>"]
    line, col = template_error.source_line, template_error.col
    if line is not None and col is not None:
        at = max(0, min(col - 1, len(line)))
        out += ["<pre class=\"source\">", _e(line[:at]), "<mark class=\"at\">", _e(line[at:at + 1] or " "),
                "</mark>", _e(line[at + 1:]), "</pre>"]
    out.append("</div>\n")
    return out


def _frame_list(frames: list[_Frame], *, open_last: bool) -> list[str]:
    """Frames in call order: app frames open, each run of other frames folded into one <details>."""
    out: list[str] = []
    index = 0
    while index < len(frames):
        if frames[index].owner == "app":
            out += frames[index].render()
            index += 1
            continue
        end = index
        while end < len(frames) and frames[end].owner != "app":
            end += 1
        run = frames[index:end]
        owners = sorted({frame.owner for frame in run}, key=("kali", "python").index)
        label = " and ".join({"kali": "kali", "python": "Python's library"}[owner] for owner in owners)
        names = " \u2192 ".join(dict.fromkeys(frame.name for frame in run))
        unfold = " open" if open_last and end == len(frames) else ""
        out += [f"<details class=\"frames\"{unfold}><summary>{len(run)} frame{'s' if len(run) != 1 else ''} in ",
                label, ": <code>", _e(names), "</code></summary>\n"]
        for frame in run:
            out += frame.render()
        out.append("</details>\n")
        index = end
    return out


def _chain(error: BaseException) -> list[str]:
    """The exceptions behind this one (``raise ... from``, or raised while handling), each with its frames."""
    out: list[str] = []
    seen = {id(error)}
    current = error
    for _ in range(_MAX_CHAIN):
        if current.__cause__ is not None:
            current, how = current.__cause__, "It was raised from this exception"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, how = current.__context__, "It was raised while handling this exception"
        else:
            break
        if id(current) in seen:
            break
        seen.add(id(current))
        frames = _frames(current.__traceback__, f"cause-{len(seen) - 1}-")
        if any(frame.owner == "app" for frame in frames):
            out += ["<section class=\"chained\"><h2>", how, ":</h2>\n<pre class=\"exception\">",
                    _exception_text(current), "</pre>\n", *_frame_list(frames, open_last=False), "</section>\n"]
        else:  # raised and wrapped inside kali (a template's KeyError): folded, like kali's frames
            out += ["<details class=\"chained\"><summary>", how, " (no frame in your code): <code>",
                    _exception_text(current), "</code></summary>\n", *_frame_list(frames, open_last=False),
                    "</details>\n"]
    return out


# -- frames ------------------------------------------------------------------------------


class _Frame:
    """One traceback entry: where it is, whose code it is, and how many times it repeated."""

    def __init__(self, summary: traceback.FrameSummary, anchor: str) -> None:
        self.summary = summary
        self.filename = summary.filename
        self.lineno = summary.lineno or 0
        self.name = summary.name
        self.owner = _owner(summary.filename)
        self.anchor = anchor
        self.repeats = 0

    def place(self) -> str:
        """Where the frame is, in words: 'app.py, line 12, in show'."""
        return f"{self.filename}, line {self.lineno}, in {self.name}"

    def render(self) -> list[str]:
        """The frame as HTML: an app frame with its surrounding source, any other with its line alone."""
        kind = "frame app" if self.owner == "app" else "frame"
        out = [f"<div class=\"{kind}\" id=\"{self.anchor}\"><p class=\"at\"><code>", _e(self.filename),
               "</code>, line ", str(self.lineno), ", in <code>", _e(self.name), "</code>"]
        if self.filename.startswith("<template "):
            out.append(" <small>(the template's compiled code: the error names the template line)</small>")
        out.append("</p>\n")
        span = _CONTEXT_LINES if self.owner == "app" else 0
        numbers = range(max(1, self.lineno - span), self.lineno + span + 1)
        lines = [(n, linecache.getline(self.filename, n).rstrip("\r\n")) for n in numbers]
        lines = [(n, text) for n, text in lines if text or n == self.lineno]
        if any(text for _, text in lines):
            out.append("<div class=\"code\">")
            for n, text in lines:
                current = n == self.lineno
                out += [f"<span class=\"n\">{n}</span><code class=\"{'current' if current else 'line'}\">",
                        self._marked(text) if current else _e(text), "</code>"]
            out.append("</div>\n")
        out.append("</div>\n")
        if self.repeats:
            out.append(f"<p class=\"repeat\">\u2026 the same frame {self.repeats} more "
                       f"time{'s' if self.repeats != 1 else ''}</p>\n")
        return out

    def _marked(self, line: str) -> str:
        """The current line with the failing expression marked (Python 3.11 records where it is)."""
        start, end = getattr(self.summary, "colno", None), getattr(self.summary, "end_colno", None)
        if start is None or end is None or getattr(self.summary, "end_lineno", None) != self.lineno:
            return _e(line)
        encoded = line.encode("utf-8")  # the offsets count UTF-8 bytes
        first = len(encoded[:start].decode("utf-8", "replace"))
        last = len(encoded[:end].decode("utf-8", "replace"))
        if not 0 <= first < last <= len(line) or not line[:first].strip() and not line[last:].strip():
            return _e(line)  # the whole line: marking it says nothing more
        return _e(line[:first]) + "<mark>" + _e(line[first:last]) + "</mark>" + _e(line[last:])


def _frames(tb: Optional[TracebackType], prefix: str = "") -> list[_Frame]:
    """The traceback's frames, a frame repeated in a row (deep recursion) kept once with a count."""
    frames: list[_Frame] = []
    for number, summary in enumerate(traceback.extract_tb(tb)):
        frame = _Frame(summary, f"{prefix}frame-{number}")
        last = frames[-1] if frames else None
        if last is not None and (last.filename, last.lineno, last.name) == (frame.filename, frame.lineno, frame.name):
            last.repeats += 1
        else:
            frames.append(frame)
    return frames


_library_dirs: Optional[tuple[str, ...]] = None


def _owner(filename: str) -> str:
    """'kali', 'python' (the standard library, installed packages) or 'app' for everything else."""
    global _library_dirs
    if filename.startswith("<template "):
        return "kali"  # the compiled template: its error message points at the template itself
    if filename.startswith("<frozen "):
        return "python"
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path.startswith(_KALI_DIR):
        return "kali"
    if _library_dirs is None:
        paths = sysconfig.get_paths()
        found = {os.path.abspath(paths[key]) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
                 if key in paths}
        _library_dirs = tuple(found)
    return "python" if path.startswith(_library_dirs) else "app"


# -- text --------------------------------------------------------------------------------


def _template_error(error: BaseException) -> Optional[Any]:
    """The TemplateError this exception is, or was raised from; None if there is none."""
    from .template_errors import TemplateError

    current: Optional[BaseException] = error
    for _ in range(_MAX_CHAIN):
        if current is None:
            return None
        if isinstance(current, TemplateError):
            return current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def _exception_text(error: BaseException) -> str:
    """'<b>KeyError</b>: 'test'' as HTML, with any notes (or SyntaxError caret) after it."""
    text = "".join(traceback.format_exception_only(type(error), error)).rstrip("\n")
    name, sep, rest = text.partition(":")
    if sep and name == _qualified_name(type(error)):
        return f"<b>{_e(name)}</b>:{_e(rest)}"
    return _e(text)


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)

