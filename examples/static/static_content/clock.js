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

// Ask the server about the shared stylesheet (HEAD: the headers without the body) and show the
// headers that make caching work. Reload the page: the stylesheet comes back as "304 Not Modified".
fetch("/static/kali.css", { method: "HEAD", cache: "no-store" }).then((response) => {
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
});
