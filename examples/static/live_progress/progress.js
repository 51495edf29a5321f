// The live_progress example's page script: start the job and follow its events.
"use strict";

const startButton = document.getElementById("start");
const state = document.getElementById("state");
const bar = document.getElementById("bar");
const meter = document.getElementById("meter");
const result = document.getElementById("result");
const eventList = document.getElementById("events");
let received = 0;

function note(text) {
  const item = document.createElement("li");
  item.textContent = text;
  eventList.append(item);
  received += 1;
  document.body.dataset.events = String(received);
}

startButton.addEventListener("click", () => {
  startButton.disabled = true;
  eventList.replaceChildren();
  received = 0;
  delete document.body.dataset.done;
  result.textContent = "\u00a0";
  result.className = "muted";
  state.textContent = "Starting...";
  // EventSource opens one long GET request and calls us for every event the server sends on it.
  const source = new EventSource("/job");

  // Events sent with a name ({"event": "progress", ...} in Python) arrive at listeners of that name.
  source.addEventListener("progress", (event) => {
    const step = JSON.parse(event.data);
    const percent = Math.round(100 * step.done / step.steps);
    bar.style.width = percent + "%";
    meter.setAttribute("aria-valuenow", String(percent));
    state.textContent = `Step ${step.done} of ${step.steps}: ${step.found.toLocaleString()} primes so far.`;
    note(`progress ${percent}% (${step.found.toLocaleString()} primes, ${step.seconds.toFixed(1)} s)`);
  });

  source.addEventListener("done", (event) => {
    const summary = JSON.parse(event.data);
    // Close it ourselves: when a stream ends, EventSource would otherwise reconnect and start again.
    source.close();
    state.textContent = "Finished.";
    result.textContent = `There are ${summary.found.toLocaleString()} prime numbers below ` +
      `${summary.limit.toLocaleString()}; counting them took ${summary.seconds.toFixed(1)} s.`;
    result.className = "ok";
    document.body.dataset.done = "yes";
    note("done");
    startButton.disabled = false;
  });

  // Only reached if the stream breaks before "done" (the server stopped, for instance).
  source.onerror = () => {
    source.close();
    state.textContent = "The connection to the server was lost.";
    startButton.disabled = false;
  };
});
