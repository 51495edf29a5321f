"""Forms: elements that render fields and keep what the user typed, and `Formlet`, a servlet that edits a record.

A Formlet shows a record in a form (GET), and on POST converts every field
with its lens, collects all errors at once, runs cross-field checks and
either shows the form again -- with exactly what the user typed and each
error next to its field -- or saves::

    from kali.forms import Formlet, Entry, Pick, SaveError, REQUIRED, INT, nullable, STRING

    @app.servlet('/contact/*')
    class EditContact(Formlet):
        title = 'Contact'

        def __init__(self, contact_id: str):
            super().__init__({
                'name': Entry(lens=REQUIRED, label='Name'),
                'email': Entry(type='email', lens=nullable(STRING)),
                'age': Entry(type='number', lens=nullable(INT(min=0, max=150))),
                'kind': Pick(['friend', 'work'], required=True),
            })
            self.contact_id = int(contact_id)

        def get_native(self, request):
            return db.execute('select * from contact where id=?', (self.contact_id,)).fetchone()

        def save(self, native, request):
            try:
                with db:
                    db.execute('update contact set name=:name, email=:email, age=:age, kind=:kind '
                               'where id=:id', dict(native, id=self.contact_id))
            except sqlite3.IntegrityError:
                raise SaveError({'email': 'Another contact has this e-mail address.'})
            return Response.redirect('/contacts')

Without a `display` method the Formlet shows a plain page (`title`, one
labelled row per field, a submit button); override ``display(fields,
errors)`` to use your own template, where ``fields[name]`` is the field's
HTML (insert it unescaped, ``{.fields.name}``) with its error message already
next to it, and ``errors[name]`` the message alone.  Errors about the whole
form are under ``errors['_form']`` (:data:`FORM_ERRORS`).

CSRF protection is on unless a subclass sets ``csrf_protect = False``: a POST
that the browser says came from another site is refused with a 403 page
(:func:`kali.security.cross_site_reason`), and every ``<form method=post>``
that a Formlet displays gets a hidden token (an HMAC of the form's target
path under a secret made when the process starts), which the POST must
carry back.  A missing or stale token (e.g. the app restarted after the page
loaded) gives 403 and the form again, with the user's input kept.  For a
page built another way (a stream, a form elsewhere that posts here) insert
:func:`csrf_input` yourself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import unquote, urljoin, urlsplit

from .errors import HTTPError
from .http import redact_target
from .iolist import IOList, to_bytes
from .lenses import (BOOL, DATE, DECIMAL, FLOAT, INT, REQUIRED, REQUIRED_MESSAGE, STRING, TIME, BoolLens,
                     ChoiceLens, DateLens, DecimalLens, EnumLens, FloatLens, IntLens, Lens, Nullable,
                     StringLens, Test, TimeLens, ValidationError, nullable)
from .log import get_logger
from .multipart import UploadedFile
from .patterns import compile_later
from .request import Request
from .response import FileBody, Response, Stream, to_response
from .security import cross_site_reason, cross_site_refusal, set_cross_site_mark
from .signing import sign

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Iterable, TypeAlias
    # kali.csvio (with the csv module) is loaded when one of these is first asked for (`__getattr__`).
    from .csvio import CSVProblem, CSVRow, CSVTable, read_csv

__all__ = [
    # lenses (defined in kali.lenses)
    "ValidationError", "Lens", "STRING", "REQUIRED", "INT", "FLOAT", "DECIMAL", "DATE", "TIME", "BOOL",
    "nullable", "Test", "EnumLens", "ChoiceLens", "StringLens", "IntLens", "FloatLens",
    "DecimalLens", "DateLens", "TimeLens", "BoolLens", "Nullable",
    # elements
    "Element", "Entry", "Memo", "Pick", "Checkbox", "RadioGroup", "Hidden", "FileField",
    # the servlet
    "Formlet", "SaveError", "FORM_ERRORS", "ConvertedValues",
    # CSRF tokens
    "CSRF_FIELD", "csrf_token", "csrf_input", "verify_csrf_token", "add_csrf_tokens", "html_attrs",
    # uploaded CSV files (defined in kali.csvio)
    "read_csv", "CSVTable", "CSVRow", "CSVProblem",
]

logger = get_logger("kali.forms")

#: Names kali.forms re-exports from kali.csvio, which an app without CSV uploads never loads.
_FROM_CSVIO = ("read_csv", "CSVTable", "CSVRow", "CSVProblem")


def __getattr__(name: str) -> Any:
    if name not in _FROM_CSVIO:
        raise AttributeError(f"module 'kali.forms' has no attribute {name!r}")
    from . import csvio
    return getattr(csvio, name)

#: The key of `errors` holding messages about the whole form rather than one field.
FORM_ERRORS = "_form"
#: The name of the hidden input carrying the CSRF token.
CSRF_FIELD = "_csrf_token"


# -- HTML attributes -----------------------------------------------------------------

_ATTR_NAME = compile_later(r"[A-Za-z_:][-A-Za-z0-9_:.]*")


def _attr_name(key: str) -> str:
    # Python keywords need a trailing underscore (class_); HTML uses hyphens (data-id).
    name = key[:-1] if key.endswith("_") and len(key) > 1 else key
    name = name.replace("_", "-")
    if not _ATTR_NAME.fullmatch(name):
        raise ValueError(f"{key!r} is not a valid HTML attribute name")
    return name


def html_attrs(attrs: Mapping[str, Any]) -> str:
    """Attributes as HTML: `class_='x'` -> class="x", `data_id=1` -> data-id="1", True -> bare, False/None -> left out."""
    parts = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = _attr_name(key)
        if value is True:
            parts.append(f" {name}")
            continue
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        parts.append(f' {name}="{html.escape(str(value), quote=True)}"')
    return "".join(parts)


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1024
    return f"{value:.1f}".rstrip("0").rstrip(".") + " GB"


# -- elements --------------------------------------------------------------------------

Raw: TypeAlias = "Any"   # str, a list of str (multi-valued fields) or uploaded files (FileField)


class Element:
    """A form field: reads its raw text from a request, converts it with its lens and renders it as HTML.

    Keyword arguments other than `lens` and `label` are HTML attributes of the
    field (``class_='wide'``, ``data_row=3``, ``required=True``, ``placeholder='...'``).
    ``required=True`` is checked on the server too, and so is ``maxlength``.
    """

    default_lens: Lens = STRING
    _reserved: tuple[str, ...] = ("name",)

    def __init__(self, *, lens: Lens | None = None, label: str | None = None, **attrs: Any) -> None:
        if lens is not None and not isinstance(lens, Lens):
            raise TypeError(f"{type(self).__name__}(lens=...) takes a lens such as INT, not {lens!r}")
        for key in attrs:
            name = _attr_name(key)
            if name in self._reserved:
                raise TypeError(f"{type(self).__name__} sets the {name!r} attribute itself; do not pass {key}=")
        self.lens: Lens = lens if lens is not None else self.default_lens
        #: The text of the field's <label> in the default form layout (None: made from the field name).
        self.label = label
        self.attrs: dict[str, Any] = dict(attrs)

    # -- what the element does for a Formlet

    @property
    def multiple(self) -> bool:
        """Whether the field sends several values (its raw text is a list)."""
        return self.lens.multiple

    @property
    def required(self) -> bool:
        """Whether the field carries the `required` attribute."""
        return bool(self.attrs.get("required"))

    def id_for(self, name: str) -> str:
        """The element's HTML id (the `id` attribute if given, else the field name)."""
        return str(self.attrs.get("id") or name)

    def raw_from_native(self, native: Any) -> Raw:
        """The raw text showing a native value (through the lens)."""
        return self.lens.to_text(native)

    def read(self, request: Request, name: str) -> Raw:
        """The raw text the browser sent for this field ('' or [] when absent)."""
        if self.multiple:
            return request.POST.get_list(name)
        return request.POST.get(name, "")

    def convert(self, raw: Raw) -> Any:
        """The native value of the raw text; ValidationError with a message for the user."""
        if self.required and _blank(raw):
            raise ValidationError(REQUIRED_MESSAGE)
        maxlength = self.attrs.get("maxlength")
        if maxlength is not None and isinstance(raw, str) and len(raw.strip()) > int(maxlength):
            raise ValidationError(f"Enter at most {int(maxlength)} characters (this has {len(raw.strip())}).")
        return self.lens.to_native(raw)

    def render(self, name: str, raw: Raw = "", error: str | None = None) -> str:
        """The field's HTML showing `raw`, followed by its error message if it has one."""
        return self.render_field(name, raw, self._error_attrs(name, error)) + self.render_error(name, error)

    def html(self, name: str, value: Any = None, error: str | None = None) -> str:
        """The field's HTML showing a native value (handy outside a Formlet)."""
        return self.render(name, self.raw_from_native(value), error)

    # -- pieces subclasses provide or reuse

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """The field alone; `extra` holds the error hooks (aria-invalid, aria-describedby)."""
        raise NotImplementedError

    def render_error(self, name: str, error: str | None) -> str:
        """The error message placed right after the field ('' without an error)."""
        if not error:
            return ""
        return f'<span class="field-error" id="{_esc(self.id_for(name))}-error">{_esc(error)}</span>'

    def _error_attrs(self, name: str, error: str | None) -> dict[str, Any]:
        if not error:
            return {}
        return {"aria_invalid": "true", "aria_describedby": f"{self.id_for(name)}-error"}

    def _attrs(self, name: str, extra: Mapping[str, Any], **own: Any) -> str:
        merged: dict[str, Any] = {"name": name, "id": self.id_for(name)}
        merged.update(own)
        merged.update(self.attrs)
        merged.update(extra)
        return html_attrs(merged)

    def __repr__(self) -> str:
        attrs = "".join(f", {k}={v!r}" for k, v in self.attrs.items())
        return f"{type(self).__name__}(lens={self.lens!r}{attrs})"


