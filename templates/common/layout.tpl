<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><!--{slot title}-->kali<!--{end}--></title>
<!-- kali's stylesheet and icon ship with kali: {kali.css} and {kali.icon} are their /_kali/ URLs. -->
<link rel="icon" href="{kali.icon}" type="image/svg+xml">
<link rel="stylesheet" href="{kali.css}">
<!--{slot head}--><!--{end}-->
</head>
<body>
<header class="bar">
<a class="brand" href="/"><img src="{kali.icon}" alt="" width="22" height="22">kali</a>
<span class="example"><!--{slot example}--><!--{end}--></span>
<!--{slot nav}--><!--{end}-->
</header>
<main>
<!--{for message in flashes}-->
<div class="flashes" role="status">
<!--{each}-->
<p class="flash {message.kind}">{message.message}</p>
<!--{after}-->
</div>
<!--{end}-->
<!--{slot body}--><!--{end}-->
</main>
</body>
</html>
