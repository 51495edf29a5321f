"""Localhost security: answer only the user's own browser, and only on purpose.

A kali app listens on the user's machine, and any web page they visit can make
their browser send requests to it.  `secure(handler)` (applied by `serve_http`
unless `secure=False`) refuses what such a page could do:

- a `Host` that does not name this server (DNS rebinding: a hostile name that
  resolves to 127.0.0.1 would otherwise let the page read the answers) -> 421;
- an unsafe method (POST, PUT, PATCH, DELETE) sent by another site -> 403;
- with a launch token (`serve_http(private=True)`), any request without it -> 403;

and adds protective headers to every response, and `Cache-Control: no-cache`
(a response that sets one keeps its own value; setting it to '' leaves it out).

This module is also the one home of the cross-site rule the forms and the
router share: the reason a request looks forged (`cross_site_reason`), the one
403 page that refuses it (`cross_site_refusal`), and the opt-out mark
(`allow_cross_site_requests`, `set_cross_site_mark`, `has_cross_site_mark`,
`find_cross_site_probe`), followed through wrappers the same way everywhere.

A request without `Host` (HTTP/1.0 from a script) passes the Host check: every
browser sends Host, so such a request cannot be a rebinding attack.  The
launch token still applies to it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import unquote

from .http import OWS, TOKEN_PARAMETER, redact_target
from .log import get_logger
from .request import Request
from .response import DefaultFields, Handler, Response, error_response, to_response

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, TypeAlias, TypeVar, Union

    H = TypeVar("H", bound=Callable[..., Any])

__all__ = [
    "UNSAFE_METHODS", "DEFAULT_SECURITY_HEADERS", "TOKEN_PARAMETER", "LOOPBACK_HOSTS", "DEFAULT_PORTS",
    "cross_site_reason", "cross_site_refusal", "secure", "SecurityWrapper", "allow_cross_site_requests",
    "set_cross_site_mark", "has_cross_site_mark", "find_cross_site_probe", "is_loopback_address",
    "is_local_client",
]

logger = get_logger()

#: Methods that change things; only these are refused when they come from another site.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Headers every secured response gets unless it sets them itself (an empty value leaves one out).
DEFAULT_SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),     # a text upload must not be run as a script
    ("Referrer-Policy", "same-origin"),        # links to other sites do not reveal local URLs
    ("X-Frame-Options", "DENY"),               # no other page can frame the app and trick clicks
    # A page of a data app shows the data as it is now: without this, a cache may reuse a
    # stored copy by heuristic freshness (RFC 9111 4.2.2). Static files set their own.
    ("Cache-Control", "no-cache"),
)

#: The host names a loopback server is always reachable by.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

#: The port a URL of each scheme means when it names none (browsers leave it out of Host and Origin).
DEFAULT_PORTS: Mapping[str, int] = {"http": 80, "https": 443}

# The attribute that says "this handler takes requests from other sites": written and read
# only by the helpers below.
_MARK = "kali_allow_cross_site"
# How many wrappers (functools.wraps' __wrapped__ links) are followed before giving up.
_WRAPPER_DEPTH = 32

HeaderPairs: TypeAlias = "Union[Mapping[str, str], Iterable[tuple[str, str]]]"


# -- the cross-site check (shared with the forms' CSRF protection) ----------------------

def _normal_origin(value: str) -> str:
    """`scheme://host[:port]` of an origin or URL, lower-cased, without the scheme's default port."""
    value = value.strip(OWS).lower()
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    default = DEFAULT_PORTS.get(scheme)
    if default is not None and authority.endswith(f":{default}"):
        authority = authority[:-len(str(default)) - 1]
    return f"{scheme}://{authority}"


