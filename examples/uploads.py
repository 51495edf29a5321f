"""Uploading files (several at once, big ones spooled to disk), listing and downloading them.

Run it with `./demo.sh uploads`, upload a few files (try a big one: a video,
a disk image), download them again. The files are kept in your per-user
data folder (~/.local/share/kali-uploads on Linux) unless the environment
variable KALI_UPLOADS_DIR names another folder.
"""

import datetime
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import HTTPError, Request, Response, Router, TemplateFolder, serve_http  # noqa: E402
from kali.flash import flash, flashed_messages  # noqa: E402
from kali.sqlite import data_folder  # noqa: E402

# data_folder() is the per-user place for an app's data, created private (readable by you only).
FOLDER = Path(os.environ.get("KALI_UPLOADS_DIR") or data_folder("kali-uploads"))
FOLDER.mkdir(parents=True, exist_ok=True)

# The layout all the examples share (templates/common/layout.tpl) shows flash messages: `flashes`
# is a global name, empty unless a handler passes some (the file list does).
templates = TemplateFolder(HERE.parent / "templates", globals={"flashes": ()})


def file_size(size: float) -> str:
    """A byte count the way people read it: 5.2 MB."""
    if size < 1000:
        return f"{size:.0f} bytes"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:,.1f} GB"


templates.register_formatter("filesize", file_size)


def safe_name(filename: str) -> str:
    """A file name that is safe to create in FOLDER, made from the name the browser sent.

    Never trust an uploaded file's name: it is whatever the other end chose to send. kali already
    strips any folder part ('C:\\Users\\me\\cv.pdf' arrives as 'cv.pdf'), and this keeps letters,
    digits and a few harmless characters, and refuses names that would be hidden ('.bashrc').
    """
    kept = "".join(c if c.isalnum() or c in " .-_()+," else "_" for c in filename)
    return kept.strip(" .")[:150] or "upload"


def unused_path(name: str) -> Path:
    """FOLDER/name, or FOLDER/'name (2).ext' and so on if that is taken: an upload never overwrites."""
    path = FOLDER / name
    stem, suffix = os.path.splitext(name)
    number = 2
    while path.exists():
        path = FOLDER / f"{stem} ({number}){suffix}"
        number += 1
    return path


def stored_file(name: str) -> Path:
    """The stored file called `name` (as given in a URL), or a 404.

    The name is looked up among the folder's entries instead of joined to the folder's path, so
    no name, however crafted ('../../etc/passwd'), can reach outside it.
    """
    if name in os.listdir(FOLDER) and (FOLDER / name).is_file():
        return FOLDER / name
    raise HTTPError(404, f"There is no uploaded file called {name!r}.")


app = Router()


@app.function("/")
def listing(request: Request) -> list[object]:
    """The upload form, the list of stored files, and what the last upload did (a flash message)."""
    files: list[dict[str, Any]] = []
    for entry in sorted(os.scandir(FOLDER), key=lambda e: e.name.casefold()):
        if entry.is_file() and not entry.name.startswith("."):
            info = entry.stat()
            # quote() the name for URLs ('a b.txt' -> 'a%20b.txt'); the template escapes it for HTML.
            files.append({"name": entry.name, "url_name": quote(entry.name), "size": info.st_size,
                          "modified": datetime.datetime.fromtimestamp(info.st_mtime).strftime("%Y-%m-%d %H:%M")})
    total = sum(f["size"] for f in files)
    # flashed_messages() reads the messages flash() left for this page, once: a reload shows none.
    return templates("uploads/index", files=files, count=len(files), total=total, folder=str(FOLDER),
                     flashes=flashed_messages(request))


@app.function("/upload", methods="POST")
def upload(request: Request) -> Response:
    """Save every file of the form's 'files' field, then go back to the list."""
    # By the time a handler runs, the whole request has arrived: the server kept the body on disk
    # (above 1 MiB) while it came in, without blocking other requests, and request.files gives each
    # part as an UploadedFile whose contents are a temporary file. Nothing big is in memory.
    saved = 0
    for uploaded in request.files.get_list("files"):
        if not uploaded.filename:
            continue        # an <input type=file> left empty still sends a part, with no name
        # save() copies the contents to the new file in blocks: any size costs a few kB of memory.
        uploaded.save(unused_path(safe_name(uploaded.filename)))
        saved += 1
    if not saved:
        raise HTTPError(400, "No file was chosen: pick one or more files, then press Upload.")
    # 303: after a POST, the browser GETs the list (reloading it will not upload again), and the
    # list says what happened: flash() carries the message to that next page in a signed cookie.
    return flash(Response.redirect("/"), f"{saved} file{'' if saved == 1 else 's'} uploaded.", "success")


@app.function("/files/*")
def download(name: str) -> Response:
    """Send a stored file back. download_name= makes the browser save it instead of showing it."""
    # Response.file() sends the file with sendfile(): the kernel copies it to the socket.
    return Response.file(stored_file(name), download_name=name)


@app.function("/files/*/delete", methods="POST")
def delete(name: str) -> Response:
    """Delete a stored file."""
    stored_file(name).unlink()
    return Response.redirect("/")


if __name__ == "__main__":
    # Uploads up to 4 GiB are accepted by default; serve_http(app, max_body_size=...) changes that.
    serve_http(app)
