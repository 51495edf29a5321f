<!--{extends layout}-->
<!--{slot body}-->
<p class="crumbs"><a href="/tasks/">Tasks</a> /</p>
<h1>{title}</h1>
<div class="columns wide-left">
<!-- novalidate: every message comes from the server, all at once, next to its field. -->
<form method="post" novalidate class="card record-form">
<!--{if form_error}-->
  <p class="notice error" role="alert">{form_error}</p>
<!--{end}-->
  <div class="field"><label for="title">Task</label>{.fields.title}</div>
  <div class="triple">
    <div class="field"><label for="due">Due <small>(optional)</small></label>{.fields.due}</div>
    <div class="field"><label for="priority">Priority</label>{.fields.priority}</div>
    <div class="field"><label for="contact_id">About</label>{.fields.contact_id}</div>
  </div>
  <div class="field"><label for="notes">Notes</label>{.fields.notes}</div>
<!--{if task_id}-->
  <div class="field check">{.fields.done} <label for="done">Done</label></div>
<!--{end}-->
  <p class="row"><button type="submit">Save task</button> <a class="button quiet" href="/tasks/">Cancel</a></p>
</form>
<!--{if task_id}-->
<aside>
  <form method="post" action="/tasks/{task_id}/delete"><button class="danger">Delete this task</button></form>
</aside>
<!--{otherwise}-->
<aside class="card hint">
  <h2>Good to know</h2>
  <ul>
    <li>Tasks without a due date come last on the dashboard.</li>
    <li>Overdue tasks are shown in red until they are done.</li>
  </ul>
</aside>
<!--{end}-->
</div>
<!--{end}-->
