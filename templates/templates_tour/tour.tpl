<!--{extends templates_tour/base}-->
<!--{slot title}-->A tour of kali templates<!--{end}-->
<!--{slot body}-->
<h1>A tour of kali templates</h1>
<p class="lead">Each part below shows a template file from <code>templates/templates_tour/</code>
and what it renders. Edit one and reload the page: kali notices the change and reloads the file.</p>

<!--{for section in sections}-->
<ol>
<!--{each}-->
<li><a href="#{section.name}">{section.title}</a></li>
<!--{after}-->
<li><a href="#mistakes">Mistakes</a></li>
</ol>
<!--{end}-->

<!--{for section in sections}-->
<section class="card" id="{section.name}">
<h2>{section.title}</h2>
<p>{section.explanation}</p>
<p class="muted">The template, <code>{section.file}</code>:</p>
<pre><code>{section.source}</code></pre>
<!--{if section.output}-->
<p class="muted">What it renders:</p>
<div class="result">{.section.output}</div>
<!--{end}-->
</section>
<!--{end}-->

<section class="card" id="mistakes">
<h2>Mistakes</h2>
<p>A mistake in a template is reported with the file, line and column, the line itself and a caret
under the spot. Mistakes in the text are found when the file is loaded, before anything is sent:</p>
<p><a class="button" href="/broken">Open a page whose template has a typo</a></p>
<p>Mistakes in the data are found while rendering, and name the parameter:</p>
<p><a class="button quiet" href="/forgot">Open a page whose handler forgot a parameter</a></p>
<p class="muted">Either way, only that page fails: the rest of the app keeps working.</p>
</section>

<p class="muted">Next: <code>./demo.sh guard</code>.</p>
<!--{end}-->
