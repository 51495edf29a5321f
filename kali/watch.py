"""Which of an app's own files changed: `os.stat` polling of its folder tree and of the files it names.

`SourceWatcher(root)` knows two kinds of file:

- `CODE`: Python source (`*.py`, `*.pyw`) and SQL (`*.sql`: schemas and
  migrations read when the app starts) anywhere in the tree, and every file
  named with `watch(path, CODE)` (the modules the app imported from the tree);
  a change needs a new app process;
- `PAGES`: what pages show -- templates and static web files in the tree
  (`*.tpl`, `*.html`, `*.htm`, `*.css`, `*.js`) and every file named with
  `watch(path, PAGES)` (the template files the app loaded, wherever they are);
  the running app reads these again itself, so only the open pages reload.

Everything else is never looked at: the app's data (the data folder given to
`ignore`, SQLite files, whatever the app writes: uploads, exports, logs),
`.venv` and every folder holding a `pyvenv.cfg`, `__pycache__`,
`node_modules`, dot-folders and dot-files (`.git`, editors' swap files).
So an app writing its own data never triggers a reload.

Polling costs little: each `poll()` stats every watched file and folder once,
and lists a folder again only when its own modification time changed (a file
was created, removed or renamed in it: how most editors save) or is less than
two seconds old (file systems' clocks tick coarsely: a second change within one
tick leaves the time as it was).  Standard library only; no inotify, so it
works the same on every system.
"""

from __future__ import annotations

import os
import time
from typing import Iterable, NamedTuple
from .log import get_logger

__all__ = ["CODE", "PAGES", "Change", "SourceWatcher", "Saves", "MAX_WATCHED", "POLL_SECONDS", "ignored_file",
           "ignored_folder", "stamp"]

logger = get_logger()

#: A change that needs a new app process.
CODE = "code"
#: A change the running app picks up itself: only the open pages reload.
PAGES = "pages"

_SUFFIXES = {".py": CODE, ".pyw": CODE, ".sql": CODE,
             ".tpl": PAGES, ".html": PAGES, ".htm": PAGES, ".css": PAGES, ".js": PAGES}
_DATA_SUFFIXES = (".sqlite3", ".sqlite", ".db", "-wal", "-shm", "-journal", ".pyc", "~", ".swp", ".tmp")
#: At most this many files and folders are watched (a script saved in a home folder must not
#: make kali walk the whole home folder four times a second).
MAX_WATCHED = 20000

#: How often `Saves` looks at the files (seconds)...
POLL_SECONDS = 0.25
#: ...unless one look costs more than this share of the time between looks (a huge tree): then less often...
WATCH_SHARE = 0.01
#: ...but at least this often.
LONGEST_PERIOD = 2.0
#: A save is reported once the files have stayed put this long (an editor may write a file in several steps)...
SETTLE_SECONDS = 0.05
#: ...or once they have kept changing this long.
SETTLE_AT_MOST = 1.0

#: A folder whose modification time is this recent is listed again at the next look (file system
#: clocks tick coarsely: up to 10 ms on Linux, 2 s on FAT).
_RACY_NS = 2_000_000_000

# A file's identity and content version: a save rewrites it in place (mtime, size) or
# replaces it by a new file (inode).
_Stamp = tuple[int, int, int]


class Change(NamedTuple):
    """One file that changed, appeared or disappeared, and what its change needs (CODE or PAGES)."""

    path: str
    kind: str


def ignored_file(name: str) -> bool:
    """Whether a file name is never watched: dot-files, editors' leftovers, databases and their journals."""
    return name.startswith((".", "#")) or name.endswith(_DATA_SUFFIXES)


def ignored_folder(path: str, name: str) -> bool:
    """Whether a folder is never entered: dot-folders, caches, installed packages, virtual environments."""
    if name.startswith(".") or name in ("__pycache__", "node_modules", "site-packages", "venv"):
        return True
    # A virtual environment under any name is recognised by its pyvenv.cfg.
    return os.path.exists(os.path.join(path, "pyvenv.cfg"))


def stamp(path: str) -> list[int] | None:
    """What tells one version of a file from the next: [mtime in ns, size, inode] (None: no such file)."""
    found = _stamp(path)
    return list(found) if found is not None else None


