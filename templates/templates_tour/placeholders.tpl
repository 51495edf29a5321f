<p>Hello, {visitor.name}! You have {visitor.unread} unread messages.</p>
<p>Sent by a visitor, escaped: {comment}</p>
<p>Trusted markup, written as is: {.badge}</p>
<p>The first and second parts of a pair: {point.0} and {point.1}</p>
<p>Nothing at all for None: [{nothing}]; and {{name} in double braces is shown as is.</p>