def _blank(raw: Raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    return not [r for r in raw if not isinstance(r, str) or r.strip()]


_NOT_ENTRY_TYPES = {"checkbox": "Checkbox", "radio": "RadioGroup", "file": "FileField",
                    "submit": None, "button": None, "reset": None, "image": None}


class Entry(Element):
    """An <input> of any text-like type: text, email, number, date, tel, url, password, search, color..."""

    _reserved = ("name", "value", "type")

    def __init__(self, type: str = "text", *, lens: Lens | None = None, label: str | None = None,
                 **attrs: Any) -> None:
        if type in _NOT_ENTRY_TYPES:
            better = _NOT_ENTRY_TYPES[type]
            hint = f"use {better}" if better else "it is not a field; write the button in your page"
            raise ValueError(f"Entry(type={type!r}): {hint}")
        super().__init__(lens=lens, label=label, **attrs)
        self.type = type

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """An <input> showing the raw text (never for passwords, which are not sent back to the page)."""
        value = None if self.type == "password" else raw
        return f"<input{self._attrs(name, extra, type=self.type, value=value)}>"


class Hidden(Entry):
    """An <input type=hidden>: a value the form carries back unchanged (an id, a version)."""

    def __init__(self, *, lens: Lens | None = None, **attrs: Any) -> None:
        super().__init__("hidden", lens=lens, **attrs)


class Memo(Element):
    """A <textarea> for text of several lines (line ends arrive as \\n)."""

    _reserved = ("name", "value")

    def read(self, request: Request, name: str) -> Raw:
        """The text sent, with the browser's CRLF line ends turned into \\n."""
        return request.POST.get(name, "").replace("\r\n", "\n")

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """A <textarea> holding the raw text."""
        # HTML drops one newline right after <textarea>; adding one keeps a leading newline typed by the user.
        return f"<textarea{self._attrs(name, extra)}>\n{_esc(raw)}</textarea>"


def _option_pairs(options: Any, lens: Lens) -> list[tuple[str, str]]:
    """(text, label) for each option: natives as their text, (value, label) pairs, or a dict."""
    if options is None:
        if lens.choices is None:
            raise TypeError("this field needs options, or a lens with choices such as EnumLens/ChoiceLens")
        return list(lens.choices)
    return ChoiceLens(options).choices or []


class _Choice(Element):
    """Shared by Pick and RadioGroup: a fixed set of options."""

    def __init__(self, options: Any = None, *, lens: Lens | None = None, multiple: bool = False,
                 label: str | None = None, **attrs: Any) -> None:
        if lens is None:
            if options is None:
                raise TypeError(f"{type(self).__name__} needs options or a lens with choices")
            base = ChoiceLens(options, multiple=multiple, required=bool(attrs.get("required")))
            # An optional single choice offers "nothing chosen", which must convert to None.
            lens = base if multiple or attrs.get("required") else nullable(base)
        elif multiple and not lens.multiple:
            raise TypeError(f"{type(self).__name__}(multiple=True) needs a multi-valued lens, "
                            f"such as ChoiceLens(values, multiple=True); got {lens!r}")
        elif not lens.multiple and not attrs.get("required") and not isinstance(lens, Nullable):
            # The same promise as with options: the empty choice of an optional field is None,
            # not the lens's "Choose an option." for a field the app did not make required.
            lens = nullable(lens)
        super().__init__(lens=lens, label=label, **attrs)
        self.options = _option_pairs(options, self.lens)

    def _selected(self, raw: Raw) -> list[str]:
        if raw is None:
            return []
        return [raw] if isinstance(raw, str) else list(raw)

    def _options_with_unknown(self, raw: Raw) -> list[tuple[str, str]]:
        # A stored value that is no longer an option is shown rather than silently replaced by
        # the first option (which saving would then write back); converting it will say so.
        known = {text for text, _ in self.options}
        extra = [(t, t) for t in self._selected(raw) if t and t not in known]
        return self.options + extra


class Pick(_Choice):
    """A <select>; with multiple=True a multiple select (its lens converts lists).

    `options` are values, (value, label) pairs or a {value: label} dict; without
    options, the lens's choices are used (``Pick(lens=EnumLens(['Low', 'High']))``).
    A single select that is not ``required=True`` starts with an empty choice
    (label `empty`), which gives None.
    """

    _reserved = ("name", "value", "multiple")

    def __init__(self, options: Any = None, *, multiple: bool = False, lens: Lens | None = None,
                 empty: str = "", label: str | None = None, **attrs: Any) -> None:
        super().__init__(options, lens=lens, multiple=multiple, label=label, **attrs)
        self.empty = empty

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """A <select> with the raw value(s) selected."""
        chosen = set(self._selected(raw))
        parts = [f"<select{self._attrs(name, extra, multiple=self.multiple)}>"]
        if not self.multiple and not self.required:
            selected = " selected" if not chosen or chosen == {""} else ""
            parts.append(f'<option value=""{selected}>{_esc(self.empty)}</option>')
        for text, label in self._options_with_unknown(raw):
            selected = " selected" if text in chosen else ""
            parts.append(f'<option value="{_esc(text)}"{selected}>{_esc(label)}</option>')
        parts.append("</select>")
        return "".join(parts)


class RadioGroup(_Choice):
    """Radio buttons, one per option, each with its label; nothing checked gives None unless required."""

    _reserved = ("name", "value", "type", "checked")

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """A <span role=radiogroup> of labelled radio inputs."""
        chosen = set(self._selected(raw))
        group_id = self.id_for(name)
        own = {k: v for k, v in self.attrs.items() if k not in ("id", "class_")}
        group_attrs = {"class_": self.attrs.get("class_", "radio-group"), "id": group_id,
                       "role": "radiogroup", **extra}
        parts = [f"<span{html_attrs(group_attrs)}>"]
        for n, (text, label) in enumerate(self._options_with_unknown(raw)):
            attrs = {"type": "radio", "name": name, "id": f"{group_id}-{n}", "value": text,
                     "checked": text in chosen, **own}
            parts.append(f"<label><input{html_attrs(attrs)}> {_esc(label)}</label> ")
        parts.append("</span>")
        return "".join(parts)


class Checkbox(Element):
    """An <input type=checkbox>: checked is True, unchecked False (lens BOOL)."""

    default_lens = BOOL
    _reserved = ("name", "value", "type", "checked")

    def read(self, request: Request, name: str) -> Raw:
        """'on' when the box was checked (whatever its value), '' when not."""
        return "on" if name in request.POST else ""

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """A checkbox, checked when the raw text means true."""
        checked = BOOL.to_text(raw) == "on"
        return f"<input{self._attrs(name, extra, type='checkbox', value='on', checked=checked)}>"

    def convert(self, raw: Raw) -> Any:
        """The lens's value; `required=True` means the box must be checked."""
        if self.required and not BOOL.to_text(raw):
            raise ValidationError("Check this box to continue.")
        return self.lens.to_native(raw)


class FileField(Element):
    """An <input type=file>: gives the app an UploadedFile (filename, content_type, size, file, save()) or None.

    `max_size` (bytes) and `accept` (like the HTML attribute: ``'.pdf,image/*'``)
    are checked on the server with a message naming the file.  With
    ``multiple=True`` the value is a list.  The form needs
    ``enctype="multipart/form-data"`` (the default layout has it).  Files are
    temporary: save or read them in `save`.
    """

    _reserved = ("name", "value", "type")

    def __init__(self, *, max_size: int | None = None, accept: str | None = None,
                 multiple: bool = False, label: str | None = None, **attrs: Any) -> None:
        super().__init__(lens=Lens(), label=label, **attrs)
        self.max_size = max_size
        self.accept = accept
        self.file_multiple = multiple

    @property
    def multiple(self) -> bool:
        """Whether several files may be chosen."""
        return self.file_multiple

    def raw_from_native(self, native: Any) -> Raw:
        """A stored file name (text) to mention next to the field; files cannot be pre-filled."""
        return native if isinstance(native, str) else None

    def read(self, request: Request, name: str) -> Raw:
        """The uploaded files for this field (a list, empty when none was chosen)."""
        files = request.files.get_list(name)
        if not files and request.content_type != "multipart/form-data" and request.POST.get(name):
            # The browser sent only the file's name: the <form> lacks the multipart encoding.
            return _NotMultipart(request.POST[name])
        return files

    def convert(self, raw: Raw) -> Any:
        """The UploadedFile (a list if multiple, None if none) after the size and type checks."""
        if isinstance(raw, _NotMultipart):
            raise ValidationError('The file was not uploaded: the <form> needs enctype="multipart/form-data".')
        files: list[UploadedFile] = [f for f in (raw or []) if isinstance(f, UploadedFile)]
        if not files and self.required:
            raise ValidationError("Choose a file.")
        for f in files:
            if self.max_size is not None and f.size > self.max_size:
                raise ValidationError(f"The file {f.filename} is {_human_size(f.size)}; "
                                      f"the largest accepted is {_human_size(self.max_size)}.")
            if self.accept and not _accepted(f, self.accept):
                raise ValidationError(f"The file {f.filename} ({f.content_type}) is not of an accepted "
                                      f"type ({self.accept}).")
        if self.multiple:
            return files
        return files[0] if files else None

    def render_field(self, name: str, raw: Raw, extra: dict[str, Any]) -> str:
        """The file input, with a note about a file chosen before (which the browser cannot keep)."""
        field = f"<input{self._attrs(name, extra, type='file', accept=self.accept, multiple=self.multiple)}>"
        note = ""
        if isinstance(raw, _NotMultipart):
            pass
        elif isinstance(raw, str) and raw:
            note = f'<span class="file-note">Current file: {_esc(raw)}</span>'
        elif isinstance(raw, list) and raw and not extra:
            names = ", ".join(f.filename for f in raw if isinstance(f, UploadedFile))
            note = f'<span class="file-note">Choose {_esc(names)} again: a page shown again cannot keep chosen files.</span>'
        return field + note


class _NotMultipart(str):
    """The file field's text when the form was not multipart (only the file name arrives)."""


def _accepted(upload: UploadedFile, accept: str) -> bool:
    filename = upload.filename.lower()
    ctype = upload.content_type.split(";", 1)[0].strip().lower()
    for token in accept.split(","):
        token = token.strip().lower()
        if not token:
            continue
        if token.startswith("."):
            if filename.endswith(token):
                return True
        elif token.endswith("/*"):
            if ctype.startswith(token[:-1]):
                return True
        elif token == ctype:
            return True
    return False


# -- CSRF tokens -------------------------------------------------------------------------

def csrf_token(path: str) -> str:
    """The CSRF token for forms posting to `path` (percent-decoded, without query)."""
    # Signed with the run's key (kali.signing): valid until the app restarts, which a form out
    # of date then says -- or across processes that share KALI_SIGNING_KEY (a WSGI server's workers).
    return sign("kali-form", path.encode("utf-8", "surrogatepass"))


def verify_csrf_token(token: str | None, path: str) -> bool:
    """Whether `token` is this process's token for `path` (compared in constant time)."""
    if not token:
        return False
    import hmac
    return hmac.compare_digest(token.encode("utf-8", "replace"), csrf_token(path).encode("ascii"))


def csrf_input(path: str) -> str:
    """A hidden <input> carrying the CSRF token, for a form posting to `path`."""
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{csrf_token(path)}">'


_SCAN = compile_later(
    r"<script\b.*?</script\s*>|<!--.*?-->|<form\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.IGNORECASE | re.DOTALL)
_ATTR = compile_later(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _tag_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        value = next((v for v in m.group(2, 3, 4) if v is not None), "")
        attrs.setdefault(m.group(1).lower(), html.unescape(value))
    return attrs


def add_csrf_tokens(page: str, request: Request) -> str:
    """`page` with a CSRF hidden input added to each <form method=post> aimed at this server."""
    def add(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)         # a script or a comment
        attrs = _tag_attrs(m.group(1))
        if attrs.get("method", "get").strip().lower() != "post":
            return m.group(0)
        action = attrs.get("action", "").strip()
        target = urlsplit(urljoin(request.target, action) if action else request.target)
        if target.scheme or target.netloc:
            if f"{target.scheme}://{target.netloc}".lower() != request.origin.lower():
                return m.group(0)     # never hand our token to another site
        return m.group(0) + csrf_input(unquote(target.path or "/"))
    return _SCAN.sub(add, page)


# -- the servlet ---------------------------------------------------------------------------

class SaveError(Exception):
    """Raised by `Formlet.save` when saving failed in a way the user can fix; the form is shown again.

    Give a message about the whole form, a list of them, or {field name: message}::

        except sqlite3.IntegrityError:
            raise SaveError({'email': 'Another contact already has this address.'})
    """

    def __init__(self, errors: str | Mapping[str, str] | Iterable[str]) -> None:
        if isinstance(errors, str):
            self.errors = {FORM_ERRORS: errors}
        elif isinstance(errors, Mapping):
            self.errors = {str(k) or FORM_ERRORS: str(v) for k, v in errors.items()}
        else:
            self.errors = {FORM_ERRORS: " ".join(str(e) for e in errors)}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class Formlet:
    """A servlet that edits one record through a form: GET shows it, POST validates and saves or shows errors.

    Subclasses call ``super().__init__({name: element, ...})`` and write
    `get_native` (the record to show; None or a dict for a new one) and `save`;
    optionally `semantic_checks` (cross-field rules) and `display` (the page).
    ``self.request`` is the current request while these run.
    """

    #: Refuse cross-site POSTs and require the form's CSRF token; turn off only for e.g. an API with its own
    #: auth (the class is then marked like `kali.security.allow_cross_site_requests` marks a handler).
    csrf_protect: bool = True
    #: The page title and heading of the default layout.
    title: str = "Form"
    #: The submit button's text in the default layout.
    submit_label: str = "Save"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The same opt-out mark as kali.security.allow_cross_site_requests, so a router or the
        # security wrapper that looks at the servlet class lets its cross-site requests through too.
        set_cross_site_mark(cls, not cls.csrf_protect)

    def __init__(self, elements: Mapping[str, Element]) -> None:
        for name, element in elements.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"{type(self).__name__}: field names must be non-empty strings, not {name!r}")
            if name in (CSRF_FIELD, FORM_ERRORS):
                raise ValueError(f"{type(self).__name__}: the field name {name!r} is reserved by kali.forms")
            if not isinstance(element, Element):
                hint = f" (wrap it: Entry(lens={element!r}))" if isinstance(element, Lens) else ""
                raise TypeError(f"{type(self).__name__}: field {name!r} must be a form element such as "
                                f"Entry, not {element!r}{hint}")
        self.elements: dict[str, Element] = dict(elements)
        #: The request being answered, while do_GET/do_POST run.
        self.request: Request | None = None

    # -- what subclasses write

    def get_native(self, request: Request) -> Any:
        """The record the form shows on GET: a dict, an sqlite3.Row, an object, or None for a new one.

        Raise HTTPError(404, ...) for a record that does not exist.
        """
        return None

    def semantic_checks(self, native: ConvertedValues) -> Mapping[str, str] | None:
        """Rules involving several fields: {field or '_form': message}, or raise ValidationError.

        They run together with the fields' own checks, so every error shows in one round.
        `native` is a `ConvertedValues` dict: when a field failed to convert it is not in
        there, and reading it (`native["x"]`, `native.get("x")`) skips this check as a whole,
        messages and all (the field shows its own error).  Guard each rule with
        `native.converted("a", "b")` so that the rules whose fields did convert still run.
        """
        return None

    def save(self, native: dict[str, Any], request: Request) -> Any:
        """Store the converted values; return a response (usually a redirect). None redirects back here.

        Raise SaveError for a problem the user can fix (e.g. a UNIQUE constraint).
        """
        raise NotImplementedError(f"{type(self).__name__}.save(native, request) is not written; "
                                  f"it should store {sorted(native)} and return a redirect")

    def display(self, fields: dict[str, str], errors: dict[str, str]) -> Any:
        """The page showing the form: `fields` are name -> field HTML (errors included), `errors` name -> message.

        The default is a page in kali's look (`kali.pages`: the shipped stylesheet, a
        bar with a way home, the flash messages sent to this page), the `title` and `form()`.
        """
        from .flash import flashed_messages
        from .pages import kali_page
        flashes = flashed_messages(self.request) if self.request is not None else []
        return kali_page(self.title, ["<h1>", _esc(self.title), "</h1>\n", self.form(fields, errors)],
                         flashes=flashes, page_class="kali-page kali-form")

    # -- building blocks for display

    def label_for(self, name: str) -> str:
        """The label text of a field: its element's `label`, or the name made readable."""
        label = self.elements[name].label
        return label if label is not None else name.replace("_", " ").capitalize()

    def form(self, fields: dict[str, str], errors: dict[str, str], *, action: str = "",
             submit: str | None = None) -> IOList:
        """A plain <form>: form-wide errors, a labelled row per field and a submit button."""
        multipart = any(isinstance(e, FileField) for e in self.elements.values())
        attrs = {"method": "post", "action": action or None,
                 "enctype": "multipart/form-data" if multipart else None}
        parts: list[str] = [f"<form{html_attrs(attrs)}>\n"]
        if errors.get(FORM_ERRORS):
            parts.append(f'<p class="form-error" role="alert">{_esc(errors[FORM_ERRORS])}</p>\n')
        for name, element in self.elements.items():
            if isinstance(element, Hidden):
                parts.append(fields[name] + "\n")
            elif isinstance(element, Checkbox):
                parts.append(f'<p class="checkbox"><label for="{_esc(element.id_for(name))}">'
                             f'{_esc(self.label_for(name))}</label> {fields[name]}</p>\n')
            elif isinstance(element, RadioGroup):
                parts.append(f'<fieldset><legend>{_esc(self.label_for(name))}</legend>{fields[name]}</fieldset>\n')
            else:
                parts.append(f'<p><label for="{_esc(element.id_for(name))}">{_esc(self.label_for(name))}</label>'
                             f'{fields[name]}</p>\n')
        parts.append(f'<p><button type="submit">{_esc(submit or self.submit_label)}</button></p>\n</form>\n')
        return parts

    def csrf_input(self) -> str:
        """The hidden token input for a form posting to the current path (for pages built by hand)."""
        return csrf_input(self.request.path if self.request is not None else "/")

    # -- the HTTP methods

    def do_GET(self, request: Request) -> Any:
        """Show the record returned by `get_native`."""
        self.request = request
        record = self.get_native(request)
        if isinstance(record, (tuple, list)):
            # A plain row has no field names: the form would show blanks (or a tuple method for a
            # field called 'count'), and saving it would overwrite the record with them.
            raise TypeError(f"{type(self).__name__}.get_native returned a {type(record).__name__}, whose "
                            f"values have no field names; return a dict, an sqlite3.Row (set "
                            f"db.row_factory = sqlite3.Row) or an object with attributes")
        raws = {name: element.raw_from_native(_field_of(record, name))
                for name, element in self.elements.items()}
        return self.show(request, raws, {}, code=200)

    def do_POST(self, request: Request) -> Any:
        """Check the request's origin and token, convert every field, then save or show the form again."""
        self.request = request
        if self.csrf_protect:
            reason = cross_site_reason(request)
            if reason is not None:
                return cross_site_refusal(request, reason)
        raws = {name: element.read(request, name) for name, element in self.elements.items()}
        if self.csrf_protect:
            token = request.POST.get(CSRF_FIELD)
            if not verify_csrf_token(token, request.path):
                logger.warning("refused %s %s: %s CSRF token", request.method, redact_target(request.target),
                               "no" if not token else "a wrong or outdated")
                message = ("This form arrived without its security token, so nothing was saved." if not token
                           else "This form's security token is out of date (the app was probably restarted "
                                "after the page was loaded), so nothing was saved.")
                return self.show(request, raws, {FORM_ERRORS: message + " Check your input below and "
                                                 "submit it again."}, code=403)
        native: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, raw in raws.items():
            try:
                native[name] = self.elements[name].convert(raw)
            except ValidationError as exc:
                errors[name] = exc.message
        # The cross-field rules run even when some fields failed, so the user sees every error
        # in one round; a rule that reads a field that did not convert stops there.
        checked = ConvertedValues(native, failed=errors)
        try:
            _merge(errors, self.semantic_checks(checked), self.elements)
        except ValidationError as exc:
            _merge(errors, exc.message, self.elements)
        except _NotConverted:
            pass        # that field shows its own error already
        if errors:
            return self.show(request, raws, errors, code=422)
        try:
            result = self.save(native, request)
        except SaveError as exc:
            errors = {}
            _merge(errors, exc.errors, self.elements)
            return self.show(request, raws, errors, code=422)
        if result is None:
            return Response.redirect(request.target)
        return result

    def handle(self, request: Request) -> Any:
        """Dispatch on the method (GET/HEAD shows, POST submits; others get 405): a Formlet as a plain handler."""
        if request.method in ("GET", "HEAD"):
            return self.do_GET(request)
        if request.method == "POST":
            return self.do_POST(request)
        raise HTTPError(405, f"{request.method} is not allowed here; use GET or POST.",
                        headers=[("Allow", "GET, HEAD, POST")])

    __call__ = handle

    def show(self, request: Request, raws: Mapping[str, Raw], errors: dict[str, str], *, code: int) -> Any:
        """Render every field with its raw text and error, call `display`, add CSRF tokens to its forms."""
        fields = {name: element.render(name, raws.get(name, ""), errors.get(name))
                  for name, element in self.elements.items()}
        result = self.display(fields, errors)
        if isinstance(result, tuple):
            result = to_response(result)
        if isinstance(result, Response):
            if result.code == 200 and code != 200:
                # A page built as Response(page) has the default 200; the form shown again after
                # an error still answers 422, or 403 for a refused token, as it does without one.
                result.code = code
            if self.csrf_protect and not isinstance(result.content, (FileBody, Stream)):
                result.content = add_csrf_tokens(to_bytes(result.content).decode("utf-8"), request)
            return result
        if isinstance(result, (FileBody, Stream, dict)):
            return result
        page = to_bytes(result).decode("utf-8")
        if self.csrf_protect:
            page = add_csrf_tokens(page, request)
        return Response(page, code=code)


class _NotConverted(Exception):
    """A cross-field rule read a field that failed to convert: the rule cannot run (not an error)."""


class ConvertedValues(dict[str, "Any"]):      # "Any": typing is not imported at run time
    """The converted fields of a submitted form, as `semantic_checks` sees them.

    A plain dict of field name -> value, except that a field which failed to
    convert is missing, and reading it (`values[name]`, `values.get(name)`) raises
    an exception the Formlet catches: the rule that needed it stops quietly, since
    the field already shows its own error.
    """

    def __init__(self, values: Mapping[str, Any], *, failed: Iterable[str] = ()) -> None:
        super().__init__(values)
        #: The fields that did not convert (they have an error of their own).
        self.failed = frozenset(failed)

    def converted(self, *names: str) -> bool:
        """Whether every one of these fields converted (a rule about them can run)."""
        return not self.failed.intersection(names)

    def __missing__(self, key: str) -> Any:
        if key in self.failed:
            raise _NotConverted(key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of a field, `default` if the form has no such field."""
        if key in self.failed:
            raise _NotConverted(key)
        return super().get(key, default)


def _field_of(record: Any, name: str) -> Any:
    """A field of a record: dict/sqlite3.Row item, else attribute; None when absent."""
    if record is None:
        return None
    keys = getattr(record, "keys", None)
    if keys is not None:
        try:
            return record[name] if name in keys() else None
        except (KeyError, IndexError):
            return None
    return getattr(record, name, None)


def _merge(errors: dict[str, str], more: Any, elements: Mapping[str, Element]) -> None:
    """Add messages from semantic_checks or SaveError; keys that are not fields go to the form-wide message."""
    if not more:
        return
    if isinstance(more, str):
        more = {FORM_ERRORS: more}
    for key, message in more.items():
        key = key or FORM_ERRORS
        if key != FORM_ERRORS and key not in elements:
            message = f"{key}: {message}"
            key = FORM_ERRORS
        if errors.get(key):
            errors[key] = f"{errors[key]} {message}"
        else:
            errors[key] = str(message)