def _stamp(path: str) -> _Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class SourceWatcher:
    """The app's source files under `root` and the files named to it, and what changed since the last `poll()`."""

    def __init__(self, root: str | os.PathLike[str], *, ignore: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.root = os.path.abspath(root)
        self._ignored: set[str] = {os.path.abspath(folder) for folder in ignore}
        # folder -> its modification stamp; file -> (its stamp, its kind)
        self._folders: dict[str, _Stamp | None] = {}
        self._files: dict[str, tuple[_Stamp | None, str]] = {}
        # Files named by watch(), which stay watched wherever they are.
        self._named: dict[str, str] = {}
        self._warned = False
        self._scan(self.root, report=None)

    @property
    def watched(self) -> int:
        """How many files are watched."""
        return len(self._files)

    def files(self, kind: str | None = None) -> list[str]:
        """The watched files (of one kind), sorted."""
        return sorted(path for path, (_, file_kind) in self._files.items() if kind is None or file_kind == kind)

    def ignore(self, folder: str | os.PathLike[str]) -> None:
        """Never watch anything inside `folder` (the app's data folder) from now on."""
        folder = os.path.abspath(folder)
        self._ignored.add(folder)
        inside = folder + os.sep
        for path in [p for p in self._folders if p == folder or p.startswith(inside)]:
            del self._folders[path]
        for path in [p for p in self._files if p.startswith(inside) and p not in self._named]:
            del self._files[path]

    def watch(self, path: str | os.PathLike[str], kind: str, *, seen: Iterable[int] | None = None) -> None:
        """Watch one more file (a module the app imported, a template it loaded), wherever it is.

        `seen`: the file's stamp when the app read it (`stamp(path)` in that process), so a
        change made between that moment and this call is still a change.
        """
        if kind not in (CODE, PAGES):
            raise ValueError(f"a watched file's kind is CODE or PAGES, not {kind!r}")
        path = os.path.abspath(path)
        known = self._files.get(path)
        if known is None:
            parts = tuple(seen) if seen is not None else ()
            self._files[path] = ((parts[0], parts[1], parts[2]) if len(parts) == 3 else _stamp(path), kind)
        elif kind == CODE and known[1] != CODE:
            # CODE wins: a module that is also served as a page still needs a new process.
            self._files[path] = (known[0], CODE)
        self._named[path] = self._files[path][1]

    def poll(self) -> list[Change]:
        """Every watched file that changed, appeared or disappeared since the last poll."""
        changes: list[Change] = []
        for folder, stamp in list(self._folders.items()):
            if folder not in self._folders:
                continue            # dropped meanwhile (it held a virtual environment)
            now = _stamp(folder)
            if now != stamp:
                if now is None:
                    self._forget_folder(folder, changes)
                else:
                    self._folders[folder] = now
                    self._scan(folder, report=changes)
        for path, (stamp, kind) in list(self._files.items()):
            if path not in self._files:
                continue
            now = _stamp(path)
            if now != stamp:
                self._files[path] = (now, kind)
                changes.append(Change(path, kind))
        return changes

    # -- the tree --------------------------------------------------------------------------------

    def _scan(self, folder: str, *, report: list[Change] | None) -> None:
        """Learn `folder`'s new entries: new files are reported (unless `report` is None), new folders scanned.

        Folders already known are polled on their own; files already known are stat'ed by poll().
        """
        if folder in self._ignored:
            return
        if folder not in self._folders:
            if not self._room():
                return
            self._folders[folder] = _stamp(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        if folder != self.root and any(entry.name == "pyvenv.cfg" for entry in entries):
            # A virtual environment being created here (`python -m venv venv`): its folders came first.
            self.ignore(folder)
            return
        stamp = self._folders.get(folder)
        if stamp is not None and stamp[0] > time.time_ns() - _RACY_NS:
            # Changed within a tick of the file system's clock: a file created later in that tick
            # would leave the folder's stamp as it is now. Forget the stamp: the next look lists it again.
            self._folders[folder] = None
        for entry in entries:
            name = entry.name
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_folder:
                path = entry.path
                if path in self._folders or path in self._ignored or ignored_folder(path, name):
                    continue
                # A folder found after the first scan is new: everything in it is new too.
                self._scan(path, report=report)
                continue
            kind = _SUFFIXES.get(os.path.splitext(name)[1].lower())
            if kind is None or ignored_file(name) or entry.path in self._files or not self._room():
                continue
            stamp = _stamp(entry.path)
            if stamp is None:
                continue
            self._files[entry.path] = (stamp, kind)
            if report is not None:
                report.append(Change(entry.path, kind))

    def _forget_folder(self, folder: str, changes: list[Change]) -> None:
        """A folder disappeared: forget it and what was under it (its files are reported as changed)."""
        inside = folder + os.sep
        for path in [p for p in self._folders if p == folder or p.startswith(inside)]:
            del self._folders[path]
        for path in [p for p in self._files if p.startswith(inside) and p not in self._named]:
            stamp, kind = self._files.pop(path)
            if stamp is not None:
                changes.append(Change(path, kind))

    def _room(self) -> bool:
        if len(self._files) + len(self._folders) < MAX_WATCHED:
            return True
        if not self._warned:
            self._warned = True
            logger.warning("watching only %d files and folders under %s: keep the app in a folder of its own",
                           MAX_WATCHED, self.root)
        return False


class Saves:
    """A watcher's changes grouped into saves: each reported once its files stay put, looked for cheaply.

    `look(now)` polls the watcher when `next_look` has come (every `POLL_SECONDS`,
    or less often when one look costs more than `WATCH_SHARE` of the time between
    looks, so watching stays near 1 % of a core however many files there are)
    and returns the changes of a save once no file has changed for
    `SETTLE_SECONDS` (an editor writing a file in several steps is one save).
    """

    def __init__(self, watcher: SourceWatcher, now: float) -> None:
        self.watcher = watcher
        #: time.monotonic() when the files are looked at next.
        self.next_look = now + POLL_SECONDS
        #: Seconds between looks now.
        self.period = POLL_SECONDS
        #: When the first change of the save being settled was seen.
        self.first_seen = 0.0
        self._pending: dict[str, Change] = {}
        self._settle_until = 0.0
        self._cost = 0.0

    def look(self, now: float) -> list[Change]:
        """The changes of a settled save ([] when there is none, or it is not time to look)."""
        if now < self.next_look:
            return []
        began = time.perf_counter()
        changes = self.watcher.poll()
        # Averaged: one look slowed down by a busy machine does not slow the next ones.
        self._cost = 0.8 * self._cost + 0.2 * (time.perf_counter() - began)
        self.period = min(LONGEST_PERIOD, max(POLL_SECONDS, self._cost / WATCH_SHARE))
        if changes:
            if not self._pending:
                self.first_seen = now
            for change in changes:
                if change.path not in self._pending or change.kind == CODE:
                    self._pending[change.path] = change
            self._settle_until = now + SETTLE_SECONDS
        if self._pending and now < self._settle_until and now - self.first_seen < SETTLE_AT_MOST:
            self.next_look = self._settle_until
            return []
        self.next_look = now + self.period
        save, self._pending = list(self._pending.values()), {}
        return save
