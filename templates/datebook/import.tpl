<!--{extends layout}-->
<!--{slot body}-->
<p class="crumbs"><a href="/contacts/">Contacts</a> /</p>
<h1>Import contacts</h1>
<div class="columns wide-left">
<form method="post" enctype="multipart/form-data" novalidate class="card record-form">
<!--{if form_error}-->
  <p class="notice error" role="alert">{form_error}</p>
<!--{end}-->
  <div class="field"><label for="file">A CSV file</label>{.fields.file}</div>
  <p class="row"><button type="submit">Preview</button> <a class="button quiet" href="/contacts/">Cancel</a></p>
</form>
<aside class="card">
  <h2>What the file looks like</h2>
  <p>A header line naming the columns — {columns} — then one contact per line, as
  <a href="/contacts/export.csv">Export</a> writes them. Only the name is required. Dates are
  written 1984-07-31. Save spreadsheets as “CSV UTF-8”.</p>
  <p>You will see every line before anything is imported; the file is imported whole or not at all.</p>
</aside>
</div>
<!--{end}-->
