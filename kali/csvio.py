"""CSV in and out: rows streamed as CSV text (for `Response.csv`), and uploaded CSV files read into checked rows.

Writing is lazy: `csv_chunks` pulls one row at a time from any iterable (a
cursor included) and yields UTF-8 chunks of about 64 KiB, so exporting a
million rows holds one chunk in memory, not the file.

Reading (`read_csv`, also in `kali.forms`) works like a Formlet: every cell
goes through the lens of its column, and every problem in the file is
reported at once as (line, column, message), so a user can fix them all
before uploading again. Nothing is written anywhere; importing the rows, all
or nothing, is the app's one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from typing import IO, Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from .lenses import Lens, ValidationError

__all__ = ["csv_chunks", "read_csv", "CSVTable", "CSVRow", "CSVProblem", "CHUNK_SIZE"]

#: About how many characters `csv_chunks` gathers before yielding them.
CHUNK_SIZE = 1 << 16

_BOM = "\ufeff"


class _Pieces:
    """A file-like sink for csv.writer that keeps what was written in a list."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def take(self) -> bytes:
        # Lone surrogates cannot be UTF-8; one '?' beats a download cut short half-way.
        data = "".join(self.parts).encode("utf-8", "replace")
        self.parts.clear()
        self.size = 0
        return data


def _column_names(rows: Any) -> list[str] | None:
    description = getattr(rows, "description", None)
    if description:
        return [str(column[0]) for column in description]
    return None


