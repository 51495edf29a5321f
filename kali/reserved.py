"""What kali itself answers under the reserved prefix `/_kali/`: its own assets and live channels.

Every path under `/_kali/` belongs to kali, never to an app, and is answered
here, before the app's handler (`secure(reserved(app))`: the Host allow-list
runs first).  Requests under the prefix are same-origin only: a page of
another site cannot even read kali's assets through the user's browser.

- `/_kali/<stem>.<hash>.<ext>`: the files in `kali/assets/` (the stylesheet,
  the icon, the page script), named by a hash of their content so a browser
  may keep them for a year; `asset_url("kali.css")` gives the current name.
- `/favicon.ico`: kali's icon, when the app itself answers 404 for it.
- a page that showed its flash messages (`kali.flash`) has their cookie deleted.
- live channels that `serve_http` turns on (the per-page event channel, the
  single-instance ping) are registered by name with `channels=`.
- while the event channel (`events`) is on, every HTML page gets the page
  script (`page.js`, which keeps the page's stream open) appended, unless its
  response says `page_script = False`.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

from .exchange import shows_tracebacks
from .request import Request
from .response import FileBody, Handler, Response, Stream, run_handler, to_response

__all__ = ["PREFIX", "Asset", "asset", "asset_url", "ReservedPaths", "reserved", "is_same_origin",
           "add_page_script"]

#: The path prefix kali keeps for itself.
PREFIX = "/_kali/"

_ASSET_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: A hashed name never changes content, so browsers may keep it without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"


class Asset:
    """One file of kali's own, read once, with the content-hashed URL it is served under."""

    __slots__ = ("name", "content", "digest", "url", "content_type")

    def __init__(self, name: str, content: bytes) -> None:
        import hashlib     # only when an asset is first served: keeps `import kali` light
        stem, ext = os.path.splitext(name)
        self.name = name
        self.content = content
        #: The first 8 hex digits of the content's SHA-256: a new release gets a new URL.
        self.digest = hashlib.sha256(content).hexdigest()[:8]
        self.url = f"{PREFIX}{stem}.{self.digest}{ext}"
        self.content_type = _TYPES.get(ext, "application/octet-stream")

    def response(self, *, immutable: bool = True) -> Response:
        """The asset as a response (cacheable for a year unless `immutable` is False)."""
        response = Response(self.content, content_type=self.content_type)
        response.headers["Cache-Control"] = IMMUTABLE if immutable else "no-cache"
        return response


_assets: dict[str, Asset] = {}


def asset(name: str) -> Asset:
    """The asset `name` from kali/assets/ ('kali.css', 'icon.svg'); KeyError names the ones there are."""
    found = _assets.get(name)
    if found is None:
        path = os.path.join(_ASSET_FOLDER, name)
        if os.sep in name or (os.altsep and os.altsep in name) or not os.path.isfile(path):
            known = ", ".join(sorted(os.listdir(_ASSET_FOLDER)))
            raise KeyError(f"kali has no asset {name!r} (it has {known})")
        with open(path, "rb") as f:
            found = _assets[name] = Asset(name, f.read())
    return found


def asset_url(name: str) -> str:
    """The path kali serves its asset `name` under, e.g. '/_kali/kali.3f9a1c2e.css'."""
    return asset(name).url


def _find_asset(filename: str) -> tuple[Asset, bool] | None:
    """(the asset, whether the hash is current) for a served name like 'kali.3f9a1c2e.css'."""
    stem, ext = os.path.splitext(filename)
    base, dot, digest = stem.rpartition(".")
    if not dot or not base or not ext:
        return None
    try:
        found = asset(base + ext)
    except KeyError:
        return None
    return found, digest == found.digest


def is_same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from a page of this very server (or no page)."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip(" \t").lower() not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None and origin.strip(" \t").lower() != request.origin.lower():
        return False
    return True


#: A live channel under the prefix: called with the request, returns the response.
Channel = Callable[[Request], Response]


