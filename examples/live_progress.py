"""A long job streams its progress to the page (server-sent events); other pages stay responsive.

Run it with `./demo.sh live_progress`, press Start, and while the bar fills
open "another page" in a new tab: it loads at once. kali runs every handler
on one thread, so a job must never sleep or loop for long; instead it is a
generator that does one short step, yields its progress, and yields
`Pause(seconds)` to let the server answer everyone else until the next step.
"""

import math
import sys
import time
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
# Let the example run from a checkout without installing kali.
sys.path.insert(0, str(HERE.parent))

from kali import Pause, Response, Router, StaticFolder, TemplateFolder, serve_http  # noqa: E402

# The layout all the examples share (templates/common/layout.tpl) shows flash messages; this
# example never flashes one, so `flashes` is a global name: empty unless a handler passes some.
templates = TemplateFolder(HERE.parent / "templates", globals={"flashes": ()})

LIMIT = 2_000_000      # count the primes below this...
STEPS = 25             # ...in this many steps...
PAUSE = 0.15           # ...resting this many seconds after each one.

#: How many jobs are streaming right now (shown on the other page). One thread: a plain int is safe.
running = 0


def count_primes(start: int, stop: int) -> int:
    """How many primes are in range(start, stop): one step of the job, a few milliseconds of work."""
    if stop <= 2:
        return 0
    start = max(start, 2)
    # Cross out the multiples of every prime up to sqrt(stop) in a window covering [start, stop).
    window = bytearray([1]) * (stop - start)
    for p in range(2, math.isqrt(stop - 1) + 1):
        first = max(p * p, (start + p - 1) // p * p)
        window[first - start::p] = bytes(len(range(first, stop, p)))
    return sum(window)


def prime_job() -> Iterator[object]:
    """The job as a generator of events: what it yields is sent to the page as it happens."""
    global running
    running += 1
    started = time.monotonic()
    found = 0
    chunk = -(-LIMIT // STEPS)      # LIMIT / STEPS rounded up, so the steps cover every number
    try:
        for step in range(STEPS):
            # The work: short enough (a few ms) that nobody notices the server was busy.
            found += count_primes(step * chunk, min(LIMIT, (step + 1) * chunk))
            # A dict becomes one event: 'event' names it (the page listens for "progress"), 'data'
            # is sent as JSON. A plain string would be an unnamed event ("message").
            yield {"event": "progress",
                   "data": {"done": step + 1, "steps": STEPS, "found": found,
                            "seconds": time.monotonic() - started}}
            # NOT time.sleep(): that would stop the only thread, and every other page with it.
            # Pause tells the server "nothing more for now, come back in PAUSE seconds".
            yield Pause(PAUSE)
        yield {"event": "done", "data": {"found": found, "limit": LIMIT, "seconds": time.monotonic() - started}}
    finally:
        # Runs when the job ends, and also when the page goes away mid-job (the tab was closed):
        # the server closes the generator and the job stops, so no work is done for nobody.
        running -= 1


app = Router()
app.delegate_folder("/static/", StaticFolder(HERE / "static"))


@app.function("/")
def home() -> list[object]:
    """The page with the Start button, the progress bar and the list of received events."""
    return templates("live_progress/index", limit=LIMIT, steps=STEPS)


@app.function("/job")
def job() -> Response:
    """The event stream the page's EventSource reads: a new job for each connection."""
    # Response.events() sends each item the generator yields as soon as it is yielded.
    return Response.events(prime_job())


@app.function("/elsewhere")
def elsewhere() -> list[object]:
    """Any other page: answered at once, job or no job."""
    return templates("live_progress/elsewhere", now=time.strftime("%H:%M:%S"), running=running)


if __name__ == "__main__":
    serve_http(app)
