<p class="notice" id="signature">Included from <code>signature.tpl</code>; it sees the same parameters, so it knows you are {visitor.name}.</p>
