<!--{extends layout}-->
<!--{slot body}-->
<p class="crumbs"><a href="/contacts/">Contacts</a> /</p>
<h1>{title}</h1>
<div class="columns wide-left">
<!-- novalidate: the server checks every field and shows all the messages at once, next to
     their fields; the browser's own bubbles would show one at a time, each browser its own way. -->
<form method="post" novalidate class="card record-form">
<!--{if form_error}-->
  <p class="notice error" role="alert">{form_error}</p>
<!--{end}-->
  <div class="field"><label for="name">Name</label>{.fields.name}</div>
  <div class="pair">
    <div class="field"><label for="email">E-mail</label>{.fields.email}</div>
    <div class="field"><label for="phone">Phone</label>{.fields.phone}</div>
  </div>
  <div class="field narrow"><label for="birthday">Birthday</label>{.fields.birthday}</div>
  <div class="field"><label for="notes">Notes</label>{.fields.notes}</div>
  <p class="row"><button type="submit">Save contact</button> <a class="button quiet" href="/contacts/">Cancel</a></p>
</form>
<!--{if contact}-->
<aside>
  <section class="card">
    <h2>Appointments</h2>
<!--{for a in appointments}-->
    <ol class="agenda">
<!--{each}-->
      <li><time><span class="day">{a.day:when}</span> {a.starts}</time> <span class="what"><a href="/appointments/{a.id}">{a.title}</a></span></li>
<!--{after}-->
    </ol>
<!--{otherwise}-->
    <p class="empty">None yet.</p>
<!--{end}-->
    <p><a class="button quiet" href="/appointments/new?contact={contact.id}">New appointment with {contact.name}</a></p>
  </section>
  <section class="card">
    <h2>Tasks</h2>
<!--{for task in tasks}-->
    <ul class="items tasks">
<!--{each}-->
<!--{include task_item}-->
<!--{after}-->
    </ul>
<!--{otherwise}-->
    <p class="empty">None yet.</p>
<!--{end}-->
    <p><a class="button quiet" href="/tasks/new?contact={contact.id}">New task about {contact.name}</a></p>
  </section>
  <p><a class="button danger" href="/contacts/{contact.id}/delete">Delete {contact.name}…</a></p>
</aside>
<!--{end}-->
</div>
<!--{end}-->
