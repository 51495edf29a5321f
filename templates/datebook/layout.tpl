<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Datebook</title>
<link rel="icon" href="/static/favicon.svg">
<!-- The stylesheet every kali example shares, then the datebook's own: both served by StaticFolder, no CDN. -->
<link rel="stylesheet" href="/static/kali.css">
<link rel="stylesheet" href="/static/datebook.css">
</head>
<body class="datebook">
<header class="bar">
  <a class="brand" href="/"><img src="/static/favicon.svg" alt="">kali</a>
  <span class="example">datebook</span>
  <nav aria-label="Sections">
<!--{for item in nav}-->
    <a href="{item.href}"<!--{if item.current}--> aria-current="page"<!--{end}-->>{item.label}</a>
<!--{end}-->
  </nav>
  <form class="search" method="get" action="/contacts/" role="search">
    <input type="search" name="q" value="{search}" placeholder="Search contacts…" aria-label="Search contacts">
  </form>
</header>
<main>
<!--{slot body}-->
<!--{end}-->
</main>
</body>
</html>