def cross_site_reason(request: Request) -> str | None:
    """Why an unsafe request looks forged by another site, or None if it may proceed.

    Browsers say where a request comes from in `Sec-Fetch-Site`; older ones
    only in `Origin` or `Referer`.  A request with none of these did not come
    from a web page (curl, a script), so it passes.  Every other app on this
    machine is "same-site" (sites ignore ports), so same-site passes only when
    the Origin is exactly ours.
    """
    method = request.method
    if method not in UNSAFE_METHODS:
        return None
    ours = _normal_origin(request.origin)
    headers = request.headers
    origins = headers.get_all("origin")
    sites = headers.get_all("sec-fetch-site")
    if len(origins) > 1 or len(sites) > 1:
        # A browser sends each of these once; two could say different things to different readers.
        return (f"this {method} request carries {len(origins)} Origin and {len(sites)} Sec-Fetch-Site "
                f"headers; a browser sends at most one of each")
    site = sites[0] if sites else None
    origin = origins[0] if origins else None
    if origin is not None and origin.strip(OWS).lower() == "null":
        # An opaque origin: a sandboxed frame, a file:// page, or a form that was redirected
        # through another site.  None of these is a page of this app.
        return (f"this {method} request came from a page without an origin (Origin: null: a "
                f"sandboxed frame, a local file or a redirect through another site)")
    if site is not None:
        site = site.strip(OWS).lower()
        if site in ("same-origin", "none"):
            return None
        if site == "same-site" and origin is not None and _normal_origin(origin) == ours:
            return None
        return (f"the browser says this {method} request came from another site "
                f"(Sec-Fetch-Site: {site}, Origin: {origin or 'none'})")
    if origin is not None:
        if _normal_origin(origin) == ours:
            return None
        return f"this {method} request came from the page origin {origin}, not {ours}"
    referer = headers.get("referer")
    if referer is not None:
        if "://" in referer and _normal_origin(referer) == ours:
            return None
        return f"this {method} request came from the page {referer}, not from {ours}"
    return None


def cross_site_refusal(request: Request, reason: str) -> Response:
    """The one 403 page for a request refused as cross-site (by `secure` or a Formlet), logged."""
    logger.warning("refused %s %s: %s", request.method, redact_target(request.target), reason)
    return Response.generic(403, (
        f"Refused: {reason}. Another web site may be trying to act on this app in your name, so "
        f"nothing was saved. If you sent it yourself, go back to the app, reload the page and try "
        f"again (copy what you typed first). If this address is meant to receive requests from other "
        f"sites (a webhook, a public API), list its path in allow_cross_site= or mark its handler with "
        f"allow_cross_site_requests."))


# -- the opt-out mark -------------------------------------------------------------------------

def allow_cross_site_requests(handler: H) -> H:
    """Mark a handler as meant to receive unsafe requests from other sites (a webhook, a public API)."""
    try:
        set_cross_site_mark(handler, True)
        return handler
    except (AttributeError, TypeError):
        pass
    import functools

    # Bound methods and some callables refuse new attributes: mark a thin wrapper instead.
    @functools.wraps(handler)
    def marked(request: Request) -> Any:
        return handler(request)
    set_cross_site_mark(marked, True)
    return marked  # type: ignore[return-value]


def set_cross_site_mark(target: Any, allowed: bool) -> None:
    """Mark (or, with False, unmark) a handler or class as taking unsafe requests from other sites.

    A Formlet class with `csrf_protect = False` is marked this way; one that turns the
    protection back on is unmarked, so it does not inherit its parent's mark.
    """
    setattr(target, _MARK, allowed)


def _wrapper_chain(target: Any) -> Iterable[Any]:
    """`target`, then what it wraps (functools.wraps' __wrapped__), and so on, never forever."""
    for _ in range(_WRAPPER_DEPTH):
        if target is None:
            return
        yield target
        target = getattr(target, "__wrapped__", None)


def has_cross_site_mark(target: Any) -> bool:
    """Whether `target` or anything it wraps was marked with `allow_cross_site_requests`."""
    return any(getattr(each, _MARK, False) is True for each in _wrapper_chain(target))


