"""The two template errors, apart from the compiler so that `import kali.templates` need not load it.

:mod:`kali.templates` re-exports both; :mod:`kali.template_compiler` raises them.
"""

from __future__ import annotations

__all__ = ["TemplateError", "TemplateRuntimeError"]


class TemplateError(Exception):
    """A template cannot be used: its text is malformed or it names something that does not exist."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        source_line: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.source_line = source_line
        super().__init__(self.describe())

    def describe(self) -> str:
        """The full report: ``file:line:col: message``, then the line and a caret under the column."""
        where = ":".join(str(part) for part in (self.file, self.line, self.col) if part is not None)
        head = f"{where}: {self.message}" if where else self.message
        if self.source_line is None or self.col is None:
            return head
        # Copy tabs from the offending line so the caret lines up in any tab width.
        pad = "".join("\t" if ch == "\t" else " " for ch in self.source_line[: self.col - 1])
        return f"{head}\n{self.source_line}\n{pad}^"


class TemplateRuntimeError(TemplateError):
    """A template failed while rendering: a missing parameter, a failed lookup or a formatter that raised."""

    def __init__(
        self,
        message: str,
        parameter: str,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        source_line: str | None = None,
    ) -> None:
        self.parameter = parameter
        super().__init__(message, file, line, col, source_line)
