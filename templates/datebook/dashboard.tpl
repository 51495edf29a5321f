<!--{extends layout}-->
<!--{slot body}-->
<div class="page-head">
  <div>
    <h1>{day:long_day}</h1>
  </div>
  <p class="actions">
    <a class="button" href="/appointments/new">New appointment</a>
    <a class="button quiet" href="/tasks/new">New task</a>
    <a class="button quiet" href="/contacts/new">New contact</a>
  </p>
</div>
<!--{if empty}-->
<div class="notice welcome">
  <p>Your datebook is empty. Start by <a href="/contacts/new">adding a contact</a>, or try it out with some made-up people:</p>
  <form method="post" action="/sample"><button>Fill it with sample data</button></form>
</div>
<!--{end}-->
<!--{for stat in stats}-->
<ul class="stats">
<!--{each}-->
  <li<!--{if stat.alert}--> class="alert"<!--{end}-->><a href="{stat.href}"><strong>{stat.value}</strong> {stat.what} <span>{stat.label}</span></a></li>
<!--{after}-->
</ul>
<!--{end}-->
<div class="columns">
<section class="card" aria-labelledby="today-heading">
  <h2 id="today-heading">Today</h2>
<!--{for a in today_appointments}-->
  <ol class="agenda" id="today">
<!--{each}-->
    <li><time>{a.starts}<!--{if a.ends}-->–{a.ends}<!--{end}--></time>
      <span class="what"><a href="/appointments/{a.id}">{a.title}</a><!--{if a.contact_name}--> <small>with <a href="/contacts/{a.contact_id}">{a.contact_name}</a></small><!--{end}--><!--{if a.place}--> <small class="place">{a.place}</small><!--{end}--></span></li>
<!--{after}-->
  </ol>
<!--{otherwise}-->
  <p class="empty">Nothing planned for today.</p>
<!--{end}-->
  <h2>Coming up</h2>
<!--{for a in coming}-->
  <ol class="agenda" id="coming">
<!--{each}-->
    <li><time><span class="day">{a.day:when}</span> {a.starts}</time>
      <span class="what"><a href="/appointments/{a.id}">{a.title}</a><!--{if a.contact_name}--> <small>with <a href="/contacts/{a.contact_id}">{a.contact_name}</a></small><!--{end}--></span></li>
<!--{after}-->
  </ol>
  <p><a href="/appointments/">The whole agenda →</a></p>
<!--{otherwise}-->
  <p class="empty">Nothing in the next two weeks. <a href="/appointments/new">Plan something?</a></p>
<!--{end}-->
</section>
<section class="card" aria-labelledby="tasks-heading">
  <h2 id="tasks-heading">Open tasks</h2>
<!--{for task in tasks}-->
  <ul class="items tasks" id="open-tasks">
<!--{each}-->
<!--{include task_item}-->
<!--{after}-->
  </ul>
<!--{if more_tasks}-->
  <p><a href="/tasks/">{more_tasks} →</a></p>
<!--{end}-->
<!--{otherwise}-->
  <p class="empty">Nothing to do. <a href="/tasks/new">Add a task?</a></p>
<!--{end}-->
  <h2>Birthdays</h2>
<!--{for b in birthdays}-->
  <ul class="birthdays" id="birthdays">
<!--{each}-->
    <li><a href="/contacts/{b.id}">{b.name}</a> turns {b.age} <span class="due">{b.day:when}</span></li>
<!--{after}-->
  </ul>
<!--{otherwise}-->
  <p class="empty">No birthdays in the next 30 days.</p>
<!--{end}-->
</section>
</div>
<!--{end}-->