def find_cross_site_probe(handler: Any) -> Callable[[Request], Any] | None:
    """The `allows_cross_site(request)` method of a dispatcher (a Router) at or behind `handler`."""
    for each in _wrapper_chain(handler):
        probe = getattr(each, "allows_cross_site", None)
        if callable(probe):
            return probe  # type: ignore[no-any-return]
    return None


def _compile_path_pattern(pattern: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ValueError(f"allow_cross_site pattern {pattern!r} must be a path starting with '/', "
                         f"such as '/webhook' or '/api/*'")
    # '*' matches anything, slashes included; everything else is literal.
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


# -- addresses and host names -----------------------------------------------------------

def is_local_client(address: Any) -> bool:
    """Whether a client address (as accept() gives it) is this machine: 127.0.0.0/8 or ::1."""
    # Addresses from accept() are canonical, so string tests suffice on the per-request path.
    return isinstance(address, str) and (address.startswith("127.") or address == "::1"
                                         or address.startswith("::ffff:127."))


def is_loopback_address(address: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and 'localhost'."""
    address = address.strip()
    if address.lower() == "localhost":
        return True
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    import ipaddress        # on first use: not every app needs it at start-up
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _parse_allowed_host(entry: str) -> tuple[str, int | None]:
    """('name', port or None) for an allowed_hosts entry, or a ValueError naming it."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"allowed_hosts entries must be host names, not {entry!r}")
    text = entry.strip().lower()
    if "/" in text or "@" in text or any(c.isspace() for c in text):
        raise ValueError(f"allowed_hosts entry {entry!r} must be a host name like 'mybox.local' or "
                         f"'mybox.local:8080', not a URL")
    port_text = ""
    if text.startswith("["):
        name, sep, rest = text.partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"allowed_hosts entry {entry!r} is not a valid [IPv6]:port")
        name += "]"
        port_text = rest[1:]
    elif text.count(":") > 1:
        name = f"[{text}]"          # a bare IPv6 address: browsers send it in brackets
    else:
        name, _, port_text = text.partition(":")
    if not port_text:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"allowed_hosts entry {entry!r} has an invalid port {port_text!r}")
    return name, int(port_text)


# -- the wrapper -------------------------------------------------------------------------

