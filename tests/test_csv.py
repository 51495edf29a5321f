"""CSV out and in: Response.csv (streamed, any rows), Response.download, and read_csv (every error at once)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest

from kali import Request, Response, Router
from kali.csvio import CHUNK_SIZE, csv_chunks
from kali.forms import (BOOL, DATE, INT, REQUIRED, STRING, ChoiceLens, CSVProblem, FileField, Formlet, nullable,
                        read_csv)
from kali.response import FileBody, Stream
from kali.testing import Client
from support import running_server


def body_of(response: Response) -> bytes:
    assert isinstance(response.content, Stream)
    return b"".join(response.content.iterator)


def parsed(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture()
def people() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:", check_same_thread=False)      # the server thread reads it too
    db.row_factory = sqlite3.Row
    db.execute("CREATE TABLE person (name TEXT, born TEXT, note TEXT)")
    db.executemany("INSERT INTO person VALUES (?, ?, ?)", [
        ("Ann", "1980-02-03", 'says "hi", often'), ("Bo", None, "two\nlines"), ("Zoë", "2001-12-31", "")])
    yield db
    db.close()


# -- Response.csv --------------------------------------------------------------------------

def test_a_cursor_is_streamed_with_its_column_names_as_the_header(people: sqlite3.Connection) -> None:
    response = Response.csv(people.execute("SELECT * FROM person ORDER BY name"), filename="people.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="people.csv"'
    data = body_of(response)
    assert data.startswith(b"name,born,note\r\n")
    assert parsed(data) == [["name", "born", "note"], ["Ann", "1980-02-03", 'says "hi", often'],
                            ["Bo", "", "two\nlines"], ["Zoë", "2001-12-31", ""]]


def test_rows_dicts_and_sequences(people: sqlite3.Connection) -> None:
    rows = people.execute("SELECT name, born FROM person ORDER BY name").fetchall()     # sqlite3.Row
    assert parsed(body_of(Response.csv(rows, filename="x.csv"))) == [
        ["name", "born"], ["Ann", "1980-02-03"], ["Bo", ""], ["Zoë", "2001-12-31"]]
    dicts = [{"a": 1, "b": dt.date(2024, 1, 2)}, {"b": None, "a": 2.5}, {"a": True}]
    assert parsed(body_of(Response.csv(dicts, filename="x.csv"))) == [
        ["a", "b"], ["1", "2024-01-02"], ["2.5", ""], ["True", ""]]
    assert parsed(body_of(Response.csv(dicts, filename="x.csv", header=["b", "a"]))) == [
        ["b", "a"], ["2024-01-02", "1"], ["", "2.5"], ["", "True"]]
    tuples = [(1, "x"), (2, "y")]
    assert body_of(Response.csv(tuples, filename="x.csv")) == b"1,x\r\n2,y\r\n"      # no names, no header
    assert body_of(Response.csv(tuples, filename="x.csv", header=["n", "s"])) == b"n,s\r\n1,x\r\n2,y\r\n"
    assert body_of(Response.csv(people.execute("SELECT name FROM person ORDER BY name"), filename="x.csv",
                                header=[])) == "Ann\r\nBo\r\nZoë\r\n".encode()
    # Empty: the header alone (from the cursor), or nothing at all.
    assert body_of(Response.csv(people.execute("SELECT name FROM person WHERE 0"), filename="x.csv")) == b"name\r\n"
    assert body_of(Response.csv([], filename="x.csv")) == b""


def test_the_bom_for_excel_and_a_non_ascii_filename() -> None:
    response = Response.csv([("é",)], filename="Adressen Zoë 2024.csv", bom=True)
    assert body_of(response) == "\ufeffé\r\n".encode()
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Adressen Zo_ 2024.csv\"; filename*=UTF-8''Adressen%20Zo%C3%AB%202024.csv")


def test_rows_are_pulled_lazily_so_memory_stays_flat() -> None:
    pulled = itertools.count()

    def million() -> Iterator[tuple[int, str]]:
        for n in range(1_000_000):
            next(pulled)
            yield n, "some text in every row"

    response = Response.csv(million(), filename="big.csv")
    assert next(pulled) == 0            # building the response reads nothing yet
    chunks = response.content.iterator  # type: ignore[union-attr]
    first = next(chunks)
    assert CHUNK_SIZE <= len(first) < 2 * CHUNK_SIZE
    taken = next(pulled) - 1
    assert taken < 3_000                # about one chunk's worth of rows, not the million
    second = next(chunks)
    assert len(second) >= CHUNK_SIZE and next(pulled) - 2 < 2 * taken + 10


def test_text_is_refused_as_rows() -> None:
    with pytest.raises(TypeError, match="iterable of rows"):
        Response.csv("a,b\n", filename="x.csv")


def test_a_csv_download_through_the_test_client_and_a_real_server(people: sqlite3.Connection) -> None:
    app = Router()

    @app.function("/people.csv")
    def export(request: Request) -> Response:
        return Response.csv(people.execute("SELECT name, born FROM person ORDER BY name"), filename="people.csv")

    reply = Client(app).get("/people.csv")
    assert reply.status == 200 and parsed(reply.body)[1] == ["Ann", "1980-02-03"]
    assert reply.headers["Content-Disposition"] == 'attachment; filename="people.csv"'
    import urllib.request
    with running_server(app) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/people.csv", timeout=10) as got:
            assert got.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert "Content-Length" not in got.headers      # streamed
            assert parsed(got.read()) == parsed(reply.body)


# -- Response.download ---------------------------------------------------------------------

def test_download_of_content_a_path_and_open_files(tmp_path: Path) -> None:
    response = Response.download(b"\x00\x01", "data.bin")
    assert response.content == b"\x00\x01"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="data.bin"'

    text = Response.download("a text, not a path", "notes.txt")
    assert text.content == "a text, not a path"
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"

    report = tmp_path / "report.json"
    report.write_text('{"ok": true}')
    from_disk = Response.download(report, "Bericht März.json")
    assert isinstance(from_disk.content, FileBody) and from_disk.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "filename*=UTF-8''Bericht%20M%C3%A4rz.json" in from_disk.headers["Content-Disposition"]

    with open(report, "rb") as file:
        opened = Response.download(file, "r.json", content_type="application/x-custom")
        assert isinstance(opened.content, FileBody) and opened.content.file is file
        assert opened.headers["Content-Type"] == "application/x-custom"

    in_memory = Response.download(io.BytesIO(b"x" * 100_000), "big.bin")
    assert isinstance(in_memory.content, Stream)

    app = Router()
    app.function("/r")(lambda request: Response.download(report, "r.json"))
    app.function("/m")(lambda request: Response.download(io.BytesIO(b"x" * 100_000), "big.bin"))
    client = Client(app)
    assert client.get("/r").body == b'{"ok": true}'
    assert client.get("/m").body == b"x" * 100_000


# -- read_csv ------------------------------------------------------------------------------

CONTACTS = {"name": REQUIRED(max_length=20), "email": nullable(STRING.check(r"[^@\s]+@[^@\s]+", "Not an e-mail address.")),
            "born": nullable(DATE), "visits": INT(min=0)}


def test_good_rows_come_back_converted() -> None:
    table = read_csv("Name,Email,Born,Visits\r\nAnn,ann@example.org,1980-02-03,3\r\nBo,,,0\r\n", CONTACTS)
    assert table.ok and table.errors == [] and len(table) == 2
    assert table.records() == [
        {"name": "Ann", "email": "ann@example.org", "born": dt.date(1980, 2, 3), "visits": 3},
        {"name": "Bo", "email": None, "born": None, "visits": 0}]
    assert [row.line for row in table.rows] == [2, 3]


def test_every_error_is_reported_at_once_with_its_line_and_column() -> None:
    data = ("name,email,born,visits\n"
            "Ann,ann@example.org,1980-02-03,3\n"
            ",nope,1980-02-30,-1\n"
            "\n"                                             # blank lines are skipped...
            '"Bo\nBerg",bo@example.org,,x\n'                 # ...a quoted cell may span lines...
            "Cy,,,2\n")                                      # ...and the line numbers stay true
    table = read_csv(data.encode("utf-8"), CONTACTS)
    assert not table.ok
    assert table.errors == [
        CSVProblem(3, "name", "This field is required."),
        CSVProblem(3, "email", "Not an e-mail address."),
        CSVProblem(3, "born", "1980-02-30 is not a date in the calendar."),
        CSVProblem(3, "visits", "Enter a value of at least 0."),
        CSVProblem(5, "visits", "Enter a whole number, like 42."),
    ]
    second = table.rows[1]
    assert second.line == 3 and second.texts["email"] == "nope" and set(second.errors) == {"name", "email", "born", "visits"}
    assert table.rows[2].line == 5 and table.rows[2].values["name"] == "Bo\nBerg"
    assert table.rows[3].line == 7 and not table.rows[3].errors
    with pytest.raises(ValueError, match=r"5 problem\(s\), the first on line 3"):
        table.records()


def test_headers_match_ignoring_case_spaces_hyphens_and_underscores_in_any_order() -> None:
    table = read_csv(" VISITS ;E-Mail;born;NAME\n1;a@b.c;;Ann\n", CONTACTS)
    assert table.ok, table.errors
    assert table.records() == [{"name": "Ann", "email": "a@b.c", "born": None, "visits": 1}]
    assert table.headings == {"name": "NAME", "email": "E-Mail", "born": "born", "visits": "VISITS"}
    tabs = read_csv("name\tvisits\nAnn\t2\n", {"name": REQUIRED, "visits": INT})
    assert tabs.records() == [{"name": "Ann", "visits": 2}]


def test_header_problems_unknown_duplicate_and_missing_columns() -> None:
    table = read_csv("Name,Nom,name,Colour\nAnn,x,y,red\n", {"name": REQUIRED, "visits": INT, "note": STRING})
    assert table.errors == [
        CSVProblem(1, "Nom", "The column “Nom” is not one of name, visits, note."),
        CSVProblem(1, "name", "The columns “Name” and “name” are both name."),
        CSVProblem(1, "Colour", "The column “Colour” is not one of name, visits, note."),
        CSVProblem(1, "visits", "The file has no column visits, which every line needs (its columns are: "
                                "Name, Nom, name, Colour)."),
    ]
    assert table.rows == []
    # A column whose lens takes a blank may be left out; unknown ones may be ignored on request.
    lenient = read_csv("name,colour\nAnn,red\n", {"name": REQUIRED, "note": STRING, "vip": BOOL},
                       ignore_unknown=True)
    assert lenient.records() == [{"name": "Ann", "note": "", "vip": False}]


def test_short_and_long_lines() -> None:
    table = read_csv("name,visits\nAnn\nBo,1,,\nCy,2,extra\n", {"name": REQUIRED, "visits": nullable(INT)})
    assert table.errors == [CSVProblem(4, "", "This line has 3 cells; the header has 2.")]
    assert [row.values for row in table.rows[:2]] == [{"name": "Ann", "visits": None}, {"name": "Bo", "visits": 1}]


@pytest.mark.parametrize("data, message", [
    ("name\nZoë\n".encode("cp1252"), "The file is not UTF-8 text: line 2 has the byte 0xEB"),
    ("name\nZoë\n".encode("utf-16"), "The file is UTF-16 text"),
    (b"", "The file is empty"),
    (b"\n \n", "The file is empty"),
    (b'name\n"never closed\n', "Line 2 cannot be read as CSV"),
])
def test_files_that_cannot_be_read_say_why(data: bytes, message: str) -> None:
    table = read_csv(data, {"name": REQUIRED})
    assert len(table.errors) == 1 and table.errors[0].message.startswith(message), table.errors
    assert table.rows == []


def test_a_bom_is_fine_and_the_app_can_add_its_own_errors() -> None:
    table = read_csv("\ufeffname,visits\nAnn,1\nAnn,2\n".encode("utf-8"), {"name": REQUIRED, "visits": INT})
    assert table.ok
    table.add_error(3, "name", "Ann is twice in the file.")
    assert table.errors == [CSVProblem(3, "name", "Ann is twice in the file.")]
    assert table.rows[1].errors == {"name": "Ann is twice in the file."} and "name" not in table.rows[1].values


def test_columns_are_checked() -> None:
    with pytest.raises(TypeError, match="needs a lens"):
        read_csv("a\n1\n", {"a": int})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="multi-valued lens"):
        read_csv("a\n1\n", {"a": ChoiceLens(["1", "2"], multiple=True)})
    with pytest.raises(ValueError, match="at least one column"):
        read_csv("a\n1\n", {})
    with pytest.raises(TypeError, match="reads an uploaded file"):
        read_csv(42, {"a": STRING})


def test_an_uploaded_file_is_read_and_an_export_reads_back_the_same() -> None:
    written = body_of(Response.csv([{"name": "Zoë", "email": "z@example.org", "born": dt.date(1990, 5, 6),
                                     "visits": 4}, {"name": 'A "quoted", name', "email": None, "born": None,
                                                    "visits": 0}], filename="x.csv", bom=True))
    seen: list[Any] = []

    class Upload(Formlet):
        csrf_protect = False        # the test client posts without loading the form first

        def __init__(self) -> None:
            super().__init__({"file": FileField(required=True)})

        def save(self, native: dict[str, Any], request: Any) -> Response:
            seen.append(read_csv(native["file"], CONTACTS))
            return Response("read")

    app = Router()
    app.servlet("/upload")(Upload)
    reply = Client(app).post("/upload", files={"file": ("contacts.csv", written, "text/csv")})
    assert reply.status == 200, reply.text
    assert seen[0].ok and seen[0].records() == [
        {"name": "Zoë", "email": "z@example.org", "born": dt.date(1990, 5, 6), "visits": 4},
        {"name": 'A "quoted", name', "email": None, "born": None, "visits": 0}]
    assert b"".join(csv_chunks([["x"]])) == b"x\r\n"
