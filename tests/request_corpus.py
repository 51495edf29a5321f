"""A corpus of HTTP/1.x requests, valid and invalid, shared by the parser's tests.

tests/test_http_parser.py feeds every case split at every byte and through both
parser paths; tests/test_http_differential.py compares kali's verdict with h11's.
Each case is (name, raw bytes); a name says what the case is about.
"""

from __future__ import annotations

HOST = b"Host: 127.0.0.1:8080\r\n"
CHUNKED = b"POST /up HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"


def _request_lines() -> list[tuple[str, bytes]]:
    methods = [b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"M-SEARCH", b"X_Y", b"a",
               b"PROPFIND", b"BASELINE-CONTROL", b"M" * 64, b"M" * 65, b"M" * 200, b"G(T", b"GE\"T", b"get",
               b"G\x80T", b"G\x00T", b"GET\t"]
    cases = [(f"method {m[:20]!r}{len(m)}", m + b" / HTTP/1.1\r\n" + HOST + b"\r\n") for m in methods]
    targets = [b"/", b"/a/b", b"/a?b=c&d=e", b"/%20x", b"/a%2Fb", b"/~user/", b"/a;b=c", b"/a:b@c!$&'()*+,;=",
               b"/?", b"//double", b"/a#frag", b"/a\"b", b"/{x}|^`", b"/\x7f", b"/\x80", b"/\xff", b"/a\tb",
               b"*", b"nopath", b"http://127.0.0.1:8080/x", b"HTTP://127.0.0.1:8080/x", b"hTtPs://h/",
               b"http://127.0.0.1:8080", b"http://h?x=1", b"http://[::1]:8080/", b"http://[::", b"http://",
               b"http:///x", b"http://u@h/", b"http://u:p@h/", b"http://h:port/", b"ftp://h/x", b"http://h#f",
               b"http://h/#f", b"http://h:/x", b"http://[v1.x]/", b"http://[::g]/", b"http://h%41/",
               b"http://h%4/", b"http://a b/", b"http:/h/x", b"http:h", b"example.com:443", b"127.0.0.1:8080",
               b"http://127.0.0.1:8080/p/q?z=1&kali_token=abc", b"http://[fe80::1%25eth0]/", b"http://\x5bx]/",
               b"http://h:99999/", b"http://h.:8080/", b"http://-h-/"]
    cases += [(f"target {t!r}", b"GET " + t + b" HTTP/1.1\r\n" + HOST + b"\r\n") for t in targets]
    cases += [("OPTIONS *", b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n"),
              ("CONNECT authority", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
              ("CONNECT origin form", b"CONNECT / HTTP/1.1\r\n" + HOST + b"\r\n"),
              ("CONNECT bad target", b"CONNECT [:: HTTP/1.1\r\n" + HOST + b"\r\n")]
    versions = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9",
                b"HTTP/1.10", b"http/1.1", b"HTTP/1", b"HTTP/11", b"HTTP /1.1", b"HTTPS/1.1", b"HTTP/1.1 ",
                b"HTTP/1.x", b"HTTP/\xb9.1"]
    cases += [(f"version {v!r}", b"GET / " + v + b"\r\n" + HOST + b"\r\n") for v in versions]
    shapes = [b"GET  / HTTP/1.1", b" GET / HTTP/1.1", b"GET / HTTP/1.1 extra", b"GET\t/\tHTTP/1.1",
              b"GET /", b"GET", b"/ HTTP/1.1", b"GET / HTTP/1.1\rX", b"GET /\r HTTP/1.1", b"GET /a b HTTP/1.1",
              b"GET / HTTP/1.1\x00", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"PRI * HTTP/2.0"]
    cases += [(f"request line {s!r}", s + b"\r\n" + HOST + b"\r\n") for s in shapes]
    cases += [("request line at the limit", b"GET /" + b"a" * 8176 + b" HTTP/1.1\r\n" + HOST + b"\r\n"),
              ("request line one over the limit", b"GET /" + b"a" * 8177 + b" HTTP/1.1\r\n" + HOST + b"\r\n"),
              ("request line far over the limit", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n"),
              ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
              ("binary junk", bytes(range(256)) + b"\r\n\r\n")]
    return cases


def _fields() -> list[tuple[str, bytes]]:
    lines = [b"X: y", b"X:y", b"X:  y  ", b"X:\ty\t", b"X:", b"X: ", b"X: a b", b"X: a\tb", b"X: caf\xe9",
             b"X: \x80\xff", b"X: a\x00b", b"X: a\x01b", b"X: a\x7fb", b"X: a\rb", b"X: a\x0bb", b"X: a\x0cb",
             b"X : y", b"X\t: y", b" X: y", b"X\x01: y", b": y", b"no colon", b"X-Y_Z: ok",
             b"x!#$%&'*+-.^_`|~: ok", b"X(: y", b"X@: y", b"[: y", b"X: y\r\n z", b"X: y\r\n\tz",
             b"X: \xa0y\xa0", b"X: \x85", b"Cookie: a=1\r\nCookie: b=2", b"Accept: */*\r\naccept: text/html",
             b"Long: " + b"v" * 8000, b"X: \"quoted, value\"", b"Sec-Fetch-Site: same-origin",
             b"Origin: http://127.0.0.1:8080\r\nOrigin: http://evil.example"]
    cases = [(f"field {line[:30]!r}", b"GET / HTTP/1.1\r\n" + HOST + line + b"\r\n\r\n") for line in lines]
    many = b"".join(b"X-%d: y\r\n" % i for i in range(99))
    cases += [("99 fields and Host", b"GET / HTTP/1.1\r\n" + HOST + many + b"\r\n"),
              ("100 fields and Host", b"GET / HTTP/1.1\r\n" + HOST + many + b"X-99: y\r\n\r\n"),
              ("fields of 17 kB", b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 850)
                                                                           for i in range(20)) + b"\r\n")]
    hosts = [None, b"", b"127.0.0.1", b"[::1]:8080", b"a b", b"a/b", b"a@b", b"h:", b"h:x", b"[::1",
             b"h\xa0", b"\x85h", b"H.Example.COM", b"h%20x", b"h%2", b"xn--bcher-kva.example",
             b"1.2.3.4:99999", b"[v7.abc]", b"[::g]:80", b"h:80:80", b"h,i", b"\"h\"", b"h;x"]
    for host in hosts:
        field = b"" if host is None else b"Host: " + host + b"\r\n"
        cases.append((f"Host {host!r}", b"GET / HTTP/1.1\r\n" + field + b"\r\n"))
        cases.append((f"HTTP/1.0 Host {host!r}", b"GET / HTTP/1.0\r\n" + field + b"\r\n"))
    cases += [("two Host fields", b"GET / HTTP/1.1\r\n" + HOST + HOST + b"\r\n"),
              ("two Host fields, one empty", b"GET / HTTP/1.1\r\n" + HOST + b"Host:\r\n\r\n"),
              ("absolute form and another Host", b"GET http://127.0.0.1:8080/ HTTP/1.1\r\nHost: evil\r\n\r\n"),
              ("absolute form without Host", b"GET http://127.0.0.1:8080/ HTTP/1.1\r\n\r\n"),
              ("absolute form, HTTP/1.0 without Host", b"GET http://127.0.0.1:8080/ HTTP/1.0\r\n\r\n")]
    return cases


