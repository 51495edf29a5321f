<!--{extends layout}-->
<!--{slot body}-->
<div class="page-head">
  <h1>Contacts <small class="count">{count}</small></h1>
  <p class="actions"><a class="button" href="/contacts/new">New contact</a>
    <a class="button quiet" href="/contacts/import">Import</a>
    <a class="button quiet" href="/contacts/export.csv" download>Export CSV</a></p>
</div>
<form method="get" action="/contacts/" class="row filter" role="search">
  <input type="search" name="q" value="{q}" placeholder="Name, e-mail, phone or notes" aria-label="Search for">
  <input type="hidden" name="sort" value="{sort}">
  <button>Search</button>
<!--{if q}-->
  <a class="button quiet" href="/contacts/">Show all</a>
<!--{end}-->
</form>
<!--{for c in contacts}-->
<div class="table-wrap">
<table class="records" id="contacts">
  <thead><tr>
<!--{for col in columns}-->
    <th aria-sort="{col.sort}"><a href="{col.href}">{col.heading}</a> <span class="arrow" aria-hidden="true">{col.arrow}</span></th>
<!--{end}-->
    <th>Next</th>
  </tr></thead>
  <tbody>
<!--{each}-->
  <tr>
    <td><a href="/contacts/{c.id}"><strong>{c.name}</strong></a><!--{if c.open_tasks}--> <span class="pill">{c.open_tasks} open</span><!--{end}--></td>
    <td><!--{if c.email}--><a href="mailto:{c.email}">{c.email}</a><!--{end}--></td>
    <td><!--{if c.phone}--><a href="tel:{c.phone}">{c.phone}</a><!--{end}--></td>
    <td>{c.birthday:short_day}</td>
    <td>{c.added:short_day}</td>
    <td>{c.next_day:when}</td>
  </tr>
<!--{after}-->
  </tbody>
</table>
</div>
<!--{otherwise}-->
<!--{if q}-->
<p class="empty" id="no-contacts">No contact matches “{q}”. <a href="/contacts/">Show all contacts</a> or <a href="/contacts/new">add one</a>.</p>
<!--{otherwise}-->
<p class="empty" id="no-contacts">No contacts yet. <a href="/contacts/new">Add the first one</a>.</p>
<!--{end}-->
<!--{end}-->
<!--{end}-->
