<!--{extends common/layout}-->
<!--{slot title}-->Uploads - kali<!--{end}-->
<!--{slot example}-->uploads<!--{end}-->
<!--{slot body}-->
<h1>Uploads</h1>
<p class="lead">Choose one file or several (hold Ctrl or Shift), any size. Files larger than
1 MiB never sit in memory: the server spools them to disk as they arrive.</p>

<!-- enctype="multipart/form-data" is what makes a form send files; without it only names are sent. -->
<form class="card" method="post" action="/upload" enctype="multipart/form-data">
<label for="files">Files</label>
<div class="row">
<input type="file" id="files" name="files" multiple required>
<button>Upload</button>
</div>
</form>

<!--{for file in files}-->
<div class="table-wrap">
<table id="listing">
<tr><th>Name</th><th class="num">Size</th><th>Uploaded</th><th></th></tr>
<!--{each}-->
<tr>
<td><a href="/files/{file.url_name}" download>{file.name}</a></td>
<td class="num">{file.size:filesize}</td>
<td>{file.modified}</td>
<td><form class="inline" method="post" action="/files/{file.url_name}/delete">
<button class="danger">Delete</button></form></td>
</tr>
<!--{after}-->
</table>
</div>
<p class="muted">{count} file(s), {total:filesize}, kept in <code>{folder}</code>.</p>
<!--{otherwise}-->
<p class="muted" id="listing">No files yet. They will be kept in <code>{folder}</code>.</p>
<!--{end}-->

<p class="muted">Next: <code>./demo.sh live_progress</code>.</p>
<!--{end}-->