class SecurityWrapper:
    """A handler behind the localhost protections; build it with `secure()`."""

    def __init__(self, handler: Handler, *, allowed_hosts: Iterable[str] = (),
                 allow_cross_site: Iterable[str] = (), private_token: str | None = None,
                 headers: HeaderPairs | None = DEFAULT_SECURITY_HEADERS, debug: bool = True) -> None:
        if not callable(handler):
            raise TypeError(f"secure() needs a handler (a callable taking a Request), not {handler!r}")
        self.handler = handler
        self.__wrapped__ = handler
        #: Extra host names this app answers to (besides 127.0.0.1, localhost and [::1]).
        self.allowed_hosts: tuple[str, ...] = tuple(allowed_hosts)
        self._any_host = "*" in self.allowed_hosts
        self._extra_hosts = [_parse_allowed_host(h) for h in self.allowed_hosts if h != "*"]
        self._host_sets: dict[tuple[str, int], frozenset[str]] = {}
        self._last_hosts: tuple[object, str, frozenset[str]] = (None, "", frozenset())
        #: Path patterns that accept unsafe requests from other sites ('*' matches anything).
        self.allow_cross_site: tuple[str, ...] = tuple(allow_cross_site)
        self._cross_site_paths = [_compile_path_pattern(p) for p in self.allow_cross_site]
        self._handler_opts_out = has_cross_site_mark(handler)
        if private_token is not None and (not isinstance(private_token, str) or len(private_token) < 16
                                          or not re.fullmatch(r"[A-Za-z0-9_\-.~]+", private_token)):
            raise ValueError("private_token must be a URL-safe string of at least 16 characters "
                             "(use secrets.token_urlsafe(32))")
        #: The launch token every request must carry (in the URL once, then in a cookie), or None.
        self.private_token = private_token
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        self.headers = tuple((str(n), str(v)) for n, v in pairs)
        #: Show tracebacks on 500 pages (to clients on this machine only).
        self.debug = debug

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The protective header fields every response gets unless it sets them itself."""
        return self._defaults.pairs_given

    @headers.setter
    def headers(self, pairs: tuple[tuple[str, str], ...]) -> None:
        # Checked and encoded once here, not per response.
        self._defaults = DefaultFields(pairs)

    def __call__(self, request: Request) -> Response:
        """Answer `request`: refused if it fails a check, else the handler's response, plus the headers."""
        try:
            refusal = self._refuse_host(request)
            if refusal is None and self.private_token is not None:
                refusal = self._check_token(request)
            if refusal is None and request.method in UNSAFE_METHODS:
                refusal = self._refuse_cross_site(request)
            result = self.handler(request) if refusal is None else refusal
            response = result if type(result) is Response else to_response(result)
        except Exception:
            # Inside the wrapper, so an error page gets the protective headers too.
            response = error_response(request, debug=self.debug)
        response.add_defaults(self._defaults)
        return response

    # -- Host ------------------------------------------------------------------------

    def allowed_host_values(self, scheme: str, port: int) -> frozenset[str]:
        """Every `Host` value accepted for a server on `port` (lower-case)."""
        key = (scheme, port)
        values = self._host_sets.get(key)
        if values is None:
            default = DEFAULT_PORTS.get(scheme)
            found: set[str] = set()
            for name in LOOPBACK_HOSTS:
                found.add(f"{name}:{port}")
                if port == default:
                    found.add(name)     # browsers leave out the scheme's default port
            for name, entry_port in self._extra_hosts:
                wanted = port if entry_port is None else entry_port
                found.add(f"{name}:{wanted}")
                if wanted == default:
                    found.add(name)
            self._host_sets[key] = values = frozenset(found)
        return values

    def _refuse_host(self, request: Request) -> Response | None:
        # The authority is the Host header, or an absolute-form target's host, which replaces it.
        host = request.authority
        if host is None or self._any_host:
            # Browsers always send Host, so a request without one (an HTTP/1.0 script) cannot be
            # a rebinding attack.
            return None
        # The values for the server the last request came to, kept at hand: one server, one set.
        server, scheme, values = self._last_hosts
        if request.server is not server or request.scheme != scheme:
            values = self.allowed_host_values(request.scheme, request.server[1])
            self._last_hosts = (request.server, request.scheme, values)
        if host in values or host.lower() in values:
            return None
        logger.warning("refused %s %s: Host %r does not name this server (add it to allowed_hosts= "
                       "if it should)", request.method, redact_target(request.target), host)
        return Response.generic(421, (
            f"This app only answers requests addressed to it by its own name, such as "
            f"127.0.0.1:{request.server[1]}; this one was addressed to {host!r}. A web page that "
            f"reaches the app under another name may be a DNS-rebinding attack, so it was refused. "
            f"If you use this name on purpose, add it to allowed_hosts= in serve_http()."))

    # -- cross-site requests ---------------------------------------------------------

    def _cross_site_allowed(self, request: Request) -> bool:
        if self._handler_opts_out:
            return True
        if self._cross_site_paths:
            path = request.path
            if any(p.fullmatch(path) for p in self._cross_site_paths):
                return True
        # A dispatcher (e.g. a router) may know whether the handler it would call opted out;
        # it may sit behind other wrappers (the SQLite guard), so look for it through them.
        probe = find_cross_site_probe(self.handler)
        return probe is not None and probe(request) is True

    def _refuse_cross_site(self, request: Request) -> Response | None:
        reason = cross_site_reason(request)
        if reason is None or self._cross_site_allowed(request):
            return None
        return cross_site_refusal(request, reason)

    # -- the launch token ------------------------------------------------------------

    def _check_token(self, request: Request) -> Response | None:
        token = self.private_token
        assert token is not None
        expected = token.encode("ascii")
        import hmac
        cookie_name = f"kali_private_{request.server[1]}"   # cookies ignore ports: one per app
        cookie = request.cookies.get(cookie_name)
        has_cookie = cookie is not None and hmac.compare_digest(cookie.encode("utf-8", "replace"), expected)
        given, rest = _take_parameter(request.query_string, TOKEN_PARAMETER)
        valid_in_url = any(hmac.compare_digest(v.encode("utf-8", "replace"), expected) for v in given)
        if given and (valid_in_url or has_cookie) and request.method in ("GET", "HEAD"):
            # Trade the token in the address bar for a cookie, and take it out of the URL so it is
            # neither bookmarked, shared nor shown.
            path = request.raw_path
            if path[1:2] in ("/", "\\"):
                path = "/" + path.lstrip("/\\")     # '//host' would leave this server
            clean = path + (f"?{rest}" if rest else "")
            site = (request.headers.get("sec-fetch-site") or "none").lower()
            if site in ("none", "same-origin"):
                response = Response.redirect(clean, 303)
            else:
                # Opened from another site or a local file (serve_http's launch page): a browser
                # does not send a SameSite=Strict cookie on a redirect at the end of a chain that
                # began elsewhere, so the clean URL is reached by a navigation from this origin.
                link = html.escape(clean)
                response = Response([
                    "<!DOCTYPE html>\n<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=",
                    link, "\"><title>Opening the app</title>\n<p><a href=\"", link, "\">Continue to the app</a></p>\n"])
            response.headers["Cache-Control"] = "no-store"
            if valid_in_url:
                response.set_cookie(cookie_name, token, http_only=True, same_site="Strict",
                                    secure=request.scheme == "https")
            return response
        if valid_in_url or has_cookie:
            return None
        logger.warning("refused %s %s: no valid launch token (private app)", request.method,
                       redact_target(request.target))
        problem = ("The link's launch token is wrong or out of date: it changes every time the app starts."
                   if given else "This request carries no launch token.")
        return Response.generic(403, (
            f"This app is private. {problem} Open it with the link (containing {TOKEN_PARAMETER}=) "
            f"printed in the terminal where it was started."))

    def __repr__(self) -> str:
        return f"<secure {self.handler!r}>"