def _framing() -> list[tuple[str, bytes]]:
    post = b"POST /f HTTP/1.1\r\n" + HOST
    lengths = [(b"5", b"hello"), (b"0", b""), (b"00005", b"hello"), (b"5, 5", b"hello"), (b"5,5", b"hello"),
               (b"5, 6", b"hello!"), (b"-1", b""), (b"+5", b"hello"), (b"0x5", b"hello"), (b"5 ", b"hello"),
               (b"5\xa0", b"hello"), (b"\xa05", b"hello"), (b"\x855", b"hello"), (b"5a", b"hello"), (b"", b""),
               (b"1e3", b""), (b"9" * 19, b""), (b"9" * 18, b""), (b"5,", b"hello"), (b",5", b"hello"),
               (b"\xb2", b"")]
    cases = [(f"Content-Length {v!r}", post + b"Content-Length: " + v + b"\r\n\r\n" + body) for v, body in lengths]
    cases += [("two equal Content-Length", post + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
              ("two different Content-Length", post + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
              ("Content-Length body incomplete", post + b"Content-Length: 10\r\n\r\nhello"),
              ("Content-Length and extra bytes", post + b"Content-Length: 2\r\n\r\nhello"),
              ("HTTP/1.0 body", b"POST /f HTTP/1.0\r\nContent-Length: 2\r\n\r\nok")]
    te = [b"chunked", b"Chunked", b"CHUNKED", b" chunked ", b"\x85chunked", b"chunked\xa0", b"gzip",
          b"gzip, chunked", b"chunked, gzip", b"chunked, chunked", b"identity", b"chunked;x=1", b"",
          b",chunked", b"chunked,", b"chunk", b"\"chunked\""]
    body = b"5\r\nhello\r\n0\r\n\r\n"
    cases += [(f"Transfer-Encoding {v!r}", b"POST /f HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: " + v + b"\r\n\r\n"
               + body) for v in te]
    cases += [("two Transfer-Encoding fields", b"POST /f HTTP/1.1\r\n" + HOST
               + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + body),
              ("Transfer-Encoding and Content-Length", post + b"Content-Length: 3\r\nTransfer-Encoding: chunked"
               b"\r\n\r\n" + body),
              ("Transfer-Encoding on HTTP/1.0", b"POST /f HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + body),
              ("Expect 100-continue", post + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok"),
              ("Expect without a body", b"GET / HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\n\r\n"),
              ("Expect other", post + b"Expect: 100-Continue\r\nContent-Length: 2\r\n\r\nok")]
    return cases


def _chunks() -> list[tuple[str, bytes]]:
    bodies = [b"5\r\nhello\r\n0\r\n\r\n", b"5;a=b\r\nhello\r\n0\r\n\r\n", b"5;a=\"q\"\r\nhello\r\n0\r\n\r\n",
              b"5 ; a = b\r\nhello\r\n0\r\n\r\n", b"5;a=\"x\\\"y\"\r\nhello\r\n0\r\n\r\n", b"5;a\r\nhello\r\n0\r\n\r\n",
              b"5;a;b=1;c=\"\"\r\nhello\r\n0;z\r\n\r\n", b"5;\r\nhello\r\n0\r\n\r\n", b"5;=x\r\nhello\r\n0\r\n\r\n",
              b"5;a=\"open\r\nhello\r\n0\r\n\r\n", b"5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n",
              b"5;a=\"x\r\ny\"\r\nhello\r\n0\r\n\r\n",
              b"5;a=x y\r\nhello\r\n0\r\n\r\n", b"5;a=\xe9\r\nhello\r\n0\r\n\r\n",
              b"5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n", b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", b" 5\r\nhello\r\n0\r\n\r\n",
              b"5 \r\nhello\r\n0\r\n\r\n", b"\t5\r\nhello\r\n0\r\n\r\n", b"0x5\r\nhello\r\n0\r\n\r\n",
              b"-5\r\nhello\r\n0\r\n\r\n", b"+5\r\nhello\r\n0\r\n\r\n", b"g\r\nhello\r\n0\r\n\r\n",
              b"\r\nhello\r\n0\r\n\r\n",
              b"12345678901234567\r\nx\r\n", b"A\r\n0123456789\r\n0\r\n\r\n", b"a\r\n0123456789\r\n0\r\n\r\n",
              b"0005\r\nhello\r\n0\r\n\r\n", b"5\nhello\r\n0\r\n\r\n", b"5\r\nhello\n0\r\n\r\n",
              b"5\r\nhello\r\n0\n\r\n", b"5\r\nhello\r\n0\r\n\n", b"5\r\nhello\r\n0\r\nX: y\r\n\r\n",
              b"5\r\nhello\r\n0\r\nX: y\n\r\n", b"5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n",
              b"5\r\nhello\r\n0\r\nno colon\r\n\r\n",
              b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", b"5\r\nhello\r\n0\r\nX: a\x01b\r\n\r\n",
              b"5\r\nhello!\r\n0\r\n\r\n", b"5\r\nhelloXY0\r\n\r\n", b"5\r\nhello\r\n0\r\n", b"5\r\nhello\r\n",
              b"5;a=b\rc\r\nhello\r\n0\r\n\r\n", b"5\r\r\nhello\r\n0\r\n\r\n", b"5\r\nhello\r\r\n0\r\n\r\n",
              b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"1\r\n\n\r\n0\r\n\r\n", b"1\r\n\r\r\n0\r\n\r\n",
              b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", b"0;ext=\"1\"\r\n\r\n", b"00\r\n\r\n"]
    return [(f"chunked {b!r}", CHUNKED + b) for b in bodies]


def _line_ends() -> list[tuple[str, bytes]]:
    return [("bare LF head", b"GET / HTTP/1.1\nHost: h\nX: y\n\n"),
            ("mixed line ends", b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\n"),
            ("bare CR line ends", b"GET / HTTP/1.1\rHost: h\r\r"),
            ("leading CRLF", b"\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
            ("leading CRLFs and LF", b"\r\n\n\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
            ("leading CR CR LF", b"\r\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
            ("leading space", b" \r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n"),
            ("head ends LF CRLF", b"GET / HTTP/1.1\r\n" + HOST[:-2] + b"\n\r\n"),
            ("head ends CRLF LF", b"GET / HTTP/1.1\r\n" + HOST + b"\n"),
            ("bare LF body", b"POST / HTTP/1.0\nContent-Length: 2\n\nok"),
            ("only a request line", b"GET / HTTP/1.0\r\n\r\n"),
            # Deleting every allowed byte leaves CR LF: a check that looks only at what is left
            # would take these bare CRs and LFs for line ends.
            ("bare CR, a byte, bare LF in a value", b"GET / HTTP/1.1\r\n" + HOST + b"Accept: */*\rT\n\r\n"),
            ("bare CR, a byte, bare LF before a field", b"GET / HTTP/1.0\r\nX: a\rT\nTransfer-Encoding: chunked\r\n\r\n"),
            ("incomplete head", b"GET / HTTP/1.1\r\n" + HOST),
            ("incomplete request line", b"GET /inde")]


def corpus() -> list[tuple[str, bytes]]:
    """Every case, names unique."""
    cases = _request_lines() + _fields() + _framing() + _chunks() + _line_ends()
    names = [name for name, _ in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"duplicate corpus names: {sorted(duplicates)}")
    return cases
