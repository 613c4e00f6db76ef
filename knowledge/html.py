"""HTML to Markdown-ish text, safely: nothing is fetched, executed or kept as markup.

Built on the standard library's tokenizer (no dependency): script, style and embedded
content are dropped with everything inside them, links keep only their text, images vanish,
and headings become ``#`` lines so the Markdown splitter sees the same structure.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "canvas",
        "head",
        "form",
        "select",
        "button",
    }
)
"""Elements whose whole content is dropped (``head`` except its ``title``)."""
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "nav",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "address",
        "hr",
        "br",
    }
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._drop_depth = 0
        self._in_title = False
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag in _DROP:
            if tag not in _VOID:
                self._drop_depth += 1
            return
        if self._drop_depth:
            return
        if tag in _HEADINGS:
            self.parts.append("\n\n" + "#" * _HEADINGS[tag] + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" | " if self._in_cell else "| ")
            self._in_cell = True
        elif tag == "tr":
            self._in_cell = False
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _DROP and tag not in _VOID:
            self._drop_depth = max(0, self._drop_depth - 1)
        elif not self._drop_depth and tag == "tr":
            self.parts.append(" |\n" if self._in_cell else "\n")
            self._in_cell = False
        elif not self._drop_depth and (tag in _HEADINGS or tag in _BLOCK):
            self.parts.append("\n\n")
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._drop_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_markdown(html: str) -> str:
    """The readable text of ``html`` with headings as Markdown; the ``<title>`` becomes an
    ``#`` heading when the page has no ``<h1>``."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [line.strip() for line in text.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join("".join(parser.title).split())
    if title and not re.search(r"^# ", body, re.MULTILINE):
        body = f"# {title}\n\n{body}"
    return body
