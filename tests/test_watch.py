"""The reload watcher: which of an app's files it watches, what a change needs, and what it never looks at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kali.watch import (CODE, LONGEST_PERIOD, MAX_WATCHED, PAGES, POLL_SECONDS, SETTLE_AT_MOST, SETTLE_SECONDS, Change,
                        Saves, SourceWatcher, ignored_file)


def touch(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def bump(path: Path, text: str | None = None) -> None:
    """Change a file so its stamp surely differs (content and mtime), even within one clock tick."""
    old = path.read_text()
    path.write_text(text if text is not None else old + "# changed\n")
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    touch(root / "app.py")
    touch(root / "helpers" / "dates.py")
    touch(root / "schema.sql", "CREATE TABLE t (x);\n")
    touch(root / "templates" / "page.tpl", "<p>{x}</p>\n")
    touch(root / "static" / "site.css", "p { color: red }\n")
    touch(root / "static" / "logo.png", "png")
    return root


def test_it_watches_python_and_sql_as_code_and_templates_and_web_files_as_pages(app: Path) -> None:
    watcher = SourceWatcher(app)
    assert watcher.files(CODE) == sorted(str(app / name) for name in ("app.py", "helpers/dates.py", "schema.sql"))
    assert watcher.files(PAGES) == sorted(str(app / name) for name in ("templates/page.tpl", "static/site.css"))
    assert watcher.poll() == []         # the first look is the baseline


def test_a_change_is_reported_once_with_what_it_needs(app: Path) -> None:
    watcher = SourceWatcher(app)
    bump(app / "helpers" / "dates.py")
    assert watcher.poll() == [Change(str(app / "helpers" / "dates.py"), CODE)]
    assert watcher.poll() == []
    bump(app / "templates" / "page.tpl")
    bump(app / "static" / "logo.png")           # not a file pages are made of
    assert watcher.poll() == [Change(str(app / "templates" / "page.tpl"), PAGES)]


def test_a_save_by_rename_is_a_change(app: Path) -> None:
    # Many editors write a new file and rename it over the old one: same size and maybe the same mtime.
    watcher = SourceWatcher(app)
    target = app / "app.py"
    temporary = touch(app / "app.py.new", target.read_text())
    os.replace(temporary, target)
    assert watcher.poll() == [Change(str(target), CODE)]


def test_new_files_and_folders_are_changes_and_so_is_a_removal(app: Path) -> None:
    watcher = SourceWatcher(app)
    new = touch(app / "models.py")
    deeper = touch(app / "plugins" / "extra" / "hook.py")
    assert sorted(watcher.poll()) == sorted([Change(str(new), CODE), Change(str(deeper), CODE)])
    new.unlink()
    assert watcher.poll() == [Change(str(new), CODE)]
    touch(new)                                  # back again (an import that failed now works)
    assert watcher.poll() == [Change(str(new), CODE)]
    (app / "plugins" / "extra" / "hook.py").unlink()
    (app / "plugins" / "extra").rmdir()
    assert watcher.poll() == [Change(str(deeper), CODE)]


def test_a_file_created_within_the_clock_tick_of_the_last_look_is_still_found(app: Path) -> None:
    # File system clocks tick coarsely (10 ms on Linux, 2 s on FAT): a folder changed again within the
    # tick of the look that listed it keeps the modification time that look saw.
    folder = app / "helpers"
    watcher = SourceWatcher(app)
    seen = folder.stat()
    second = touch(folder / "second.py")
    os.utime(folder, ns=(seen.st_atime_ns, seen.st_mtime_ns))
    assert folder.stat().st_mtime_ns == seen.st_mtime_ns
    assert watcher.poll() == [Change(str(second), CODE)]


def test_a_folder_that_stays_put_is_not_listed_again(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_ago = 1_000_000_000_000_000_000          # 2001: far older than any clock tick
    for path in [app, *[p for p in app.rglob("*") if p.is_dir()]]:
        os.utime(path, ns=(long_ago, long_ago))
    watcher = SourceWatcher(app)
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or real_scandir(path))
    for _ in range(3):
        assert watcher.poll() == []
    assert listed == []
    new = touch(app / "templates" / "other.tpl")
    assert watcher.poll() == [Change(str(new), PAGES)]
    assert listed == [str(app / "templates")]


def test_data_caches_environments_and_dot_folders_are_never_watched(app: Path) -> None:
    data = app / "data"
    watcher = SourceWatcher(app, ignore=[data])
    quiet = [
        data / "notes.sqlite3", data / "export.py", app / "notes.sqlite3", app / "notes.sqlite3-wal",
        app / "notes.sqlite3-shm", app / "app.db", app / "notes.sqlite3-journal",
        app / ".venv" / "lib" / "site.py", app / "env" / "pyvenv.cfg", app / "env" / "lib" / "thing.py",
        app / "__pycache__" / "app.cpython-311.pyc", app / "__pycache__" / "x.py", app / ".git" / "hook.py",
        app / "node_modules" / "x.js", app / ".app.py.swp", app / "app.py~", app / ".#app.py",
        app / "uploads" / "report.csv", app / "notes.json",
    ]
    for path in quiet:
        touch(path)
    assert watcher.poll() == []
    for path in quiet:
        bump(path)
    assert watcher.poll() == []
    assert not any(str(path) in watcher.files() for path in quiet)


def test_the_data_folder_named_later_is_forgotten(app: Path) -> None:
    data = touch(app / "state" / "kali-instance.json").parent
    touch(data / "tool.py")
    watcher = SourceWatcher(app)
    assert str(data / "tool.py") in watcher.files()
    watcher.ignore(data)
    bump(data / "tool.py")
    touch(data / "other.py")
    assert watcher.poll() == []


def test_files_named_to_it_are_watched_wherever_they_are(tmp_path: Path, app: Path) -> None:
    outside = touch(tmp_path / "shared" / "layout.tpl", "<main>{body}</main>")
    module = touch(tmp_path / "shared" / "lib.py")
    watcher = SourceWatcher(app)
    watcher.watch(outside, PAGES)
    watcher.watch(module, CODE)
    watcher.watch(app / "templates" / "page.tpl", CODE)      # both a module and a page: CODE wins
    watcher.watch(app / "app.py", PAGES)                       # ...and stays
    assert str(outside) in watcher.files(PAGES) and str(module) in watcher.files(CODE)
    assert str(app / "templates" / "page.tpl") in watcher.files(CODE)
    assert str(app / "app.py") in watcher.files(CODE)
    bump(outside)
    bump(module)
    assert sorted(watcher.poll()) == sorted([Change(str(outside), PAGES), Change(str(module), CODE)])
    with pytest.raises(ValueError, match="CODE or PAGES"):
        watcher.watch(module, "everything")


def test_it_watches_at_most_so_many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("kali.watch.MAX_WATCHED", 5)
    for n in range(10):
        touch(tmp_path / f"m{n}.py")
    watcher = SourceWatcher(tmp_path)
    assert watcher.watched == 4             # and the folder itself
    assert "watching only 5 files and folders" in caplog.text
    assert MAX_WATCHED >= 10000


def test_ignored_file_names() -> None:
    for name in ("notes.sqlite3", "a.db", "x.sqlite3-wal", "x-shm", "x-journal", ".swp", ".hidden.py", "a.pyc",
                 "a.py~", "#a.py#"):
        assert ignored_file(name), name
    for name in ("app.py", "page.tpl", "site.css", "schema.sql"):
        assert not ignored_file(name), name


def test_a_virtual_environment_created_while_watching_is_dropped(app: Path) -> None:
    watcher = SourceWatcher(app)
    # `python -m venv env` makes the folders first, pyvenv.cfg a moment later.
    touch(app / "env" / "bin" / "activate.py")
    watcher.poll()
    touch(app / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    touch(app / "env" / "lib" / "site.py")
    watcher.poll()
    assert not any("/env/" in path for path in watcher.files())
    bump(app / "env" / "bin" / "activate.py")
    assert watcher.poll() == []


# -- saves: changes reported once they settle, looked for at a pace that keeps watching cheap ----------

class ScriptedWatcher:
    """Stands in for SourceWatcher: each poll returns the next scripted list of changes (and costs what it says)."""

    def __init__(self, *polls: list[Change], cost: float = 0.0) -> None:
        self.polls = list(polls)
        self.cost = cost
        self.clock = 0.0
        self.looks = 0

    def poll(self) -> list[Change]:
        self.looks += 1
        self.clock += self.cost
        return self.polls.pop(0) if self.polls else []


@pytest.fixture
def watcher(monkeypatch: pytest.MonkeyPatch) -> ScriptedWatcher:
    scripted = ScriptedWatcher()

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return scripted.clock

    monkeypatch.setattr("kali.watch.time", Clock)
    return scripted


def test_a_save_is_reported_once_its_files_stay_put(watcher: ScriptedWatcher) -> None:
    first, second = Change("/app/app.py", CODE), Change("/app/page.tpl", PAGES)
    watcher.polls = [[first], [second], []]
    saves = Saves(watcher, now=100.0)     # type: ignore[arg-type]
    assert saves.next_look == 100.0 + POLL_SECONDS
    assert saves.look(100.1) == [] and watcher.looks == 0           # not yet time
    assert saves.look(100.25) == [] and saves.next_look == pytest.approx(100.25 + SETTLE_SECONDS)
    assert saves.look(100.30) == []                                 # the editor wrote again
    assert saves.look(100.35) == [first, second]                    # quiet for SETTLE_SECONDS: one save
    assert saves.first_seen == 100.25 and saves.next_look == pytest.approx(100.35 + POLL_SECONDS)
    assert saves.look(100.60) == []


def test_files_that_keep_changing_are_reported_after_a_second(watcher: ScriptedWatcher) -> None:
    change = Change("/app/app.py", CODE)
    watcher.polls = [[change]] * 100
    saves = Saves(watcher, now=0.0)       # type: ignore[arg-type]
    now = POLL_SECONDS
    reported: list[Change] = []
    while not reported:
        reported = saves.look(now)
        now = saves.next_look
    assert reported == [change] and now - POLL_SECONDS <= POLL_SECONDS + SETTLE_AT_MOST + SETTLE_SECONDS


def test_a_look_that_costs_more_than_a_share_of_the_period_makes_looks_rarer(watcher: ScriptedWatcher) -> None:
    watcher.cost = 0.05            # 50 ms a look: 1 % of a core would be every 5 s, but at least every 2 s
    saves = Saves(watcher, now=0.0)       # type: ignore[arg-type]
    for _ in range(30):
        saves.look(saves.next_look)
    assert saves.period == LONGEST_PERIOD
    watcher.cost = 0.004           # 4 ms: every 0.4 s
    for _ in range(30):
        saves.look(saves.next_look)
    assert saves.period == pytest.approx(0.4, rel=0.05)
    watcher.cost = 0.0005
    for _ in range(30):
        saves.look(saves.next_look)
    assert saves.period == POLL_SECONDS
