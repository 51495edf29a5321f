<!--{extends layout}-->
<!--{slot body}-->
<h1>{title}</h1>
<div class="notice error">
  <p>{message}</p>
</div>
<!--{if detail}-->
<pre>{detail}</pre>
<!--{end}-->
<p><a href="/">Back to the dashboard</a></p>
<!--{end}-->
