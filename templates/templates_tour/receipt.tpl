<!--{extends templates_tour/base}-->
<!--{slot body}-->
<h1>Receipt</h1>
<p>Thank you, {customer}. You paid {total:cents}.</p>
<!--{end}-->
