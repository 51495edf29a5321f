<!--{if signed_in_as}-->
<p>Signed in as <strong>{signed_in_as}</strong>.</p>
<!--{otherwise}-->
<p>Nobody is signed in.</p>
<!--{end}-->
<!--{if not overdue}-->
<p class="ok">Nothing is overdue.</p>
<!--{otherwise}-->
<p class="error">{overdue} task(s) overdue!</p>
<!--{end}-->
