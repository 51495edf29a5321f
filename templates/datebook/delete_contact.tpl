<!--{extends layout}-->
<!--{slot body}-->
<h1>Delete {contact.name}?</h1>
<div class="card">
  <p>This removes {contact.name} from your datebook for good.
<!--{if appointments}-->
  Their {appointments} will stay in the agenda, with nobody named.
<!--{end}-->
<!--{if tasks}-->
  Their {tasks} will stay on the task list.
<!--{end}-->
  </p>
  <form method="post" class="row">
    <button class="danger solid">Delete {contact.name}</button>
    <a class="button quiet" href="/contacts/{contact.id}">Keep</a>
  </form>
</div>
<!--{end}-->
