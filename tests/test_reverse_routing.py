"""Reverse routing: `Router.url_for` builds the path of a published handler from its name or object."""

from __future__ import annotations

import pytest

from kali import Request, Router, RouteError, guard
from kali.testing import Client


def library() -> tuple[Router, Router]:
    """An app with every way of publishing, and a router inside it given the folder /admin/."""
    app = Router()

    @app.function("/")
    def home() -> str:
        return "home"

    @app.function("/books/*")
    def book(book_id: int, tab: str = "about") -> str:
        return f"book {book_id} {tab}"

    @app.function("/tags/*/books/*", name="tagged")
    def books_with_tag(tag: str, page: int) -> str:
        return f"{tag} page {page}"

    class Reader:
        def __init__(self, name: str = "") -> None:
            self.name = name

        def do_GET(self, request: Request) -> str:
            return f"reader {self.name}"

    app.servlet("/readers/new")(Reader)
    app.servlet("/readers/*")(Reader)

    @app.service("/shelf/")
    class Shelf:
        def do_GET_index(self, request: Request) -> str:
            return "shelf"

        def do_GET_edit(self, request: Request) -> str:
            return "edit shelf"

    def plain(request: Request) -> str:
        return "plain"

    app.delegate("/plain", plain)
    admin = Router()

    @admin.function("/users/*/edit")
    def edit_user(name: str) -> str:
        return f"edit {name}"

    app.delegate_folder("/admin/", admin)
    return app, admin


def test_a_route_is_found_by_name_or_by_the_published_object() -> None:
    app, _ = library()
    assert app.url_for("home") == "/"
    assert app.url_for("book", 7) == "/books/7"
    assert app.url_for("tagged", "sci-fi", 2) == "/tags/sci-fi/books/2"
    assert app.url_for("Shelf") == "/shelf/" and app.url_for("Shelf.edit") == "/shelf/edit"
    assert app.url_for("Shelf.index") == "/shelf/"
    assert app.url_for("plain") == "/plain"


def test_the_function_and_class_objects_name_their_routes() -> None:
    app = Router()

    @app.function("/notes/*")
    def note(note_id: int) -> str:
        return str(note_id)

    class Page:
        def __init__(self, slug: str = "") -> None:
            self.slug = slug

        def do_GET(self, request: Request) -> str:
            return self.slug

    app.servlet("/pages/new")(Page)
    app.servlet("/pages/*")(Page)
    assert app.url_for(note, 3) == "/notes/3"
    # One class at two paths: the number of wildcards picks the path.
    assert app.url_for(Page) == "/pages/new"
    assert app.url_for(Page, "about") == "/pages/about"


def test_wildcards_and_query_values_are_percent_encoded_and_lead_back_to_the_handler() -> None:
    app, _ = library()
    client = Client(app)
    for tag in ("a&b", "sci-fi/fantasy", "50% off", "Zoë", "?#", "a b+c"):
        url = app.url_for("tagged", tag, 1)
        assert client.get(url).text == f"{tag} page 1", url
    url = app.url_for("book", 7, tab="notes & quotes/1")
    assert url == "/books/7?tab=notes%20%26%20quotes%2F1"
    assert client.get(url).text == "book 7 notes & quotes/1"
    # None leaves a query argument out; a list repeats it; True/False are words.
    assert app.url_for("home", q=None, tag=["a", "b"], all=True) == "/?tag=a&tag=b&all=true"


def test_a_wrong_number_of_wildcards_is_an_error_naming_the_route() -> None:
    app, _ = library()
    with pytest.raises(RouteError) as error:
        app.url_for("book")
    assert str(error.value) == ("url_for('book') got 0 wildcards: route '/books/*' "
                                "(test_reverse_routing.library.<locals>.book) takes 1 wildcard")
    with pytest.raises(RouteError, match=r"got 3 wildcards: route '/tags/\*/books/\*' .* takes 2 wildcards"):
        app.url_for("tagged", "a", 1, 2)


def test_an_unknown_name_is_an_error_with_a_suggestion() -> None:
    app, _ = library()
    with pytest.raises(RouteError, match=r"url_for\('bok'\): no route .* has that name — did you mean 'book'\?"):
        app.url_for("bok", 1)
    with pytest.raises(RouteError, match="has that handler"):
        app.url_for(print)


def test_a_value_that_cannot_be_a_segment_is_an_error_naming_the_route() -> None:
    app, _ = library()
    for bad in ("", ".", "..", None):
        with pytest.raises(RouteError, match=r"route '/books/\*'"):
            app.url_for("book", bad)


def test_routes_inside_a_folder_get_their_full_path_from_either_router() -> None:
    app, admin = library()
    assert app.url_for("edit_user", "ada lovelace") == "/admin/users/ada%20lovelace/edit"
    assert admin.url_for("edit_user", "ada") == "/admin/users/ada/edit"
    assert Client(app).get(admin.url_for("edit_user", "a/b")).text == "edit a/b"


def test_a_folder_through_a_wrapper_and_with_wildcards_of_its_own() -> None:
    import sqlite3
    app = Router()
    per_user = Router()

    @per_user.function("/notes/*")
    def user_note(user: str, note_id: int) -> str:
        return f"{user}: {note_id}"

    # guard() wraps the inner router; the folder has a wildcard of its own, filled first.
    db = sqlite3.connect(":memory:")
    app.delegate_folder("/users/*/", guard(per_user, db))
    assert app.url_for("user_note", "ann", 4) == "/users/ann/notes/4"
    assert per_user.url_for("user_note", "bo", 5) == "/users/bo/notes/5"
    with pytest.raises(RouteError, match=r"route '/users/\*/notes/\*' .* takes 2 wildcards"):
        per_user.url_for("user_note", 5)


def test_a_router_in_two_folders_asks_for_the_outer_routers_url_for() -> None:
    app = Router()
    inner = Router()

    @inner.function("/x")
    def x() -> str:
        return "x"

    app.delegate_folder("/a/", inner)
    app.delegate_folder("/b/", inner)
    with pytest.raises(RouteError, match="several folders .*'/a/'.*'/b/'"):
        inner.url_for("x")


def test_two_routes_of_one_name_and_arity_are_ambiguous() -> None:
    app = Router()

    @app.function("/one/*")
    def show(item: str) -> str:
        return item

    @app.function("/two/*", name="show")
    def also_show(item: str) -> str:
        return item

    with pytest.raises(RouteError, match="'/one/\\*', '/two/\\*' all fit 1 wildcard; publish them with different name="):
        app.url_for("show", 1)
    assert app.url_for(also_show, 1) == "/two/1"


def test_one_function_for_get_and_post_is_one_url() -> None:
    app = Router()

    @app.function("/form", methods="GET")
    @app.function("/form", methods="POST")
    def form() -> str:
        return "form"

    assert app.url_for("form") == "/form"


def test_name_must_be_a_non_empty_string() -> None:
    app = Router()
    with pytest.raises(RouteError, match="name= must be a non-empty str"):
        app.function("/x", name="")(lambda: "x")


def test_url_for_in_a_template() -> None:
    from kali import Template
    app, _ = library()
    page = Template('<a href="{book_url}">Dune</a>')
    assert "".join(page(book_url=app.url_for("book", 7, tab="a b"))) == '<a href="/books/7?tab=a%20b">Dune</a>'