def csv_chunks(rows: Iterable[Any], *, header: Sequence[str] | None = None, bom: bool = False,
               chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """`rows` as CSV (RFC 4180, CRLF line ends) in UTF-8 chunks, pulling one row at a time.

    A row is a sequence, a dict or an `sqlite3.Row`. `header=None` takes the
    column names from a cursor's description, a first dict's keys or a first
    Row's keys (plain sequences get no header line); pass a list to write that
    line instead, or `[]` for none. Dicts are written in the header's order
    (the header names their keys); other rows are written as they are.
    """
    if isinstance(rows, (str, bytes)):
        raise TypeError("csv rows must be an iterable of rows (sequences, dicts or sqlite3.Row), not text")
    iterator = iter(rows)
    names = list(header) if header is not None else _column_names(rows)
    return _generate(iterator, names, header is None, bom, chunk_size)


def _generate(iterator: Iterator[Any], names: list[str] | None, derive: bool, bom: bool,
              chunk_size: int) -> Iterator[bytes]:
    sink = _Pieces()
    writer = csv.writer(sink, lineterminator="\r\n")
    if bom:
        sink.write(_BOM)
    first = next(iterator, None)
    if first is None:
        if names:
            writer.writerow(names)
        if sink.size:
            yield sink.take()
        return
    if names is None and derive and hasattr(first, "keys"):
        names = [str(key) for key in first.keys()]      # a dict, or an sqlite3.Row
    if names:
        writer.writerow(names)
    keys: list[Any] | None = None
    if isinstance(first, Mapping):
        # Every dict row is written in one order: the header's, or the first row's keys.
        keys = names if names else list(first.keys())
    writerow = writer.writerow
    row: Any = first
    while True:
        if keys is not None:
            writerow([row.get(key) for key in keys])
        else:
            writerow(row)
        if sink.size >= chunk_size:
            yield sink.take()
        row = next(iterator, _END)
        if row is _END:
            break
    if sink.size:
        yield sink.take()


_END: Any = object()


# -- reading -------------------------------------------------------------------------------

class CSVProblem(NamedTuple):
    """One problem in an uploaded CSV file: the line, the column (field name, '' for the whole line) and what is wrong."""

    line: int
    column: str
    message: str


class CSVRow:
    """One line of the file: the cells' texts, the values their lenses gave, and the errors by field."""

    __slots__ = ("line", "texts", "values", "errors")

    def __init__(self, line: int) -> None:
        #: The line of the file where this row starts (the header is line 1).
        self.line = line
        #: field name -> the cell's text as it was in the file.
        self.texts: dict[str, str] = {}
        #: field name -> the converted value (fields whose cell has an error are missing).
        self.values: dict[str, Any] = {}
        #: field name -> message ('' for a problem with the whole line).
        self.errors: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<CSVRow line {self.line} {self.values!r}{' errors ' + repr(self.errors) if self.errors else ''}>"


class CSVTable:
    """What `read_csv` found: the rows (each with its texts, values and errors) and every problem in order."""

    def __init__(self, columns: list[str]) -> None:
        #: The field names, in the order of the `columns` mapping.
        self.columns = columns
        #: field name -> the heading the file gave it (the field name when the file has no such column).
        self.headings: dict[str, str] = {name: name for name in columns}
        self.rows: list[CSVRow] = []
        #: Every problem, as (line, column, message), in file order.
        self.errors: list[CSVProblem] = []

    @property
    def ok(self) -> bool:
        """True when the file had no problem at all."""
        return not self.errors

    def add_error(self, line: int, column: str, message: str) -> None:
        """Report one more problem (the app's own checks, e.g. a duplicate): it is marked in its row too."""
        self.errors.append(CSVProblem(line, column, message))
        self.errors.sort(key=lambda problem: problem.line)
        for row in self.rows:
            if row.line == line:
                row.errors.setdefault(column, message)
                row.values.pop(column, None)

    def records(self) -> list[dict[str, Any]]:
        """The converted rows as dicts; ValueError if the file had any problem (check `ok` first)."""
        if self.errors:
            first = self.errors[0]
            raise ValueError(f"the CSV file has {len(self.errors)} problem(s), the first on line {first.line}: "
                             f"{first.message}")
        return [row.values for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<CSVTable {len(self.rows)} rows, {len(self.errors)} errors>"


def _normalised(heading: str) -> str:
    # "E-mail", "e_mail" and " Email " all name the field `email`.
    return re.sub(r"[\s_\-]+", "", heading).casefold()


def _text_of(source: Any) -> str | CSVProblem:
    """The file's text (BOM removed), or the problem that stops it being read."""
    if isinstance(source, str):
        return source[1:] if source.startswith(_BOM) else source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        file: IO[bytes] = getattr(source, "file", source)      # an UploadedFile or a binary file
        if not hasattr(file, "read"):
            raise TypeError(f"read_csv() reads an uploaded file, a binary file, bytes or str, "
                            f"not {type(source).__name__}")
        if getattr(file, "seekable", lambda: False)():
            file.seek(0)
        data = file.read()
        if isinstance(data, str):
            return _text_of(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return CSVProblem(1, "", "The file is UTF-16 text (Excel's “Unicode Text”); save it as “CSV UTF-8” "
                                 "and upload it again.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return CSVProblem(line, "", f"The file is not UTF-8 text: line {line} has the byte "
                                    f"0x{data[exc.start]:02X}, which UTF-8 does not allow there (an accented "
                                    f"letter saved as Windows-1252, perhaps). Save the file as “CSV UTF-8” and "
                                    f"upload it again.")


def _guess_delimiter(first_line: str) -> str:
    counts = {candidate: first_line.count(candidate) for candidate in (",", ";", "\t")}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def read_csv(source: Any, columns: Mapping[str, Lens], *, delimiter: str | None = None,
             ignore_unknown: bool = False) -> CSVTable:
    """Read a CSV file (an UploadedFile, binary file, bytes or str) into rows checked by `columns`' lenses.

    `columns` maps field names to lenses; the header line's names are matched
    to them ignoring case, spaces, '-' and '_'. The file must be UTF-8 (a BOM
    is fine); the delimiter is ',' unless the header uses ';' or tabs (or
    `delimiter` says). A column the file lacks is blank on every line (an
    error once if its lens needs a value); a column `columns` lacks is an
    error unless `ignore_unknown`. Returns a CSVTable: `ok`, `records()`,
    `rows` and `errors` -- every problem as (line, column, message).
    """
    lenses = dict(columns)
    if not lenses:
        raise ValueError("read_csv() needs at least one column (field name -> lens)")
    for name, lens in lenses.items():
        if not isinstance(lens, Lens):
            raise TypeError(f"read_csv(): the column {name!r} needs a lens, not {type(lens).__name__}")
        if lens.multiple:
            raise TypeError(f"read_csv(): the column {name!r} has a multi-valued lens; a CSV cell holds one value")
    table = CSVTable(list(lenses))
    text = _text_of(source)
    if isinstance(text, CSVProblem):
        table.errors.append(text)
        return table
    if delimiter is None:
        delimiter = _guess_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    try:
        header: list[str] | None = None
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue        # blank lines (and ;;; lines from spreadsheets)
            if header is None:
                header = record
                fields = _match_header(header, lenses, table, start, ignore_unknown)
                if table.errors:
                    return table
                continue
            table.rows.append(_convert(record, fields, lenses, table, start))
    except csv.Error as exc:
        table.errors.append(CSVProblem(line, "", f"Line {line} cannot be read as CSV: {exc}."))
        return table
    if header is None:
        table.errors.append(CSVProblem(1, "", "The file is empty: it needs a header line naming the columns "
                                              f"({', '.join(lenses)}) and a line per record."))
    return table


def _match_header(header: list[str], lenses: dict[str, Lens], table: CSVTable, line: int,
                  ignore_unknown: bool) -> list[str | None]:
    """The field of each of the file's columns (None for one to skip); header problems go to `table`."""
    wanted = {_normalised(name): name for name in lenses}
    fields: list[str | None] = []
    seen: dict[str, str] = {}
    for heading in header:
        field = wanted.get(_normalised(heading))
        if field is None:
            if heading.strip() and not ignore_unknown:
                table.errors.append(CSVProblem(line, heading, f"The column “{heading}” is not one of "
                                                              f"{', '.join(lenses)}."))
            fields.append(None)
            continue
        if field in seen:
            table.errors.append(CSVProblem(line, field, f"The columns “{seen[field]}” and “{heading}” are both "
                                                        f"{field}."))
            fields.append(None)
            continue
        seen[field] = heading
        table.headings[field] = heading.strip()
        fields.append(field)
    for name, lens in lenses.items():
        if name in seen:
            continue
        try:
            lens.to_native("")
        except ValidationError:
            table.errors.append(CSVProblem(line, name, f"The file has no column {name}, which every line needs "
                                                       f"(its columns are: {', '.join(h for h in header if h.strip())})."))
    return fields


def _convert(record: list[str], fields: list[str | None], lenses: dict[str, Lens], table: CSVTable,
             line: int) -> CSVRow:
    row = CSVRow(line)
    extra = record[len(fields):]
    if any(cell.strip() for cell in extra):
        message = f"This line has {len(record)} cells; the header has {len(fields)}."
        row.errors[""] = message
        table.errors.append(CSVProblem(line, "", message))
    cells = dict(zip(fields, record))
    for name, lens in lenses.items():
        text = cells.get(name, "")
        row.texts[name] = text
        try:
            row.values[name] = lens.to_native(text)
        except ValidationError as exc:
            row.errors[name] = exc.message
            table.errors.append(CSVProblem(line, name, exc.message))
    return row
