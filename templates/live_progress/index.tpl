<!--{extends common/layout}-->
<!--{slot title}-->Live progress - kali<!--{end}-->
<!--{slot example}-->live_progress<!--{end}-->
<!--{slot head}--><script src="/static/live_progress/progress.js" defer></script><!--{end}-->
<!--{slot body}-->
<h1>Live progress</h1>
<p class="lead">A job that takes a while: counting the prime numbers below {limit:num}, in {steps} steps.
Its progress comes to this page as <em>server-sent events</em> while it runs.</p>

<div class="card">
<p class="row">
<button id="start">Start the job</button>
<span id="state" class="muted">Not started.</span>
</p>
<div class="meter" role="progressbar" aria-valuemin="0" aria-valuemax="100" id="meter"><span id="bar"></span></div>
<p id="result" class="muted">&nbsp;</p>
</div>

<p>While it runs, <a href="/elsewhere" target="_blank" id="elsewhere">open another page in a new tab</a>:
it loads at once, because the job waits between its steps without holding up the server.</p>

<h2>What the page receives</h2>
<ol id="events" class="muted"></ol>

<p class="muted">Next: <code>./demo.sh json_api</code>.</p>
<!--{end}-->
