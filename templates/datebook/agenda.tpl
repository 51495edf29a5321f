<!--{extends layout}-->
<!--{slot body}-->
<div class="page-head">
  <h1>Appointments</h1>
  <p class="actions"><a class="button" href="/appointments/new">New appointment</a></p>
</div>
<nav class="tabs" aria-label="Which appointments">
<!--{for f in filters}-->
  <a href="{f.href}"<!--{if f.current}--> aria-current="page"<!--{end}-->>{f.label}</a>
<!--{end}-->
</nav>
<!--{for d in days}-->
<section class="card day<!--{if d.is_today}--> is-today<!--{end}-->">
  <h2>{d.day:long_day} <small>{d.day:when}</small></h2>
  <ol class="agenda">
<!--{for a in d.appointments}-->
    <li><time>{a.starts}<!--{if a.ends}-->–{a.ends}<!--{end}--></time>
      <span class="what"><a href="/appointments/{a.id}">{a.title}</a><!--{if a.contact_name}--> <small>with <a href="/contacts/{a.contact_id}">{a.contact_name}</a></small><!--{end}--><!--{if a.place}--> <small class="place">{a.place}</small><!--{end}--></span></li>
<!--{end}-->
  </ol>
</section>
<!--{otherwise}-->
<p class="empty" id="no-appointments">No appointments here. <a href="/appointments/new">Add one</a>.</p>
<!--{end}-->
<!--{end}-->
