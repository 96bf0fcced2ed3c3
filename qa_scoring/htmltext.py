"""HTML bodies and answers (mail clients send HTML) as the plain text a reader sees.

Rules, the classifier and the report all read the plain text, so evidence offsets are offsets into
exactly the text shown; the store keeps the raw HTML beside it (`body_html`, `answer_html`).
Only texts that contain a common HTML tag or a character reference are converted, with the standard
library's tolerant `html.parser` (no regexes over markup): a chat line such as "a < b" or a bare
`<script>` typed by a customer is not HTML and stays as it is.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.compute as pc

HTML_COLUMNS = ("body", "answer")  # the free-text fields that arrive as HTML from mail clients

_TAGS = ("div|p|br|span|html|body|head|table|tbody|thead|tr|td|th|ul|ol|li|a|b|i|u|s|strong|em|font|img|"
         "h[1-6]|blockquote|hr|center|pre|section|article|header|footer|small|sup|sub|meta|style|o:p")
# A common tag (opening, closing or self-closing) or a character reference: valid in RE2 and Python re.
LOOKS_HTML = (rf"(?i)<(?:{_TAGS})(?:\s[^<>]*)?/?>|</(?:{_TAGS})\s*>"
              r"|&(?:[a-z][a-z0-9]{1,31}|#[0-9]{1,7}|#x[0-9a-f]{1,6});")
_LOOKS_HTML = re.compile(LOOKS_HTML)

_SKIP = frozenset({"script", "style", "template", "title", "head", "noscript"})  # content never shown
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre", "hr"})
_BLOCK = _PARAGRAPH | frozenset({"div", "li", "tr", "section", "article", "header", "footer", "center",
                                 "tbody", "thead", "address", "dl", "dt", "dd", "form", "fieldset"})
_CELL = frozenset({"td", "th"})
_SPACE = re.compile(r"[ \t\n\r\f\v\xa0\u200b]+")


class _Text(HTMLParser):
    """Rendered text as a browser lays it out: blocks on their own lines, <br> a line break,
    paragraphs apart by a blank line, runs of white space one space."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0  # inside script/style/...: depth
        self.pre = 0
        self.newlines = 0  # trailing newlines of the output so far
        self.space = False  # a collapsed space is pending before the next word

    def _break(self, count: int) -> None:
        self.space = False
        if not self.out:
            return
        while self.newlines < count:
            self.out.append("\n")
            self.newlines += 1

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            if self.out:
                self.out.append("\n")
                self.newlines += 1
            self.space = False
        elif tag in _CELL:
            self.space = bool(self.out) and not self.newlines
        elif tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
            self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip or not data:
            return
        if self.pre:
            self.out.append(data)
            self.newlines = len(data) - len(data.rstrip("\n")) if data.strip("\n") else self.newlines + len(data)
            self.space = False
            return
        words = _SPACE.split(data)
        lead, trail = words[0] == "", words[-1] == ""
        words = [w for w in words if w]
        if not words:
            self.space = self.space or bool(self.out and not self.newlines)
            return
        if (self.space or lead) and self.out and not self.newlines:
            self.out.append(" ")
        self.out.append(" ".join(words))
        self.newlines = 0
        self.space = trail


def html_to_text(html: str) -> str:
    """The plain text of an HTML fragment or document (entities decoded, markup and scripts gone)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.out).strip()


def looks_like_html(text: str | None) -> bool:
    return bool(text) and _LOOKS_HTML.search(text) is not None


def plain_text_columns(table: pa.Table) -> pa.Table:
    """`table` with `<field>_text` beside each HTML field: its plain text where it is HTML, else NULL.

    Only the rows that look like HTML are parsed (an Arrow RE2 filter picks them; parsing is per
    text because an HTML parser is).
    """
    for name in HTML_COLUMNS:
        column = table.column(name)
        flags = pc.fill_null(pc.match_substring_regex(column, LOOKS_HTML), False)
        texts = [None] * table.num_rows
        if pc.any(flags).as_py():
            rows = pc.indices_nonzero(flags).to_pylist()
            for i, html in zip(rows, pc.filter(column, flags).to_pylist()):
                texts[i] = html_to_text(html)
        table = table.append_column(f"{name}_text", pa.array(texts, pa.string()))
    return table
