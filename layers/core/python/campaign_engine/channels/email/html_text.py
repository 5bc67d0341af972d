"""The text/plain part of an HTML email when its template gives none: the rendered html read
as a person would, without markup."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import ClassVar

__all__ = ["html_to_text"]

_SKIPPED = frozenset({"head", "style", "script", "noscript", "template", "title"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr", "dl"})
_LINES = frozenset(
    {
        "div", "tr", "li", "section", "article", "header", "footer", "main", "nav", "aside",
        "address", "center", "dt", "dd", "figure", "figcaption", "form", "fieldset",
    }
)  # fmt: skip
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad")
_HARD_SPACE = "\ue000"  # indentation that line-stripping must keep; becomes a space at the end
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Collects the text of an html document, with the line breaks and markers its elements imply."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._pending = 0  # line breaks owed before the next text
        self._skip: tuple[str, int] | None = None  # (tag, nesting) of an element being dropped
        self._pre = 0
        self._lists: list[list[int]] = []  # per open list: next number of an <ol>, -1 for bullets
        self._links: list[tuple[str, int]] = []

    def _break(self, count: int) -> None:
        self._pending = max(self._pending, count)

    def _write(self, text: str) -> None:
        if self._pending:
            if self.out:
                self.out.append("\n" * self._pending)
            self._pending = 0
        self.out.append(text)

    def _at_line_start_or_space(self) -> bool:
        return bool(self._pending) or not self.out or self.out[-1][-1:] in (" ", "\n", _HARD_SPACE)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        attributes = dict(attrs)
        if tag in _SKIPPED or (tag not in _VOID and _HIDDEN_STYLE.search(attributes.get("style") or "")):
            self._skip = (tag, 1)
            return
        self._lay_out_start(tag)
        if (opener := self._OPENERS.get(tag)) is not None:
            opener(self, tag, attributes)

    def _lay_out_start(self, tag: str) -> None:
        """The line breaks (or the rule) an element starts with."""
        if tag == "br":
            self._write("\n")
        elif tag == "hr":
            self._break(2)
            self._write("---")
            self._break(2)
        elif tag in _PARAGRAPHS:
            self._break(self._paragraph_gap(tag))
        elif tag in _LINES:
            self._break(1)

    def _paragraph_gap(self, tag: str) -> int:
        """A list inside a list item goes on the next line; other blocks get a blank line around them."""
        return 1 if tag in ("ul", "ol") and self._lists else 2

    def _open_pre(self, tag: str, attributes: dict[str, str | None]) -> None:
        self._pre += 1

    def _open_list(self, tag: str, attributes: dict[str, str | None]) -> None:
        self._lists.append([1 if tag == "ol" else -1])

    def _open_item(self, tag: str, attributes: dict[str, str | None]) -> None:
        counter = self._lists[-1] if self._lists else [-1]
        marker = f"{counter[0]}. " if counter[0] > 0 else "- "
        if counter[0] > 0:
            counter[0] += 1
        self._write(_HARD_SPACE * 2 * max(len(self._lists) - 1, 0) + marker)

    def _open_cell(self, tag: str, attributes: dict[str, str | None]) -> None:
        if not self._at_line_start_or_space():
            self._write(" ")

    def _open_link(self, tag: str, attributes: dict[str, str | None]) -> None:
        self._links.append(((attributes.get("href") or "").strip(), len(self.out)))

    def _open_image(self, tag: str, attributes: dict[str, str | None]) -> None:
        self._data(attributes.get("alt") or "")

    # What an element adds to the text where it opens, besides its line breaks.
    _OPENERS: ClassVar[dict[str, Callable[[_TextExtractor, str, dict[str, str | None]], None]]] = {
        "pre": _open_pre,
        "ul": _open_list,
        "ol": _open_list,
        "li": _open_item,
        "td": _open_cell,
        "th": _open_cell,
        "a": _open_link,
        "img": _open_image,
    }

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                depth = self._skip[1] - 1
                self._skip = (tag, depth) if depth else None
            return
        if tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        if tag in _PARAGRAPHS:
            self._break(self._paragraph_gap(tag))
        elif tag in _LINES:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self._skip is None:
            self._data(data)

    def _data(self, data: str) -> None:
        data = data.translate(_INVISIBLE).replace(_HARD_SPACE, " ")
        if self._pre:
            # Keep preformatted spacing through the line stripping done at the end.
            if data:
                self._write(data.replace(" ", _HARD_SPACE).replace("\t", _HARD_SPACE * 4))
            return
        collapsed = re.sub(r"\s+", " ", data)
        if collapsed.startswith(" ") and self._at_line_start_or_space():
            collapsed = collapsed[1:]
        if collapsed:
            self._write(collapsed)

    def _close_link(self, url: str, start: int) -> None:
        label = " ".join("".join(self.out[start:]).split())
        if not url or url.startswith(("#", "javascript:")):
            return
        shown = url.removeprefix("mailto:") if url.startswith("mailto:") else url
        if label.rstrip("/") in (url.rstrip("/"), shown, url.removeprefix("tel:")):
            return
        self._write(f" ({shown})" if label else shown)


def html_to_text(html: str) -> str:
    """A readable text/plain alternative of an HTML email: no head, styles, scripts or hidden
    elements; blocks on their own lines; list items as "- " (numbered in <ol>); links as
    "text (url)"; entities decoded; at most one blank line in a row."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out).replace("\xa0", " ")
    lines = (re.sub(r"[ \t]{2,}", " ", line).strip(" \t") for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text.replace(_HARD_SPACE, " ")
