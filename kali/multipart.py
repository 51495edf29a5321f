"""A streaming `multipart/form-data` reader: form fields as text, files spooled to disk."""

from __future__ import annotations

import os
import re

from .http import OWS, Headers, HTTPError
from .patterns import compile_later

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import IO

__all__ = ["UploadedFile", "parse_multipart", "parse_header_params", "SPOOL_SIZE"]

#: Uploaded files larger than this many bytes are moved from memory to a temporary file.
SPOOL_SIZE = 1 << 20

_BLOCK = 1 << 16
# The longest preamble (text before the first boundary) accepted; browsers send none.
_PREAMBLE_LIMIT = 1 << 14


class UploadedFile:
    """One uploaded file: its field name, client-side filename, type, size and contents."""

    def __init__(self, name: str, filename: str, content_type: str, file: IO[bytes],
                 size: int, headers: Headers | None = None) -> None:
        self.name = name
        #: The file's base name as the browser sent it (any client path removed).
        self.filename = filename
        self.content_type = content_type
        #: A readable binary file positioned at the start of the contents.
        self.file = file
        self.size = size
        self.headers = headers if headers is not None else Headers()

    def read(self, size: int = -1) -> bytes:
        """Read from the contents (all of them by default)."""
        return self.file.read(size)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Copy the contents to `path` without loading them into memory."""
        self.file.seek(0)
        with open(path, "wb") as out:
            import shutil       # on the first upload saved: not every app receives one
            shutil.copyfileobj(self.file, out, _BLOCK)
        self.file.seek(0)

    def close(self) -> None:
        """Release the temporary storage."""
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name}={self.filename!r} {self.content_type} {self.size} bytes>"


# Whitespace here is SP and HTAB only (RFC 9110 5.6.3): `\s` would also match U+0085 and U+00A0.
_PARAM = compile_later(r';[ \t]*([^ \t=;]+)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\.)*"|[^;]*))?')
_ANY_ESCAPE = compile_later(r"\\(.)", re.DOTALL)
_QUOTE_ESCAPE = compile_later(r'\\(["\\])')


def parse_header_params(value: str, *, backslash_escapes: bool = True) -> tuple[str, dict[str, str]]:
    """Split `type/sub; a=1; b="x y"` into the main value and lower-cased parameters.

    With backslash_escapes=False (form-data names and filenames) only `\\"` and
    `\\\\` are escapes: browsers write `"` as %22, and an old browser's Windows
    path (`C:\\dir\\a.txt`) keeps its other backslashes.
    """
    semi = value.find(";")
    if semi < 0:
        return value.strip(OWS).lower(), {}
    main = value[:semi].strip(OWS).lower()
    params: dict[str, str] = {}
    for m in _PARAM.finditer(value, semi):
        key = m.group(1).lower()
        raw = (m.group(2) or "").strip(OWS)
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = (_ANY_ESCAPE if backslash_escapes else _QUOTE_ESCAPE).sub(r"\1", raw[1:-1])
        params[key] = raw
    return main, params


def _ext_value(value: str) -> str | None:
    """Decode an RFC 8187 `charset'lang'percent-encoded` parameter value."""
    from urllib.parse import unquote
    parts = value.split("'", 2)
    if len(parts) != 3:
        return None
    charset = parts[0].lower() or "utf-8"
    if charset not in ("utf-8", "iso-8859-1", "us-ascii"):
        # RFC 8187 names these; any other name would reach an arbitrary Python codec
        # ('unicode_escape' makes lone surrogates, 'punycode' raises UnicodeError).
        return None
    try:
        return unquote(parts[2], encoding=charset, errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def _unescape_form_name(text: str) -> str:
    # The HTML form encoding writes these three characters as %22, %0D and %0A inside quotes.
    if "%" not in text:
        return text
    return text.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


def _client_basename(filename: str) -> str:
    # Old browsers send the whole client path; only the last part is the file's name.
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def parse_multipart(fp: IO[bytes], boundary: str, *, max_field_size: int = 1 << 20,
                    max_parts: int = 1000, spool_size: int = SPOOL_SIZE,
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, UploadedFile]]]:
    """Read a multipart/form-data body from `fp`: (text fields, uploaded files)."""
    if not boundary or len(boundary) > 200:
        raise HTTPError(400, "The multipart boundary is missing or malformed.")
    reader = _Reader(fp)
    opening = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + opening
    had_preamble = reader.skip_preamble(opening)
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, UploadedFile]] = []
    while True:
        after = reader.read_exact(2)
        if after == b"--":
            if had_preamble and not fields and not files:
                # RFC 2046 wants at least one part; only a bare close delimiter is let through.
                raise HTTPError(400, "The multipart body has no part after its preamble.")
            # The close delimiter; first of all, it is an empty form (what Chromium sends for one).
            reader.check_epilogue(opening)
            return fields, files
        if after != b"\r\n":
            raise HTTPError(400, "A multipart boundary line is malformed.")
        if len(fields) + len(files) >= max_parts:
            raise HTTPError(413, f"The form has more than {max_parts} parts.")
        headers = reader.read_part_headers()
        if len(headers.get_all("content-disposition")) > 1 or len(headers.get_all("content-type")) > 1:
            raise HTTPError(400, "A multipart part has more than one Content-Disposition or Content-Type header.")
        disposition, params = parse_header_params(headers.get("content-disposition") or "",
                                                  backslash_escapes=False)
        if disposition != "form-data" or "name" not in params:
            raise HTTPError(400, "A multipart part has no form-data Content-Disposition name.")
        name = _unescape_form_name(params["name"])
        filename = params.get("filename")
        if filename is not None:
            filename = _unescape_form_name(filename)
        if "filename*" in params:
            filename = _ext_value(params["filename*"]) or filename
        if filename is None:
            data = reader.read_until(delimiter, limit=max_field_size, field=name)
            try:
                fields.append((name, data.decode("utf-8")))
            except UnicodeDecodeError:
                raise HTTPError(400, f"Form field {name!r} is not valid UTF-8.") from None
        else:
            import tempfile     # on the first file uploaded: not every app receives one
            sink: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool_size)
            size = reader.copy_until(delimiter, sink)
            sink.seek(0)
            if not filename and not size:
                sink.close()      # a file input left empty
                continue
            ctype = headers.get("content-type") or "application/octet-stream"
            files.append((name, UploadedFile(name, _client_basename(filename), ctype, sink, size, headers)))


class _Reader:
    """Buffered reading of a body file with the searches multipart needs."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        block = self.fp.read(_BLOCK)
        if not block:
            self.eof = True
            return False
        self.buf += block
        return True

    def skip_preamble(self, opening: bytes) -> bool:
        """Consume everything up to and including the first boundary (RFC 2046 5.1.1).

        It must open the body or follow a preamble line. A preamble holding the
        boundary, or a line that starts with '--', hides a part (under a mangled or
        another boundary): the body is refused rather than that part silently dropped.
        Returns whether there was a preamble.
        """
        limit = _PREAMBLE_LIMIT + 2 + len(opening)
        while len(self.buf) < limit and self._fill():
            pass
        buf = self.buf
        if buf.startswith(opening):
            del buf[:len(opening)]
            return False
        i = buf.find(b"\r\n" + opening, 0, limit)
        if i < 0:
            raise HTTPError(400, "The multipart body does not start with the boundary its Content-Type declares.")
        preamble = buf[:i]
        if preamble.startswith(b"--") or b"\n--" in preamble or opening in preamble:
            raise HTTPError(400, "The multipart body starts with a boundary other than the one its "
                                 "Content-Type declares.")
        del buf[:i + 2 + len(opening)]
        return True

    def check_epilogue(self, opening: bytes) -> None:
        """Refuse a boundary after the close delimiter: the part it starts would be lost."""
        keep = len(opening) - 1
        while True:
            if self.buf.find(opening) >= 0:
                raise HTTPError(400, "The multipart body continues with a part after its closing boundary.")
            if len(self.buf) > keep:
                del self.buf[:-keep]
            if not self._fill():
                return

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise HTTPError(400, "The multipart body ends too early.")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_part_headers(self) -> Headers:
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if self.buf.startswith(b"\r\n"):
                del self.buf[:2]
                return Headers()
            if len(self.buf) > 16384:
                raise HTTPError(400, "A multipart part's headers are too large.")
            if not self._fill():
                raise HTTPError(400, "The multipart body ends inside a part's headers.")
        raw = bytes(self.buf[:end])
        del self.buf[:end + 4]
        headers = Headers()
        for line in raw.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon:
                raise HTTPError(400, "A multipart part header is malformed.")
            # Browsers send non-ASCII field names and filenames as raw UTF-8.
            headers.add(name.decode("latin-1").strip(OWS), value.strip(b" \t").decode("utf-8", "replace"))
        return headers

    def read_until(self, delimiter: bytes, *, limit: int, field: str) -> bytes:
        while True:
            i = self.buf.find(delimiter)
            if i >= 0:
                data = bytes(self.buf[:i])
                del self.buf[:i + len(delimiter)]
                return data
            if len(self.buf) > limit + len(delimiter):
                raise HTTPError(413, f"Form field {field!r} is larger than {limit} bytes.")
            if not self._fill():
                raise HTTPError(400, "The multipart body ends inside a part.")

    def copy_until(self, delimiter: bytes, sink: IO[bytes]) -> int:
        size = 0
        keep = len(delimiter) - 1
        while True:
            i = self.buf.find(delimiter)
            if i >= 0:
                sink.write(self.buf[:i])
                del self.buf[:i + len(delimiter)]
                return size + i
            if len(self.buf) > keep:
                n = len(self.buf) - keep
                sink.write(self.buf[:n])
                del self.buf[:n]
                size += n
            if not self._fill():
                raise HTTPError(400, "The multipart body ends inside a file.")
