// kali's page script: one event stream per page, so the app knows the page is open.
// A "hello" from another server process than the one that served the page (data-boot, under
// run --reload) or than the first one met, or a "reload" event, reloads the page --
// unless a form on it holds changes, in which case a notice offers the reload instead.
(function () {
  "use strict";
  if (!window.EventSource || window.__kaliPage) return;
  window.__kaliPage = true;
  var me = document.currentScript;
  var boot = (me && me.getAttribute("data-boot")) || null, source = null, retry = null;

  function edited() {
    for (var f = 0; f < document.forms.length; f++) {
      var fields = document.forms[f].elements;
      for (var i = 0; i < fields.length; i++) {
        var e = fields[i], t = e.type;
        if (t === "checkbox" || t === "radio") {
          if (e.checked !== e.defaultChecked) return true;
        } else if (e.options) {
          for (var o = 0; o < e.options.length; o++)
            if (e.options[o].selected !== e.options[o].defaultSelected) return true;
        } else if (t !== "hidden" && t !== "submit" && t !== "button" && "defaultValue" in e) {
          if (e.value !== e.defaultValue) return true;
        }
      }
    }
    return false;
  }

  function reload() {
    if (!edited()) { location.reload(); return; }
    if (document.getElementById("kali-reload")) return;
    var note = document.createElement("div");
    note.id = "kali-reload";
    note.setAttribute("role", "status");
    note.style.cssText = "position:fixed;right:1em;bottom:1em;z-index:2147483647;padding:.5em .8em;" +
      "background:#222;color:#fff;font:14px/1.4 system-ui,sans-serif;border-radius:4px";
    note.appendChild(document.createTextNode("code changed \u2014 "));
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "reload";
    button.onclick = function () { location.reload(); };
    note.appendChild(button);
    document.body.appendChild(note);
  }

  function connect() {
    retry = null;
    source = new EventSource("/_kali/events");
    source.addEventListener("hello", function (event) {
      var id = JSON.parse(event.data).boot;
      if (boot === null) boot = id;
      else if (id !== boot) reload();
    });
    source.addEventListener("reload", reload);
    source.onerror = function () {
      // EventSource retries a dropped stream itself, but gives up for good on an answer that is
      // not a 200 event stream (a server starting, or showing an error page): try again later.
      if (source.readyState === 2 && retry === null) retry = setTimeout(connect, 500);
    };
  }

  // Leaving the page closes its stream at once; a page restored from the back/forward cache opens one again.
  window.addEventListener("pagehide", function () {
    if (retry !== null) { clearTimeout(retry); retry = null; }
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && source === null) connect();
  });
  connect();
})();
