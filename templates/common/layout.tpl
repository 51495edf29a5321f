<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><!--{slot title}-->kali<!--{end}--></title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/kali.css">
<!--{slot head}--><!--{end}-->
</head>
<body>
<header class="bar">
<a class="brand" href="/"><img src="/static/favicon.svg" alt="">kali</a>
<span class="example"><!--{slot example}--><!--{end}--></span>
<!--{slot nav}--><!--{end}-->
</header>
<main>
<!--{slot body}--><!--{end}-->
</main>
</body>
</html>
