// The json_api example's page script: list, create and delete notes through the JSON API.
"use strict";

const list = document.getElementById("notes");
const form = document.getElementById("new-note");
const problem = document.getElementById("problem");
const PRIORITY = { 1: "low", 2: "normal", 3: "high" };

// One place that calls the API: it turns an error answer into an exception with the server's message.
async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  // A fetch() to the page's own server is same-origin: the browser says so (Sec-Fetch-Site),
  // and kali's check against other sites posting to your app lets it through.
  const response = await fetch(path, options);
  const isJson = (response.headers.get("Content-Type") || "").startsWith("application/json");
  const data = isJson ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(data && data.error ? data.error : `${response.status} ${response.statusText}`);
    error.field = data && data.field;
    throw error;
  }
  return data;
}

function show(notes) {
  list.replaceChildren();
  if (notes.length === 0) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = "No notes yet.";
    list.append(empty);
    return;
  }
  for (const note of notes) {
    const item = document.createElement("li");
    item.dataset.id = note.id;
    const text = document.createElement("span");
    text.className = "grow";
    // textContent, never innerHTML: a note containing <b> or <script> is shown as text.
    text.textContent = note.text;
    const priority = document.createElement("small");
    priority.textContent = PRIORITY[note.priority];
    const remove = document.createElement("button");
    remove.className = "danger";
    remove.textContent = "Delete";
    remove.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/notes/${note.id}`);
        problem.hidden = true;
      } catch (error) {
        // Deleted meanwhile (in another tab, say): the server's 404 says so.
        problem.textContent = error.message;
        problem.hidden = false;
      }
      await refresh();
    });
    item.append(text, priority, remove);
    list.append(item);
  }
}

async function refresh() {
  const data = await api("GET", "/api/notes");
  show(data.notes);
  document.body.dataset.loaded = "yes";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();       // handle the form here instead of letting the browser post it
  const fields = new FormData(form);
  try {
    await api("POST", "/api/notes", { text: fields.get("text"), priority: Number(fields.get("priority")) });
    problem.hidden = true;
    form.reset();
    await refresh();
  } catch (error) {
    problem.textContent = error.message;
    problem.hidden = false;
  }
});

refresh();
