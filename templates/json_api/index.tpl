<!--{extends common/layout}-->
<!--{slot title}-->Notes (a JSON API) - kali<!--{end}-->
<!--{slot example}-->json_api<!--{end}-->
<!--{slot head}--><script src="/static/json_api/notes.js" defer></script><!--{end}-->
<!--{slot body}-->
<h1>Notes</h1>
<p class="lead">This page never reloads: its script talks to a small JSON API with <code>fetch()</code>.
Open <a href="/api/notes">/api/notes</a> to see what the script sees.</p>

<!-- No "required" or maxlength here on purpose: try an empty note and the server's 400 answer shows. -->
<form class="card" id="new-note">
<label for="text">New note</label>
<div class="row">
<input id="text" name="text" placeholder="Up to {max_length} characters" autocomplete="off">
<select name="priority" aria-label="Priority">
<option value="1">low</option>
<option value="2" selected>normal</option>
<option value="3">high</option>
</select>
<button>Add</button>
</div>
<p class="error" id="problem" role="alert" hidden></p>
</form>

<ul class="items" id="notes"><li class="muted">Loading...</li></ul>

<h2>The API</h2>
<table>
<tr><th>Request</th><th>Answer</th></tr>
<tr><td><code>GET /api/notes</code></td><td><code>{{"notes": [...]}</code></td></tr>
<tr><td><code>POST /api/notes</code> with <code>{{"text": "...", "priority": 1-3}</code></td>
<td>201 and the new note, or 400 and <code>{{"error": "...", "field": "..."}</code></td></tr>
<tr><td><code>GET /api/notes/ID</code></td><td>one note, or 404</td></tr>
<tr><td><code>DELETE /api/notes/ID</code></td><td>204, or 404</td></tr>
</table>
<p class="muted">Try it from a terminal too:
<code>curl -s {origin}/api/notes</code></p>
<!--{end}-->
