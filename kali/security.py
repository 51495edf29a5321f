"""Localhost security: refusing requests that another web site made the user's browser send."""

from __future__ import annotations

from typing import Any

__all__ = ["UNSAFE_METHODS", "cross_site_reason"]

#: Methods that change things; only these are refused when they come from another site.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cross_site_reason(request: Any) -> str | None:
    """Why an unsafe request looks forged by another site, or None if it may proceed.

    Browsers say where a request comes from in `Sec-Fetch-Site`; older ones
    only in `Origin` or `Referer`.  A request with none of these did not come
    from a web page (curl, a script), so it passes.
    """
    if request.method not in UNSAFE_METHODS:
        return None
    ours = request.origin.lower()
    headers = request.headers
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None:
        site = site.lower()
        if site in ("same-origin", "none"):
            return None
        if site == "same-site" and origin is not None and origin.lower() == ours:
            return None
        return (f"the browser says this {request.method} request came from another site "
                f"(Sec-Fetch-Site: {site}, Origin: {origin or 'none'})")
    if origin is not None:
        if origin.lower() == ours:
            return None
        return f"this {request.method} request came from the page origin {origin}, not {ours}"
    referer = headers.get("referer")
    if referer is not None:
        if referer.lower() == ours or referer.lower().startswith(ours + "/"):
            return None
        return f"this {request.method} request came from the page {referer}, not from {ours}"
    return None
