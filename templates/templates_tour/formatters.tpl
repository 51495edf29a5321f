<table>
<tr><th>Population</th><td class="num">{city.population:num}</td></tr>
<tr><th>Yearly budget</th><td class="num">{city.budget:cents}</td></tr>
<tr><th>Founded</th><td class="num">{city.founded:date}</td></tr>
<tr><th>Size of its photo</th><td class="num">{city.photo_bytes:filesize}</td></tr>
</table>
