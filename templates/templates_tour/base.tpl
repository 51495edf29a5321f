<!--{extends common/layout}-->
<!--{slot title}-->Templates - kali<!--{end}-->
<!--{slot example}-->templates_tour<!--{end}-->
<!--{slot nav}--><nav><a href="/">Tour</a><a href="/broken">A mistake</a><a href="/forgot">Another</a></nav><!--{end}-->
