"""`StaticFolder`: serve the files of one directory (stylesheets, scripts, images) safely and cacheably.

Mount it with `router.delegate_folder('/static/', StaticFolder('static'))`.
Bodies are `FileBody`s, so the server sends them with `sendfile` and a file of
any size costs no memory.  Nothing outside the directory is ever served: the
decoded path is checked segment by segment, then resolved with `realpath` and
required to stay inside the resolved directory (so symlinks pointing out fail).
"""

from __future__ import annotations

import html
import os
import stat
from urllib.parse import quote

from .errors import HTTPError
from .request import Request
from .response import FileBody, Response, guess_type, http_date

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["StaticFolder"]

_ALLOW = "GET, HEAD, OPTIONS"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
_WINDOWS = os.name == "nt"


class StaticFolder:
    """A handler serving the files below `directory` (GET and HEAD, conditional and range requests)."""

    def __init__(self, directory: str | os.PathLike[str], *, listing: bool = False, show_hidden: bool = False,
                 max_age: int | None = None, index: str | None = "index.html") -> None:
        path = os.fspath(directory)
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            raise NotADirectoryError(f"StaticFolder: {path!r} is not a directory (resolved to {real!r})")
        #: The directory served, fully resolved.
        self.directory = real
        #: Answer a folder without an index file with a list of its entries.
        self.listing = listing
        #: Serve names starting with '.' (hidden by default: .git, .env, editor swap files).
        self.show_hidden = show_hidden
        #: Seconds browsers may reuse a file without asking; None makes them revalidate each time (cheap: 304).
        self.max_age = max_age
        #: The file sent for a folder's own URL, if it exists there.
        self.index = index
        self._prefix = real if real.endswith(os.sep) else real + os.sep

    def __repr__(self) -> str:
        return f"StaticFolder({self.directory!r})"

    def __call__(self, request: Request) -> Response:
        """Answer GET or HEAD for a file (or folder) below the directory."""
        method = request.method
        if method != "GET" and method != "HEAD":
            if method == "OPTIONS":
                return Response(code=204, headers=[("Allow", _ALLOW)])
            return Response.generic(405, f"Static files can only be read, not sent {method}.",
                                    headers=[("Allow", _ALLOW)])
        segments = request.rest_segments
        problem = self._refuse(segments)
        if problem is not None:
            return problem
        path = self._resolve(segments)
        if path is None:
            return _missing(request)
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return _missing(request)
        if stat.S_ISDIR(info.st_mode):
            return self._folder(request, path, segments)
        if not stat.S_ISREG(info.st_mode):
            return _missing(request)     # never open FIFOs or devices: the one thread would hang
        if not segments or segments[-1] == "":
            # 'a.css/' names a folder: a file there would get no type and break relative links.
            return _missing(request)
        return self._file(request, path, info, segments[-1])

    # -- path safety ----------------------------------------------------------------

    def _refuse(self, segments: list[str]) -> Response | None:
        """A 403 for a path no honest link produces, a 404 for hidden names; None if acceptable."""
        last = len(segments) - 1
        for i, segment in enumerate(segments):
            if segment == "":
                if i == last:
                    continue
                return _forbidden("The path contains an empty segment.")
            if segment == "." or segment == "..":
                return _forbidden("The path contains a '.' or '..' segment.")
            if "/" in segment or "\\" in segment:
                return _forbidden("A path segment contains an encoded slash or a backslash.")
            if "\x00" in segment:
                return _forbidden("The path contains a NUL character.")
            if (len(segment) >= 2 and segment[1] == ":" and segment[0].isalpha()) or (_WINDOWS and ":" in segment):
                return _forbidden("The path contains a drive letter or a stream name.")
            if segment[0] == "." and not self.show_hidden:
                return Response.generic(404, "There is no such file.")
        return None

    def _resolve(self, segments: list[str]) -> str | None:
        """The real path of the request inside the directory, or None if it leads anywhere else."""
        names = [s for s in segments if s]
        candidate = os.path.join(self.directory, *names)
        if os.path.isabs(os.path.join(*names) if names else ""):
            return None
        try:
            real = os.path.realpath(candidate)
        except (OSError, ValueError):
            return None
        if real != self.directory and not real.startswith(self._prefix):
            return None
        if not self.show_hidden and real != self.directory:
            # A link inside the folder may still point at a hidden file or folder.
            inside = real[len(self._prefix):]
            if any(part.startswith(".") for part in inside.split(os.sep)):
                return None
        return real

    # -- files ----------------------------------------------------------------------

    def _file(self, request: Request, path: str, info: os.stat_result, name: str) -> Response:
        size = info.st_size
        etag = f'"{size:x}-{info.st_mtime_ns:x}-{info.st_ino:x}"'
        headers = [
            ("ETag", etag),
            ("Last-Modified", http_date(info.st_mtime)),
            ("Cache-Control", "no-cache" if self.max_age is None else f"max-age={int(self.max_age)}"),
            ("Accept-Ranges", "bytes"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if _not_modified(request, etag, info.st_mtime):
            return Response(code=304, headers=headers)
        content_type = guess_type(name)
        offset, length, code = 0, size, 200
        range_header = request.headers.get("range")
        if range_header is not None and _if_range_holds(request, etag, info.st_mtime):
            wanted = _parse_range(range_header, size)
            if wanted is _UNSATISFIABLE:
                headers.append(("Content-Range", f"bytes */{size}"))
                return Response.generic(416, f"The requested range is outside the file ({size} bytes).",
                                        headers=headers)
            if wanted is not None:
                offset, end = wanted
                length = end - offset + 1
                code = 206
                headers.append(("Content-Range", f"bytes {offset}-{end}/{size}"))
        if request.method == "HEAD" or length == 0:
            # Nothing will be read: do not open the file.
            body: Any = FileBody(path, offset=offset, length=length) if length else b""
            return Response(body, code=code, headers=headers, content_type=content_type)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            return _missing(request)
        f = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            f.close()                   # swapped for something else since the stat
            return _missing(request)
        return Response(FileBody(file=f, offset=offset, length=length), code=code, headers=headers,
                        content_type=content_type)

    # -- folders --------------------------------------------------------------------

    def _folder(self, request: Request, path: str, segments: list[str]) -> Response:
        if segments and segments[-1] != "":
            target = request.raw_path + "/"
            if request.query_string:
                target += "?" + request.query_string
            response = Response.redirect(target, 308)
            response.headers["Cache-Control"] = "no-cache"
            return response
        if self.index:
            index = os.path.join(path, self.index)
            try:
                info = os.stat(index)
            except OSError:
                info = None
            if info is not None and stat.S_ISREG(info.st_mode):
                return self._file(request, index, info, self.index)
        if not self.listing:
            return Response.generic(404, "This folder has no index file and listing it is turned off.")
        return Response(self._listing(request, path), headers=[("Cache-Control", "no-cache")])

    def _listing(self, request: Request, path: str) -> list[Any]:
        try:
            names = sorted(os.listdir(path), key=lambda n: (n.casefold(), n))
        except OSError:
            raise HTTPError(404, "This folder cannot be read.") from None
        title = html.escape(request.path)
        rows: list[Any] = []
        if path != self.directory:
            rows.append('<li><a href="../">../</a></li>\n')
        for name in names:
            if name.startswith(".") and not self.show_hidden:
                continue
            full = os.path.join(path, name)
            real = os.path.realpath(full)
            if real != self.directory and not real.startswith(self._prefix):
                continue        # a link out of the folder: it would not be served anyway
            shown = name + "/" if os.path.isdir(full) else name
            rows += ['<li><a href="', html.escape(quote(shown, safe="/"), quote=True), '">',
                     html.escape(shown), "</a></li>\n"]
        return ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", title,
                "</title></head><body><h1>", title, "</h1>\n<ul>\n", rows, "</ul></body></html>\n"]


def _forbidden(message: str) -> Response:
    return Response.generic(403, message)


def _missing(request: Request) -> Response:
    return Response.generic(404, "There is no such file.")


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): does the If-None-Match list name this ETag?"""
    if header.strip() == "*":
        return True
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == opaque:
            return True
    return False


def _parse_date(text: str) -> float | None:
    from email.utils import parsedate_to_datetime
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    headers = request.headers
    match = headers.get("if-none-match")
    if match is not None:
        # When both are sent, If-None-Match decides (RFC 9110 13.2.2).
        return _etag_matches(match, etag)
    since = headers.get("if-modified-since")
    if since is not None:
        when = _parse_date(since)
        return when is not None and int(mtime) <= when
    return False


def _if_range_holds(request: Request, etag: str, mtime: float) -> bool:
    """True unless an If-Range header says the client's partial copy is of another version."""
    condition = request.headers.get("if-range")
    if condition is None:
        return True
    condition = condition.strip()
    if condition.startswith('"') or condition.startswith("W/"):
        return condition == etag          # strong comparison: a weak tag never matches
    when = _parse_date(condition)
    return when is not None and int(mtime) == when


_UNSATISFIABLE = (-1, -1)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single satisfiable range, _UNSATISFIABLE, or None to send the whole file."""
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None         # several ranges: answering with the whole file is allowed and simpler
    first, dash, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isascii() and last.isascii()):
        return None
    if first == "":
        if not last.isdigit():
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return _UNSATISFIABLE
        return max(0, size - suffix), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None         # syntactically invalid: ignore the header
    if start >= size:
        return _UNSATISFIABLE
    if end is None:
        end = size - 1
    return start, min(end, size - 1)
