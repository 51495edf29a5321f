<!--{extends layout}-->
<!--{slot body}-->
<p class="crumbs"><a href="/appointments/">Appointments</a> /</p>
<h1>{title}</h1>
<div class="columns wide-left">
<!-- novalidate: every message comes from the server, all at once, next to its field. -->
<form method="post" novalidate class="card record-form">
<!--{if form_error}-->
  <p class="notice error" role="alert">{form_error}</p>
<!--{end}-->
  <div class="field"><label for="title">What</label>{.fields.title}</div>
  <div class="field"><label for="contact_id">With</label>{.fields.contact_id}</div>
  <div class="triple">
    <div class="field"><label for="day">Date</label>{.fields.day}</div>
    <div class="field"><label for="starts">From</label>{.fields.starts}</div>
    <div class="field"><label for="ends">To <small>(optional)</small></label>{.fields.ends}</div>
  </div>
  <div class="field"><label for="place">Where</label>{.fields.place}</div>
  <div class="field"><label for="notes">Notes</label>{.fields.notes}</div>
  <p class="row"><button type="submit">Save appointment</button> <a class="button quiet" href="/appointments/">Cancel</a></p>
</form>
<!--{if appointment_id}-->
<aside>
  <form method="post" action="/appointments/{appointment_id}/delete"><button class="danger">Delete this appointment</button></form>
</aside>
<!--{otherwise}-->
<aside class="card hint">
  <h2>Good to know</h2>
  <ul>
    <li>Leave <em>To</em> empty for something that takes a moment.</li>
    <li>Two appointments on one day may not overlap.</li>
    <li>Pick someone under <em>With</em> and it shows on their page.</li>
  </ul>
</aside>
<!--{end}-->
</div>
<!--{end}-->
