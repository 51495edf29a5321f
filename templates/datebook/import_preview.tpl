<!--{extends layout}-->
<!--{slot body}-->
<p class="crumbs"><a href="/contacts/">Contacts</a> / <a href="/contacts/import">Import</a> /</p>
<h1>Import {count} <small class="count">from {filename}</small></h1>
<!--{if problem}-->
<p class="notice error" role="alert" id="import-problem">{problem}</p>
<!--{end}-->
<!--{for e in errors}-->
<div class="notice error" role="alert" id="import-errors">
  <p>Nothing was imported: the file has these problems. Fix them in the file and <a href="/contacts/import">upload it again</a>.</p>
  <ul>
<!--{each}-->
    <li>Line {e.line}<!--{if e.column}-->, {e.column}<!--{end}-->: {e.message}</li>
<!--{after}-->
  </ul>
</div>
<!--{otherwise}-->
<!--{if ok}-->
<form method="post" action="/contacts/import/confirm" class="notice row" id="confirm-import">
  <input type="hidden" name="data" value="{data}">
  <input type="hidden" name="filename" value="{filename}">
  <span>Every line is fine. Nothing is saved until you press the button.</span>
  <button class="solid">Import {count}</button>
  <a class="button quiet" href="/contacts/">Cancel</a>
</form>
<!--{end}-->
<!--{end}-->
<!--{for row in rows}-->
<div class="table-wrap">
<table class="records import-preview" id="preview">
  <thead><tr>
    <th>Line</th>
<!--{for h in headings}-->
    <th>{h}</th>
<!--{end}-->
  </tr></thead>
  <tbody>
<!--{each}-->
  <tr<!--{if row.bad}--> class="has-error"<!--{end}--> data-line="{row.line}">
    <td class="line">{row.line}<!--{if row.line_error}--> <span class="field-error">{row.line_error}</span><!--{end}--></td>
<!--{for cell in row.cells}-->
    <td<!--{if cell.error}--> class="bad" aria-invalid="true"<!--{end}-->>{cell.text}<!--{if cell.error}--><span class="field-error">{cell.error}</span><!--{end}--></td>
<!--{end}-->
  </tr>
<!--{after}-->
  </tbody>
</table>
</div>
<!--{otherwise}-->
<p class="empty">The file has no contacts to import.</p>
<!--{end}-->
<!--{end}-->
