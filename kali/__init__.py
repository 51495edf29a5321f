"""kali: a zero-dependency web framework for apps served to one person on their own machine.

The names below are imported lazily, so `import kali` stays fast; each one
lives in the module named in `_EXPORTS`.  Forms live in `kali.forms`.
"""

from __future__ import annotations


from ._version import __version__

# name -> module that defines it (loaded on first use).
_EXPORTS: dict[str, str] = {
    "serve_http": "launch",
    "Server": "server",
    "Request": "request",
    "FormBag": "request",
    "Response": "response",
    "Pause": "response",
    "set_error_page": "response",
    "error_pages": "error_pages",
    "HTTPError": "errors",
    "Headers": "http",
    "Router": "routing",
    "RouteError": "routing",
    "StaticFolder": "static",
    "Template": "templates",
    "TemplateLoop": "templates",
    "TemplateFolder": "templates",
    "TemplateError": "templates",
    "TemplateRuntimeError": "templates",
    "escape": "templates",
    "register_formatter": "templates",
    "guard": "sqlite",
    "open_database": "sqlite",
    "data_folder": "sqlite",
    "transaction": "sqlite",
    "secure": "security",
    "allow_cross_site_requests": "security",
    "to_wsgi": "wsgi",
}

__all__ = [
    "__version__",
    "serve_http", "Server", "Request", "FormBag", "Response", "Pause", "set_error_page", "error_pages",
    "HTTPError", "Headers", "Router", "RouteError", "StaticFolder",
    "Template", "TemplateLoop", "TemplateFolder", "TemplateError", "TemplateRuntimeError",
    "escape", "register_formatter",
    "guard", "open_database", "data_folder", "transaction",
    "secure", "allow_cross_site_requests", "to_wsgi",
]

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any
    from .error_pages import error_pages as error_pages
    from .errors import HTTPError as HTTPError
    from .http import Headers as Headers
    from .request import FormBag as FormBag, Request as Request
    from .response import Pause as Pause, Response as Response, set_error_page as set_error_page
    from .routing import RouteError as RouteError, Router as Router
    from .security import allow_cross_site_requests as allow_cross_site_requests, secure as secure
    from .launch import serve_http as serve_http
    from .server import Server as Server
    from .sqlite import (data_folder as data_folder, guard as guard, open_database as open_database,
                         transaction as transaction)
    from .static import StaticFolder as StaticFolder
    from .wsgi import to_wsgi as to_wsgi
    from .templates import (Template as Template, TemplateError as TemplateError,
                            TemplateFolder as TemplateFolder, TemplateLoop as TemplateLoop,
                            TemplateRuntimeError as TemplateRuntimeError, escape as escape,
                            register_formatter as register_formatter)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kali' has no attribute {name!r}")
    # __import__ rather than importlib.import_module: no importlib package to load, and
    # `python -X importtime` (which only sees imports made through the import statement's
    # machinery) then shows these modules' own times.
    value = getattr(__import__(f"kali.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
