<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Datebook</title>
<!-- kali's own stylesheet and icon ship with kali ({kali.css} and {kali.icon} are their /_kali/
     addresses); the datebook's own stylesheet comes from its StaticFolder. No CDN. -->
<link rel="icon" href="{kali.icon}" type="image/svg+xml">
<link rel="stylesheet" href="{kali.css}">
<link rel="stylesheet" href="/static/datebook.css">
</head>
<body class="datebook">
<header class="bar">
  <a class="brand" href="/"><img src="{kali.icon}" alt="" width="22" height="22">kali</a>
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
<!--{for message in flashes}-->
<div class="flashes" role="status">
<!--{each}-->
<p class="flash {message.kind}">{message.message}</p>
<!--{after}-->
</div>
<!--{end}-->
<!--{slot body}-->
<!--{end}-->
</main>
</body>
</html>
