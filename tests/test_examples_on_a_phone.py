"""Every example on a phone and with the keyboard alone, in headless Chromium at 390x844.

Each example runs as a real process; every page reachable from its home page
by following links is loaded, and on each one: nothing is wider than the
screen (no sideways scrolling), what is meant to be tapped is at least 40 px
high (checkboxes and radio buttons 20 px), a form can be sent with Enter (it
has a submit button), and the focus ring shows on everything Tab reaches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import pytest
from support import chromium, running_example

#: An iPhone 12-15's CSS viewport.
PHONE = {"width": 390, "height": 844}
#: At most this many pages of one example are visited (the datebook with its sample data has ~60).
MAX_PAGES = 120
#: Tab presses per page when checking the focus ring.
TABS = 30

#: Each example, and how many pages its links lead to at least (so the crawl cannot pass by finding none).
EXAMPLES = {"intro": 10, "static_content": 5, "simple_task_list": 3, "templates_tour": 3, "guard": 1,
            "datebook": 60, "uploads": 1, "live_progress": 2, "json_api": 1}

# What a page reports about itself: its width, the targets that are too small, the forms that
# Enter cannot send. (A target hidden by the page -- display:none, a closed <details> -- is skipped.)
MEASURE = """() => {
  const small = [];
  const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
                         && getComputedStyle(e).visibility !== 'hidden'; };
  const describe = e => e.outerHTML.slice(0, 120);
  for (const e of document.querySelectorAll(
      'button, .button, input, select, textarea, .bar a, nav a, .tabs a')) {
    if (!visible(e) || (e.tagName === 'INPUT' && e.type === 'hidden')) continue;
    const least = (e.tagName === 'INPUT' && ['checkbox', 'radio'].includes(e.type)) ? 20 : 40;
    const height = e.getBoundingClientRect().height;
    if (height < least - 0.5) small.push(`${Math.round(height)}px: ${describe(e)}`);
  }
  const unsendable = [];
  for (const form of document.forms) {
    const fields = [...form.elements].filter(e => e.matches('input:not([type=hidden]), select, textarea'));
    const submit = form.querySelector('button:not([type=button]):not([type=reset]), input[type=submit]');
    const texts = fields.filter(e => e.tagName === 'INPUT' && !['checkbox', 'radio', 'file'].includes(e.type));
    // Enter sends a form with a submit button, or one with a single text field (HTML's implicit submission).
    if (!submit && texts.length !== 1) unsendable.push(describe(form));
  }
  return {width: document.documentElement.scrollWidth, viewport: innerWidth, small, unsendable};
}"""

# Whether the element that has the focus shows it: an outline or a box shadow.
FOCUS_SHOWN = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const style = getComputedStyle(e);
  // 'auto' is the browser's own focus ring (on pages without kali.css, such as a folder listing).
  const outlined = style.outlineStyle === 'auto' || (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2);
  return {shown: outlined || style.boxShadow !== 'none', what: e.outerHTML.slice(0, 120)};
}"""


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium with a phone-sized window, for the module."""
    # Not is_mobile: in that mode Chromium widens the layout viewport to fit a page that is too
    # wide, and innerWidth would hide the very overflow this test looks for.
    with chromium(tmp_path_factory.mktemp("chromium"), viewport=PHONE) as context:
        yield context


def links_on(page: Any, base: str) -> list[str]:
    """The pages this page links to on the same app (no files, downloads or kali's own paths)."""
    found = []
    for href in page.eval_on_selector_all("a[href]:not([download])", "links => links.map(a => a.href)"):
        url = urljoin(page.url, href).split("#", 1)[0]
        path = urlsplit(url).path
        if not url.startswith(base) or path.startswith(("/static/", "/_kali/", "/files/")):
            continue
        if path.endswith((".csv", ".js", ".css", ".png", ".txt", ".svg")) or path.startswith("/api/"):
            continue
        found.append(url)
    return found


def visit_every_page(page: Any, base: str) -> tuple[set[str], list[str]]:
    """Load every page reachable from the home page: the pages, and what is wrong with each (messages)."""
    problems: list[str] = []
    queue, seen = [base], {base}
    while queue and len(seen) <= MAX_PAGES:
        url = queue.pop(0)
        page.goto(url, wait_until="load")
        where = url[len(base) - 1:]
        report = page.evaluate(MEASURE)
        if report["width"] > report["viewport"]:
            problems.append(f"{where}: {report['width']} px wide on a {report['viewport']} px screen")
        problems += [f"{where}: tap target of {target}" for target in report["small"]]
        problems += [f"{where}: Enter cannot send {form}" for form in report["unsendable"]]
        problems += [f"{where}: {message}" for message in focus_problems(page)]
        for link in links_on(page, base):
            if link not in seen:
                seen.add(link)
                queue.append(link)
    assert len(seen) <= MAX_PAGES, f"more than {MAX_PAGES} pages: raise MAX_PAGES if that is right"
    return seen, problems


def focus_problems(page: Any) -> list[str]:
    """Tab through the page: every element that takes the focus must show it."""
    problems = []
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    for _ in range(TABS):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_SHOWN)
        if state is None:
            break       # the focus left the page: every element was visited
        if not state["shown"]:
            problems.append(f"the focus is invisible on {state['what']}")
    return problems


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_page_of_the_example_fits_a_phone_and_works_with_the_keyboard(name: str, phone: Any,
                                                                           tmp_path: Path) -> None:
    env = {"KALI_DATA_DIR": str(tmp_path / "data"), "KALI_DATEBOOK_DB": str(tmp_path / "datebook.sqlite3"),
           "KALI_GUARD_DB": str(tmp_path / "guard.sqlite3"), "KALI_UPLOADS_DIR": str(tmp_path / "uploads")}
    (tmp_path / "uploads").mkdir()
    # A file with a long name, so the uploads list has a row to lay out.
    (tmp_path / "uploads" / ("a-rather-long-file-name-that-has-no-spaces-" * 2 + ".txt")).write_text("x")
    with running_example(name, env=env) as base:
        page = phone.new_page()
        try:
            if name == "datebook":
                # Pages with records to show: the datebook fills itself with sample data.
                page.goto(base, wait_until="load")
                with page.expect_navigation():
                    page.click("text=Fill it with sample data")
            pages, problems = visit_every_page(page, base)
        finally:
            page.close()
    assert len(pages) >= EXAMPLES[name], sorted(pages)
    assert not problems, "\n".join(problems)
