"""Tests for kali.routing.Router: the routing table, conversions, errors, redirects and URL building."""

from __future__ import annotations

import datetime
import decimal
import enum
import re
from typing import Any, Literal, Optional

import pytest
from hypothesis import given, strategies as st

from kali.http import HTTPError
from kali.request import Request
from kali.response import Response, set_error_page
from kali.routing import RouteError, Router, normal_path
from kali.testing import Client
from support import get, running_server


def text_handler(label: str):
    """A handler answering with its label and what the request knows about its mount."""
    def handler(request: Request) -> Response:
        return Response.plain_text(f"{label} mount={request.mount} rest={request.rest} "
                                   f"wild={','.join(request.wildcards)}")
    handler.__name__ = f"handler_{label}"
    return handler


# -- the table: literal, wildcard, folder, backtracking ------------------------------------

@pytest.fixture
def table() -> Client:
    app = Router()
    app.delegate("/", text_handler("root"))
    app.delegate("/about", text_handler("about"))
    app.delegate("/about/", text_handler("about-slash"))
    app.delegate("/a/*/c", text_handler("a*c"))
    app.delegate("/a/b/*", text_handler("ab*"))
    app.delegate("/p/b/c/d", text_handler("pbcd"))
    app.delegate("/p/*/c/e", text_handler("p*ce"))
    app.delegate("/*/edit", text_handler("*edit"))
    app.delegate_folder("/files/", text_handler("files"))
    app.delegate_folder("/files/deep/", text_handler("deep"))
    app.delegate("/files/deep/exact", text_handler("exact"))
    app.delegate_folder("/u/*/", text_handler("user"))
    return Client(app)


@pytest.mark.parametrize("path, expected", [
    ("/", "root mount= rest=/ wild="),
    ("/about", "about mount= rest=/about wild="),
    ("/about/", "about-slash mount= rest=/about/ wild="),
    ("/a/z/c", "a*c mount= rest=/a/z/c wild=z"),
    ("/a/b/z", "ab* mount= rest=/a/b/z wild=z"),
    # Both routes could take /a/b/c: the literal 'b' is tried first.
    ("/a/b/c", "ab* mount= rest=/a/b/c wild=c"),
    # The literal branch p/b/c fails at 'e', so the lookup backs up to the wildcard.
    ("/p/b/c/e", "p*ce mount= rest=/p/b/c/e wild=b"),
    ("/p/b/c/d", "pbcd mount= rest=/p/b/c/d wild="),
    ("/anything/edit", "*edit mount= rest=/anything/edit wild=anything"),
    ("/files/", "files mount=/files rest=/ wild="),
    ("/files/x/y.txt", "files mount=/files rest=/x/y.txt wild="),
    ("/files/deep/x", "deep mount=/files/deep rest=/x wild="),
    ("/files/deep/", "deep mount=/files/deep rest=/ wild="),
    ("/files/deep/exact", "exact mount= rest=/files/deep/exact wild="),
    ("/files/deep/exact/more", "deep mount=/files/deep rest=/exact/more wild="),
    ("/u/alice/photos/1", "user mount=/u/alice rest=/photos/1 wild=alice"),
    ("/a%20b/edit", "*edit mount= rest=/a b/edit wild=a b"),
])
def test_lookup(table: Client, path: str, expected: str) -> None:
    response = table.get(path)
    assert response.status == 200, response.text
    assert response.text == expected


@pytest.mark.parametrize("path", ["/nothing", "/a/b", "/a/z/c/d", "/p/b/c", "/about/x", "/edit", "/editx"])
def test_unpublished_paths_are_404(table: Client, path: str) -> None:
    assert table.get(path).status == 404


def test_a_wildcard_never_matches_an_empty_segment() -> None:
    app = Router()
    app.delegate("/t/*", text_handler("t"))
    client = Client(app)
    assert client.get("/t/x").status == 200
    assert client.get("/t/").status == 404


