"""kali's own page frame: the head linking the shipped stylesheet and icon, a bar with a way home, flash messages.

The pages kali makes by itself -- the default error pages, the default Formlet
page, the debug page -- look like one family and like the examples: they link
`kali/assets/kali.css` and the icon under their content-hashed `/_kali/` URLs
(served by `kali.reserved` in every transport), so no page carries a copy of
the stylesheet.  An app's own templates get the same links from the names
every template can see (`{kali.css}`, `{kali.icon}`, `{.kali.head}`).
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from .iolist import IOList

__all__ = ["asset_links", "flash_list", "kali_page"]


def asset_links() -> str:
    """`<link>` tags for kali's icon and stylesheet ('' if kali's assets are missing from the install)."""
    from .reserved import asset_url
    try:
        icon, css = asset_url("icon.svg"), asset_url("kali.css")
    except (KeyError, OSError):
        # A page must still be sent, unstyled, when the package lost its assets.
        return ""
    return (f'<link rel="icon" href="{icon}" type="image/svg+xml">\n'
            f'<link rel="stylesheet" href="{css}">\n')


def flash_list(flashes: Iterable[Any]) -> str:
    """The HTML of flash messages (`kali.flash.Flash`: kind and message), '' when there are none.

    Each is a `<p class="flash KIND">` inside `<div class="flashes" role="status">`, so a
    screen reader announces it; kali.css styles the kinds info, success, warning and error.
    """
    items = [f'<p class="flash {html.escape(_kind(flash), quote=True)}">{html.escape(str(flash))}</p>'
             for flash in flashes]
    if not items:
        return ""
    return '<div class="flashes" role="status">\n' + "\n".join(items) + "\n</div>\n"


def _kind(flash: Any) -> str:
    kind = str(getattr(flash, "kind", "info"))
    # A class name: letters, digits and '-' only (a kind is the app's word, but keep the markup sane).
    return "".join(ch for ch in kind if ch.isascii() and (ch.isalnum() or ch == "-")) or "info"


def kali_page(title: str, body: IOList, *, home: str | None = "/", flashes: Iterable[Any] = (),
              page_class: str = "kali-page", head: str = "") -> list[Any]:
    """A whole HTML page in kali's look: `title`, a bar with a link to `home` (None: no bar), flash messages, `body`.

    `body` is trusted markup (an iolist); `title` is text and is escaped; `head` is
    extra markup for the <head> (a <style> of the page's own).
    """
    out: list[Any] = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>',
        html.escape(title), "</title>\n", asset_links(), head,
        f'</head><body class="{html.escape(page_class, quote=True)}">\n',
    ]
    if home is not None:
        out.append(f'<header class="bar"><a class="brand" href="{html.escape(home, quote=True)}">'
                   f'<span class="home-mark" aria-hidden="true">⌂</span>Home</a></header>\n')
    out += ["<main>\n", flash_list(flashes), body, "</main>\n</body></html>\n"]
    return out
