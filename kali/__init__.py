"""kali: a zero-dependency web framework for apps served to one person on their own machine.

The names below are imported lazily, so `import kali` stays fast; each one
lives in the module named in `_EXPORTS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it (loaded on first use).
_EXPORTS: dict[str, str] = {
    "serve_http": "server",
    "Server": "server",
    "Request": "request",
    "FormBag": "request",
    "Response": "response",
    "Pause": "response",
    "HTTPError": "http",
    "Headers": "http",
    "Template": "templates",
    "TemplateLoop": "templates",
    "TemplateFolder": "templates",
    "TemplateError": "templates",
    "TemplateRuntimeError": "templates",
    "escape": "templates",
    "register_formatter": "templates",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .http import Headers, HTTPError
    from .request import FormBag, Request
    from .response import Pause, Response
    from .server import Server, serve_http
    from .templates import (Template, TemplateError, TemplateFolder, TemplateLoop, TemplateRuntimeError,
                            escape, register_formatter)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kali' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f"kali.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