def test_encoded_slash_stays_inside_one_wildcard() -> None:
    app = Router()

    @app.function("/f/*")
    def f(name: str) -> str:
        return name

    client = Client(app)
    assert client.get("/f/a%2Fb").text == "a/b"
    assert client.get("/f/a/b").status == 404


def test_folder_without_slash_redirects_keeping_the_query(table: Client) -> None:
    response = table.get("/files?x=1&y=%20")
    assert response.status in (301, 308)
    assert response.location == "/files/?x=1&y=%20"
    response = table.get("/u/bob")
    assert response.location == "/u/bob/"
    # A POST is redirected with 308, which keeps the method and body.
    assert table.post("/files", data={"a": "1"}).status == 308


# -- normalisation ------------------------------------------------------------------------

@pytest.mark.parametrize("target, location", [
    ("//about", "/about"),
    ("/about//", "/about/"),
    ("/./about", "/about"),
    ("/a/../about", "/about"),
    ("/a/b/../../about?q=1", "/about?q=1"),
    ("/../../../about", "/about"),
    ("/..", "/"),
    ("/about/.", "/about/"),
    ("/x/%2e%2e/about", "/about"),
    ("/x/%2E%2e/about", "/about"),
    ("/x/.%2e/about", "/about"),
    ("/%2e/about", "/about"),
    ("/a//b/./c/../d", "/a/b/d"),
])
def test_non_normal_paths_redirect_to_the_normal_form(table: Client, target: str, location: str) -> None:
    response = table.send_raw(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert response.status in (301, 308)
    assert response.location == location
    assert table.get(target, follow_redirects=True).status in (200, 404)


def test_dot_names_that_are_not_dot_segments_are_left_alone() -> None:
    app = Router()
    app.delegate_folder("/f/", text_handler("f"))
    client = Client(app)
    for name in ("/f/.hidden", "/f/..x", "/f/x..", "/f/...", "/f/%2e%2e%2e"):
        response = client.get(name)
        assert response.status == 200, name


@given(st.lists(st.sampled_from(["a", "b", "", ".", "..", "%2e", "%2E%2e", "c d"]), max_size=8))
def test_normal_path_properties(parts: list[str]) -> None:
    raw = "/" + "/".join(parts)
    normal = normal_path(raw)
    assert normal.startswith("/")
    assert normal_path(normal) == normal                    # idempotent
    inner = normal.split("/")[1:-1]
    assert all(s and s.lower() not in (".", "..", "%2e", "%2e%2e") for s in inner)
    # Never deeper than the number of real names written.
    real_names = [p for p in parts if p in ("a", "b", "c d")]
    assert len([s for s in normal.split("/") if s]) <= len(real_names)


# -- methods: 405, Allow, HEAD, OPTIONS -----------------------------------------------------

@pytest.fixture
def methods() -> Client:
    app = Router()

    @app.function("/items")
    def list_items() -> str:
        return "list"

    @app.function("/items", methods=["POST"])
    def add_item(title: str) -> tuple[str, int]:
        return f"added {title}", 201

    @app.servlet("/task/*")
    class Task:
        def __init__(self, number: int) -> None:
            self.number = number

        def do_GET(self, request: Request) -> str:
            return f"task {self.number}"

        def do_PUT(self, request: Request) -> str:
            return f"put {self.number} {request.body.decode()}"

    @app.function("/any/*")
    def by_wildcard(x: str) -> str:
        return f"wild {x}"

    @app.function("/any/b", methods="POST")
    def posted_b() -> str:
        return "posted b"

    return Client(app)


@pytest.mark.parametrize("written", ["post", "Post", ["post"], ("POST", "post"), {"pOsT"}])
def test_methods_are_taken_in_any_case(written: Any) -> None:
    app = Router()

    @app.function("/items", methods=written)
    def add() -> str:
        return "added"

    def handler(request: Request) -> str:
        return "delegated"

    app.delegate("/hook", handler, methods=written)
    client = Client(app)
    assert client.post("/items").text == "added"
    assert client.post("/hook").text == "delegated"
    refused = client.get("/items")
    assert refused.status == 405 and refused.headers["allow"] == "OPTIONS, POST"
    assert app.routes()[0][:2] == ("/items", "POST")


@pytest.mark.parametrize("written, problem", [
    ("", "'' is not an HTTP method name"),
    ("GE T", "'GE T' is not an HTTP method name"),
    ("gët", "'gët' is not an HTTP method name"),
    ([], "methods= is empty"),
    (7, "methods= must be a method name like 'GET' or a list of them, not 7"),
    ([None], "None is not an HTTP method name"),
])
def test_bad_methods_are_refused_naming_the_route(written: Any, problem: str) -> None:
    with pytest.raises(RouteError, match=re.escape(f"route '/items': {problem}")):
        Router().function("/items", methods=written)


def test_method_not_allowed_lists_allow(methods: Client) -> None:
    response = methods.delete("/items")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    response = methods.post("/task/3")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert "POST" in response.text


def test_functions_at_one_path_split_by_method(methods: Client) -> None:
    assert methods.get("/items").text == "list"
    response = methods.post("/items", data={"title": "milk"})
    assert (response.status, response.text) == (201, "added milk")


def test_head_is_served_by_get_without_a_body(methods: Client) -> None:
    get_response = methods.get("/task/7")
    head = methods.head("/task/7")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == get_response.headers["content-length"] == str(len("task 7"))
    assert head.headers["content-type"] == get_response.headers["content-type"]


def test_options_answered_from_the_table(methods: Client) -> None:
    response = methods.options("/task/1")
    assert response.status == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert methods.options("/nowhere").status == 404


def test_method_aware_backtracking(methods: Client) -> None:
    # /any/b exists for POST only; a GET falls back to the /any/* route instead of a 405.
    assert methods.get("/any/b").text == "wild b"
    assert methods.post("/any/b").text == "posted b"


def test_servlet_gets_the_body(methods: Client) -> None:
    assert methods.put("/task/2", body=b"done").text == "put 2 done"


def test_asterisk_options_and_head_through_a_real_server(methods: Client) -> None:
    from support import raw_request, parse_response
    with running_server(methods.handler) as server:
        status, headers, body = parse_response(raw_request(
            server.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5))
        assert status == 204
        status, headers, body = parse_response(raw_request(
            server.port, b"HEAD /task/12 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5))
        assert (status, body, headers["content-length"]) == (200, b"", "7")
        status, headers, body = get(server.port, "/task/12")
        assert (status, body) == (200, b"task 12")


# -- functions: wildcards, query arguments, annotations ----------------------------------

class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Slug:
    """A user type: any callable taking a str converts."""

    def __init__(self, text: str) -> None:
        if not text.replace("-", "").isalnum():
            raise ValueError(text)
        self.text = text


@pytest.fixture
def functions() -> Client:
    app = Router()

    @app.function("/add/*/*")
    def add(a: int, b: int, scale: float = 1.0) -> dict:
        return {"result": (a + b) * scale}

    @app.function("/day/*")
    def day(when: datetime.date, shift: int = 0) -> str:
        return (when + datetime.timedelta(days=shift)).isoformat()

    @app.function("/flag")
    def flag(on: bool) -> str:
        return "yes" if on else "no"

    @app.function("/price/*")
    def price(amount: decimal.Decimal, colour: Colour = Colour.RED) -> str:
        return f"{amount + 1} {colour.value}"

    @app.function("/slug/*")
    def slug(s: Slug) -> str:
        return s.text.upper()

    @app.function("/search")
    def search(q: str, page: Optional[int] = None, tags: list[int] = [],
               sort: Literal["name", "date"] = "name") -> dict:
        return {"q": q, "page": page, "tags": tags, "sort": sort}

    @app.function("/kw")
    def kw(a: int = 0, **rest: str) -> dict:
        return {"a": a, "rest": rest}

    @app.function("/who/*")
    def who(request, name: str) -> str:
        return f"{name} via {request.method}"

    @app.function("/typed/*")
    def typed(name: str, req: Request) -> str:
        return f"{name} {req.path}"

    @app.function("/star/*/*/*")
    def star(first: str, *rest: int) -> dict:
        return {"first": first, "rest": list(rest)}

    @app.function("/nothing")
    def nothing() -> None:
        return None

    @app.function("/date")
    def date_query(when: datetime.date) -> str:
        return when.strftime("%d.%m.%Y")

    return Client(app)


def test_wildcards_become_converted_positional_arguments(functions: Client) -> None:
    assert functions.get("/add/2/3").json() == {"result": 5.0}
    assert functions.get("/add/-2/3").json() == {"result": 1.0}
    assert functions.get("/add/2/3?scale=0.5").json() == {"result": 2.5}
    assert functions.get("/day/2024-02-28?shift=1").text == "2024-02-29"
    assert functions.get("/price/1.5?colour=blue").text == "2.5 blue"
    assert functions.get("/slug/a-b").text == "A-B"
    assert functions.get("/star/x/1/2").json() == {"first": "x", "rest": [1, 2]}


@pytest.mark.parametrize("path", [
    "/add/two/3", "/add/1.5/3", "/add/1_000/3", "/add/%201/3", "/add/+1/3", "/add/%D9%A1/3",
    "/day/2024-02-30", "/day/yesterday", "/price/abc", "/slug/a%20b", "/star/x/1/y",
])
def test_a_wildcard_that_does_not_convert_is_404(functions: Client, path: str) -> None:
    response = functions.get(path)
    assert response.status == 404, response.text


@pytest.mark.parametrize("target, name", [
    ("/add/1/2?scale=abc", "scale"),
    ("/add/1/2?scale=nan", "scale"),
    ("/add/1/2?scale=inf", "scale"),
    ("/flag?on=maybe", "on"),
    ("/price/1?colour=green", "colour"),
    ("/search?q=x&page=two", "page"),
    ("/search?q=x&tags=1&tags=b", "tags"),
    ("/search?q=x&sort=size", "sort"),
    ("/day/2024-01-01?shift=1.5", "shift"),
    ("/date?when=31.12.2024", "when"),
])
def test_a_query_value_that_does_not_convert_is_400_naming_it(functions: Client, target: str, name: str) -> None:
    response = functions.get(target)
    assert response.status == 400
    assert f"&#x27;{name}&#x27;" in response.text or f"'{name}'" in response.text


@pytest.mark.parametrize("target, name", [("/flag", "on"), ("/search", "q"), ("/search?page=1", "q"),
                                          ("/date", "when")])
def test_a_missing_required_query_argument_is_400_naming_it(functions: Client, target: str, name: str) -> None:
    response = functions.get(target)
    assert response.status == 400
    assert "missing" in response.text
    assert f"&#x27;{name}&#x27;" in response.text


@pytest.mark.parametrize("value, expected", [
    ("1", "yes"), ("true", "yes"), ("TRUE", "yes"), ("yes", "yes"), ("on", "yes"), ("y", "yes"),
    ("0", "no"), ("false", "no"), ("No", "no"), ("off", "no"), ("n", "no"),
])
def test_bool_words(functions: Client, value: str, expected: str) -> None:
    assert functions.get(f"/flag?on={value}").text == expected


def test_a_bool_parameter_reads_words_as_a_checkbox_does(functions: Client) -> None:
    from kali.forms import BOOL
    from kali.lenses import FALSE_WORDS, TRUE_WORDS, ValidationError
    for word in sorted(TRUE_WORDS | FALSE_WORDS | {"maybe", "2", "yes please"}):
        for text in (word, word.upper()):
            try:
                checkbox = "yes" if BOOL.to_native(text) else "no"
            except ValidationError:
                checkbox = "refused"
            response = functions.get("/flag", query={"on": text})
            route = response.text if response.status == 200 else "refused"
            assert route == checkbox, text


def test_query_arguments_optional_list_literal_and_unknown(functions: Client) -> None:
    assert functions.get("/search?q=x").json() == {"q": "x", "page": None, "tags": [], "sort": "name"}
    assert functions.get("/search?q=a+b&page=2&tags=1&tags=3&sort=date&junk=1").json() == {
        "q": "a b", "page": 2, "tags": [1, 3], "sort": "date"}
    # An empty form input for a parameter with a default means "use the default".
    assert functions.get("/search?q=&page=").json()["page"] is None
    assert functions.get("/add/1/1?scale=").json() == {"result": 2.0}


def test_optional_and_list_parameters_without_defaults() -> None:
    app = Router()

    @app.function("/f")
    def f(note: Optional[str], limit: int | None, ids: list[int]) -> dict:
        return {"note": note, "limit": limit, "ids": ids}

    client = Client(app)
    assert client.get("/f").json() == {"note": None, "limit": None, "ids": []}
    assert client.get("/f?limit=&ids=").json() == {"note": None, "limit": None, "ids": []}
    assert client.get("/f?note=&limit=3&ids=4&ids=5").json() == {"note": "", "limit": 3, "ids": [4, 5]}
    assert client.get("/f?limit=x").status == 400


def test_var_keyword_receives_unknown_query_fields(functions: Client) -> None:
    assert functions.get("/kw?a=3&b=x&c=y&d-e=z").json() == {"a": 3, "rest": {"b": "x", "c": "y", "d-e": "z"}}


def test_var_keyword_never_receives_a_wildcard_parameter_again() -> None:
    app = Router()

    @app.function("/w/*")
    def w(name: str, request: Request, **rest: str) -> dict:
        return {"name": name, "rest": rest}

    client = Client(app)
    assert client.get("/w/x?name=y&request=z&other=1").json() == {"name": "x", "rest": {"other": "1"}}


def test_request_parameter_by_name_or_annotation(functions: Client) -> None:
    assert functions.get("/who/ann").text == "ann via GET"
    assert functions.get("/typed/bo").text == "bo /typed/bo"


def test_return_values_go_through_the_handler_rules(functions: Client) -> None:
    assert functions.get("/nothing").status == 204
    response = functions.get("/add/1/1")
    assert response.headers["content-type"] == "application/json"


def test_posted_form_fields_are_keyword_arguments() -> None:
    app = Router()

    @app.function("/save", methods=("POST",))
    def save(title: str, count: int = 1) -> str:
        return f"{title} x{count}"

    client = Client(app)
    assert client.post("/save?count=2", data={"title": "tea"}).text == "tea x2"
    assert client.post("/save?count=2", data={"title": "tea", "count": "5"}).text == "tea x5"
    response = client.post("/save", data={"count": "5"})
    assert response.status == 400 and "title" in response.text
    assert client.get("/save").status == 405


def test_a_function_raising_http_error_and_bugs() -> None:
    app = Router()

    @app.function("/teapot")
    def teapot() -> str:
        raise HTTPError(418, "short and stout")

    @app.function("/bug/*")
    def bug(n: int) -> str:
        return str(1 // n)

    client = Client(app)
    assert client.get("/teapot").status == 418
    assert client.get("/bug/1").text == "1"
    assert client.get("/bug/0").status == 500        # a bug in the handler is not a conversion error


# -- JSON -------------------------------------------------------------------------------------

def test_json_in_and_out() -> None:
    app = Router()

    @app.function("/echo", methods=["POST"])
    def echo(request: Request) -> Response:
        data = request.json()
        return Response.json({"got": data, "when": datetime.date(2024, 5, 1)}, 201)

    client = Client(app)
    response = client.post("/echo", json={"a": [1, "é"]})
    assert response.status == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"got": {"a": [1, "é"]}, "when": "2024-05-01"}
    bad = client.post("/echo", body=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status == 400 and "malformed" in bad.text
    wrong_type = client.post("/echo", body=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status == 400 and "application/json" in wrong_type.text
    not_utf8 = client.post("/echo", body=b'"\xff"', headers={"Content-Type": "application/json"})
    assert not_utf8.status == 400


# -- servlets and services ------------------------------------------------------------------

def test_servlet_gets_a_fresh_instance_per_request_and_converted_wildcards() -> None:
    app = Router()
    seen = []

    @app.servlet("/counter/*/*")
    class Counter:
        def __init__(self, a: int, b: datetime.date, request: Request) -> None:
            self.a, self.b, self.request = a, b, request
            self.calls = 0

        def do_GET(self, request: Request) -> str:
            assert request is self.request
            self.calls += 1
            seen.append(self)
            return f"{self.a + 1} {self.b.year} {self.calls}"

    client = Client(app)
    assert client.get("/counter/1/2024-01-01").text == "2 2024 1"
    assert client.get("/counter/1/2024-01-01").text == "2 2024 1"
    assert seen[0] is not seen[1]
    assert client.get("/counter/x/2024-01-01").status == 404
    assert client.get("/counter/1/never").status == 404
    assert client.head("/counter/1/2024-01-01").status == 200


def test_servlet_explicit_head_wins_over_get() -> None:
    app = Router()

    @app.servlet("/h")
    class H:
        def do_GET(self, request: Request) -> str:
            return "get"

        def do_HEAD(self, request: Request) -> Response:
            return Response(headers={"X-Head": "1"})

    response = Client(app).head("/h")
    assert response.headers["x-head"] == "1"


def test_service_serves_names_inside_its_folder() -> None:
    app = Router()

    @app.service("/task/*/")
    class TaskPages:
        def __init__(self, number: int) -> None:
            self.number = number

        def do_GET_index(self, request: Request) -> str:
            return f"index {self.number} edit={request.app_url('task/*/edit', self.number)}"

        def do_GET_edit(self, request: Request) -> str:
            return f"edit {self.number}"

        def do_POST_edit(self, request: Request) -> str:
            return f"saved {self.number} {request.POST['title']}"

        def do_GET_print_view(self, request: Request) -> str:
            return "print"

        def helper(self) -> None:
            """Not published: not a do_ method."""

    client = Client(app)
    assert client.get("/task/4/").text == "index 4 edit=/task/4/edit"
    assert client.get("/task/4/edit").text == "edit 4"
    assert client.post("/task/4/edit", data={"title": "x"}).text == "saved 4 x"
    assert client.get("/task/4/print_view").text == "print"
    redirect = client.get("/task/4?a=1")
    assert (redirect.status, redirect.location) == (308, "/task/4/?a=1")
    assert client.get("/task/4/helper").status == 404
    assert client.get("/task/4/index").status == 404
    assert client.get("/task/x/edit").status == 404
    assert client.get("/task/4/edit/more").status == 404
    response = client.delete("/task/4/edit")
    assert (response.status, response.headers["allow"]) == (405, "GET, HEAD, OPTIONS, POST")


def test_service_index_may_be_spelled_with_a_trailing_underscore() -> None:
    app = Router()

    @app.service("/s/")
    class S:
        def do_GET_(self, request: Request) -> str:
            return "folder"

    client = Client(app)
    assert client.get("/s/").text == "folder"
    assert client.get("/s").location == "/s/"


# -- nesting and URL building -----------------------------------------------------------------

def make_notes_app() -> Router:
    notes = Router()

    @notes.function("/")
    def home(request: Request) -> str:
        return request.app_url("note/*", 7, tab="x y")

    @notes.function("/note/*")
    def note(n: int, request: Request) -> str:
        return f"note {n} mount={request.mount} home={request.app_url()} site={request.root_url('help')} " \
               f"wild={list(request.wildcards)}"
    return notes


def test_nested_routers_compose_their_mounts() -> None:
    site = Router()
    site.delegate_folder("/notes/", make_notes_app())
    site.delegate_folder("/users/*/notes/", make_notes_app())
    outer = Router()
    outer.delegate_folder("/app/", site)
    client = Client(outer)
    assert client.get("/app/notes/").text == "/app/notes/note/7?tab=x%20y"
    assert client.get("/app/notes/note/3").text == (
        "note 3 mount=/app/notes home=/app/notes/ site=/help wild=['3']")
    assert client.get("/app/users/ann/notes/note/4").text == (
        "note 4 mount=/app/users/ann/notes home=/app/users/ann/notes/ site=/help wild=['ann', '4']")
    # The same app mounted elsewhere builds links to where it is now.
    assert client.get("/app/users/b%20c/notes/").text == "/app/users/b%20c/notes/note/7?tab=x%20y"
    assert client.get("/app/notes").location == "/app/notes/"
    assert client.get("/app/notes/note/x").status == 404


def test_app_url_encodes_arguments() -> None:
    request = Request("GET", "/")
    request.mount = "/m"
    assert request.app_url() == "/m/"
    assert request.app_url("/") == "/m/"
    assert request.app_url("a/*/b/", "x y/z") == "/m/a/x%20y%2Fz/b/"
    assert request.app_url("task", 3, "edit") == "/m/task/3/edit"
    assert request.app_url("folder/", 3) == "/m/folder/3"
    assert request.app_url("day/*", datetime.date(2024, 1, 2)) == "/m/day/2024-01-02"
    assert request.app_url("q", a=[1, 2], b=None, c=True, d="&=?#") == "/m/q?a=1&a=2&c=true&d=%26%3D%3F%23"
    assert request.app_url("ünï/*", "ß") == "/m/%C3%BCn%C3%AF/%C3%9F"
    assert request.root_url("x/*", 1) == "/x/1"
    with pytest.raises(ValueError):
        request.app_url("a/*/*", 1)
    for bad in ("..", ".", "", None):
        with pytest.raises(ValueError):
            request.app_url("a/*", bad)


def test_app_url_round_trips_through_the_router() -> None:
    app = Router()

    @app.function("/echo/*/*")
    def echo(a: str, b: str, q: str = "") -> dict:
        return {"a": a, "b": b, "q": q}

    client = Client(app)
    for a, b, q in [("x y", "ä/ö", "&x=1"), ("%41", "+", "é è"), ("a?b", "c#d", "")]:
        url = Request("GET", "/").app_url("echo/*/*", a, b, q=q)
        assert client.get(url).json() == {"a": a, "b": b, "q": q}


# -- registration mistakes ------------------------------------------------------------------

def test_registration_errors_name_the_path() -> None:
    app = Router()
    app.delegate("/x", text_handler("x"))

    def f() -> str:
        return ""

    cases = [
        lambda: app.delegate("/x", text_handler("y")),
        lambda: app.function("/x")(f),
        lambda: app.delegate("x", text_handler("y")),
        lambda: app.function("relative/*")(f),
        lambda: app.delegate("/a//b", text_handler("y")),
        lambda: app.delegate("/a/./b", text_handler("y")),
        lambda: app.delegate("/a/../b", text_handler("y")),
        lambda: app.delegate("/a/b*", text_handler("y")),
        lambda: app.delegate("/q?x=1", text_handler("y")),
        lambda: app.function("/two/*/*")(lambda a: a),
        lambda: app.function("/pos/*", methods=["get"])(f),
        lambda: app.function("/fn/*")(lambda *, a: a),
        lambda: app.servlet("/cls/*")(type("NoMethods", (), {})),
        lambda: app.service("/svc/")(type("NoPages", (), {"do_GET": lambda self, r: ""})),
        lambda: app.servlet("/notclass")(f),
        lambda: app.delegate("/nc", "not callable"),
    ]
    for case in cases:
        with pytest.raises(RouteError) as info:
            case()
        assert isinstance(info.value, ValueError)
        message = str(info.value)
        assert "'/" in message or "relative" in message or "'x'" in message, message
    app.delegate_folder("/dir/", text_handler("d"))
    with pytest.raises(RouteError, match="'/dir/'"):
        app.delegate_folder("/dir/", text_handler("e"))


def test_registration_error_for_unresolvable_annotation() -> None:
    app = Router()
    namespace: dict = {}
    exec("def f(a: 'NoSuchType'): return a", namespace)
    with pytest.raises(RouteError, match="/u/"):
        app.function("/u/*")(namespace["f"])


def test_annotations_routing_does_not_need_may_be_unresolvable() -> None:
    # This module uses `from __future__ import annotations`: every annotation is a string.
    from kali.response import Response as LocalResponse
    app = Router()

    @app.function("/r/*")
    def handler(n: int, request: "UndefinedRequestAlias") -> LocalResponse:  # noqa: F821
        return LocalResponse.plain_text(str(n + 1))

    @app.function("/t/*")
    def typed(n: int, req: "kali.request.Request") -> LocalResponse:  # noqa: F821
        return LocalResponse.plain_text(req.path)

    client = Client(app)
    assert client.get("/r/1").text == "2"
    assert client.get("/t/1").text == "/t/1"
    assert client.get("/r/x").status == 404


def test_registration_errors_inside_a_servlet_constructor() -> None:
    app = Router()

    class NeedsTwo:
        def __init__(self, a: int, b: int) -> None:
            pass

        def do_GET(self, request: Request) -> str:
            return ""

    with pytest.raises(RouteError, match="/one/"):
        app.servlet("/one/*")(NeedsTwo)


def test_routes_lists_what_is_published(table: Client) -> None:
    paths = [path for path, _, _ in table.app.routes()]
    assert "/a/*/c" in paths and "/files/deep/" in paths


# -- error pages go through the one overridable place ----------------------------------------

def test_router_errors_use_the_app_wide_error_page(methods: Client, functions: Client) -> None:
    seen = []

    def branded(code: int, message: str, detail: str | None) -> str:
        seen.append(code)
        return f"<h1>My app: {code}</h1>"

    set_error_page(branded)
    try:
        assert methods.get("/nowhere").text == "<h1>My app: 404</h1>"
        assert methods.delete("/items").text == "<h1>My app: 405</h1>"
        assert functions.get("/add/1/2?scale=x").text == "<h1>My app: 400</h1>"
    finally:
        set_error_page(None)
    assert seen == [404, 405, 400]
    assert "My app" not in methods.get("/nowhere").text


def test_a_normalising_redirect_never_leaves_the_site() -> None:
    # A raw backslash would make the Location '/\evil.com', which browsers follow to evil.com.
    app = Router()

    @app.function("/")
    def home() -> str:
        return "home"

    client = Client(app)
    for target in ("/./\\evil.com", "/a/../\\\\evil.com", "//evil.com", "/.//evil.com"):
        response = client.send_raw(f"GET {target} HTTP/1.0\r\n\r\n".encode())
        location = response.headers["location"]
        assert response.status == 308
        assert location.startswith("/") and not location.startswith(("//", "/\\")), (target, location)


def test_a_plain_functions_parameters_read_from_its_code_are_what_inspect_says() -> None:
    import inspect

    from kali.routing import _EMPTY, _parameters

    def a(request, x: int, y="d", /, z: "str" = "e", *rest: int, k, m: float = 1.5, **more: str): ...
    def b(): ...
    def c(*, only=None): ...
    def d(x, /, *args): ...
    def e(x, y=1, *, z, **kw): ...
    def f(request: Request, a: int | None = None, b: list[int] = []): ...  # noqa: B006
    for function in (a, b, c, d, e, f, lambda request, n=3: n):
        expected = [(p.name, int(p.kind), _EMPTY if p.default is p.empty else p.default,
                     _EMPTY if p.annotation is p.empty else p.annotation)
                    for p in inspect.signature(function).parameters.values()]
        got = [(p.name, p.kind, p.default, p.annotation) for p in _parameters(function)]
        assert got == expected, function
