<!--{extends common/layout}-->
<!--{slot title}-->Another page - kali<!--{end}-->
<!--{slot example}-->live_progress<!--{end}-->
<!--{slot body}-->
<h1>Another page</h1>
<p class="notice" id="served">Served at {now}, {running} job(s) running.</p>
<p>One thread runs every handler of a kali app. This page did not have to wait for the job,
because the job is a generator that the server advances one short step at a time, and between
steps it yields <code>Pause(seconds)</code>: the server answers other requests in the meantime.</p>
<p><a href="/">Back to the job</a></p>
<!--{end}-->
