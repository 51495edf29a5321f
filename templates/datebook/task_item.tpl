<li class="task<!--{if task.done}--> done<!--{end}--><!--{if task.overdue}--> overdue<!--{end}-->" id="task-{task.id}">
  <form method="post" action="/tasks/{task.id}/done" class="inline">
    <input type="hidden" name="back" value="{here}">
<!--{if task.done}-->
    <input type="hidden" name="done" value="0">
    <button class="tick ticked" title="Mark as not done" aria-label="Mark {task.title} as not done">✓</button>
<!--{otherwise}-->
    <button class="tick" title="Mark as done" aria-label="Mark {task.title} as done"></button>
<!--{end}-->
  </form>
  <span class="grow"><a href="/tasks/{task.id}">{task.title}</a><!--{if task.contact_name}--> <small class="who"><a href="/contacts/{task.contact_id}">{task.contact_name}</a></small><!--{end}--></span>
  <span class="prio prio-{task.priority}">{task.priority:priority}</span>
  <span class="due">{task.due:when}</span>
</li>