class ReservedPaths:
    """A handler that answers `/_kali/...` (and a missing `/favicon.ico`) itself and passes the rest on."""

    def __init__(self, handler: Handler, *, channels: Mapping[str, Channel] | None = None,
                 debug: bool = True) -> None:
        if not callable(handler):
            raise TypeError(f"reserved() needs a handler (a callable taking a Request), not {handler!r}")
        self.handler = handler
        self.__wrapped__ = handler
        #: Live endpoints by name: 'events' answers '/_kali/events'.
        self.channels: dict[str, Channel] = dict(channels or {})
        self.debug = debug

    def __call__(self, request: Request) -> object:
        """Answer a reserved path, or call the app."""
        path = request.path
        if path.startswith(PREFIX):
            return self._reserved(request, path[len(PREFIX):])
        if path == "/favicon.ico" and request.method in ("GET", "HEAD"):
            response = run_handler(self.handler, request, debug=self.debug)
            if response.code == 404:
                return asset("icon.svg").response(immutable=False)
            return response
        if "events" in self.channels:
            # Every page, error pages included, keeps its presence stream: a 404 shown in the
            # app's window is still an open window.
            response = run_handler(self.handler, request, debug=shows_tracebacks(self.debug, request.client[0]))
            events = self.channels["events"]
            add_page_script(response, boot=getattr(events, "boot", None) if getattr(events, "stamp_pages", False)
                            else None)
            result: object = response
        else:
            result = self.handler(request)
        if "_kali_flash_taken" in request.__dict__:
            # The page showed its flash messages: its response deletes their cookie.
            from .flash import finish_flashes
            result = to_response(result)
            finish_flashes(request, result)
        return result

    def _reserved(self, request: Request, name: str) -> Response:
        if not is_same_origin(request):
            return Response.generic(403, "kali's own paths answer only pages of this app.")
        channel = self.channels.get(name)
        if channel is not None:
            return to_response(channel(request))
        if "/" not in name:
            found = _find_asset(name)
            if found is not None:
                if request.method not in ("GET", "HEAD"):
                    response = Response.generic(405, f"{request.method} is not allowed here.")
                    response.headers["Allow"] = "GET, HEAD"
                    return response
                # A page cached before an upgrade asks for an old hash: give it the current
                # file, but not for keeps.
                return found[0].response(immutable=found[1])
        return Response.generic(404, f"kali has nothing at {PREFIX}{name}.")

    def __repr__(self) -> str:
        return f"<reserved {self.handler!r}>"


#: HTML files served from disk (a static index.html) up to this size get the page script too.
_PAGE_FILE_LIMIT = 1 << 20


def add_page_script(response: Response, *, boot: str | None = None) -> None:
    """Append the page script's tag to an HTML page (an iolist, or a small file) unless it opted out.

    `boot`: the id of the process serving the page (`data-boot`), for a page script that must
    notice it was served by a process already being replaced (`EventChannel.stamp_pages`).
    """
    code = response.code
    if not response.page_script or code < 200 or code == 204 or 300 <= code < 400 or response.shut_down:
        return          # no body, one the browser never shows, or the app's last page
    content_type = response.content_type or ""
    if not content_type.lower().startswith("text/html"):
        return
    content = response.content
    if isinstance(content, FileBody):
        if response.code != 200 or content.length > _PAGE_FILE_LIMIT:
            return          # a range of a page, or a file too big to read into memory here
        file = content.open()
        try:
            file.seek(content.offset)
            content = file.read(content.length)
        finally:
            file.close()
    elif isinstance(content, Stream):
        return              # sent as it is produced: nothing can go after it
    # Browsers put markup after </html> into the body: appending needs no parsing.
    stamp = f' data-boot="{boot}"' if boot is not None else ""
    response.content = [content, '<script src="', asset_url("page.js"), '"', stamp, ' defer></script>\n']


def reserved(handler: Handler, *, channels: Mapping[str, Channel] | None = None,
             debug: bool = True) -> ReservedPaths:
    """Wrap `handler` so kali answers its reserved paths (serve_http does this for every app)."""
    return ReservedPaths(handler, channels=channels, debug=debug)
