<!--{extends templates_tour/base}-->
<!--{slot body}-->
<h1>Tasks</h1>
<!--{if tasks}-->
<p>You have things to do.</p>
<!--{otherwize}-->
<p>Nothing to do.</p>
<!--{end}-->
<!--{end}-->