def _take_parameter(query: str, name: str) -> tuple[list[str], str]:
    """(values of `name`, the query without it) for a raw query string."""
    if not query or name not in query:
        return [], query
    values: list[str] = []
    kept: list[str] = []
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if unquote(key.replace("+", " ")) == name:
            values.append(unquote(value.replace("+", " ")))
        else:
            kept.append(part)
    return values, "&".join(kept)


def secure(handler: Handler, *, allowed_hosts: Iterable[str] = (), allow_cross_site: Iterable[str] = (),
           private_token: str | None = None, headers: HeaderPairs | None = DEFAULT_SECURITY_HEADERS,
           debug: bool = True) -> SecurityWrapper:
    """Wrap `handler` with the localhost protections (serve_http does this unless secure=False).

    - `allowed_hosts`: extra names the app answers to ('mybox.local', 'mybox.local:8443',
      '[fe80::1]'; a name without a port means the server's port; '*' turns the check off).
    - `allow_cross_site`: path patterns ('/webhook', '/api/*') open to unsafe requests from
      other sites; `allow_cross_site_requests` marks a handler instead.
    - `private_token`: require this token (in the URL once, then an HttpOnly SameSite=Strict cookie).
    - `headers`: added to every response that does not set them (None or () for none).
    - `debug`: tracebacks on 500 pages, shown to clients on this machine only.
    """
    return SecurityWrapper(handler, allowed_hosts=allowed_hosts, allow_cross_site=allow_cross_site,
                           private_token=private_token, headers=headers, debug=debug)
