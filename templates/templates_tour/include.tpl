<p>Above the included part.</p>
<!--{include templates_tour/signature}-->
<p>Below it.</p>
