<!--{extends layout}-->
<!--{slot body}-->
<div class="page-head">
  <h1>Tasks</h1>
  <p class="actions"><a class="button" href="/tasks/new">New task</a></p>
</div>
<div class="row toolbar">
  <nav class="tabs" aria-label="Which tasks">
<!--{for f in filters}-->
    <a href="{f.href}"<!--{if f.current}--> aria-current="page"<!--{end}-->>{f.label}</a>
<!--{end}-->
  </nav>
  <nav class="tabs sorts" aria-label="Sort by">
    <span>Sort by</span>
<!--{for s in sorts}-->
    <a href="{s.href}"<!--{if s.current}--> aria-current="true"<!--{end}-->>{s.label}</a>
<!--{end}-->
  </nav>
</div>
<!--{for task in tasks}-->
<ul class="items tasks card" id="task-list">
<!--{each}-->
<!--{include task_item}-->
<!--{after}-->
</ul>
<!--{otherwise}-->
<p class="empty" id="no-tasks">No tasks here. <a href="/tasks/new">Add one</a>.</p>
<!--{end}-->
<!--{end}-->
