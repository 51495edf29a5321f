// The static_content example's script: proof that JavaScript files are served and run.
// `defer` in the <script> tag runs it once the page is parsed, so the elements below exist.
"use strict";

const status = document.getElementById("js-status");

function tick() {
  status.textContent = "JavaScript is running: the time in your browser is " +
    new Date().toLocaleTimeString() + ".";
}
tick();
setInterval(tick, 1000);
status.dataset.ran = "yes";

// Ask the server for a text file and show the headers that make caching work: the browser keeps
// the file, and before using it again asks "still this ETag?"; unless the file changed, the
// answer is a bodiless "304 Not Modified" (see your browser's network tools).
fetch("/static/static_content/notes.txt").then(async (response) => {
  const text = await response.text();
  const list = document.getElementById("headers");
  list.replaceChildren();
  for (const name of ["Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Accept-Ranges"]) {
    const term = document.createElement("dt");
    term.textContent = name;
    const value = document.createElement("dd");
    value.textContent = response.headers.get(name) ?? "(not sent)";
    list.append(term, value);
  }
  list.dataset.loaded = "yes";
  list.dataset.length = String(text.length);
});
