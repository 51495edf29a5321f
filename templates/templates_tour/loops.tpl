<!--{for book in books}-->
<table id="books">
<tr><th>Title</th><th>Author</th><th class="num">Price</th></tr>
<!--{each}-->
<tr><td>{book.title}</td><td>{book.author}</td><td class="num">{book.price:cents}</td></tr>
<!--{after}-->
</table>
<!--{otherwise}-->
<p>No books.</p>
<!--{end}-->

<!--{for book in wishlist}-->
<ul>
<!--{each}-->
<li>{book.title}</li>
<!--{after}-->
</ul>
<!--{otherwise}-->
<p class="notice" id="empty-wishlist">The wish list is empty: this is the loop's <em>otherwise</em> part.</p>
<!--{end}-->
