"""The links a campaign's content holds, and an email's html rewritten to track them.

A link is tracked when the template writes its `href` literally: an `http(s)://` URL in an `<a>`
tag's quoted `href`, with no template syntax in it. Those URLs, distinct and in order, are the
link table of a campaign version and locale; a tracked link's token carries its index, and the
tracking function redirects to the URL found at that index in the stored content, never to a
URL a request brings. A link whose URL is rendered from data (`href="{{ context.url }}"`) is left
as it is, untracked: there is nothing stored to check its destination against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from html import escape, unescape

# An <a> tag's quoted href: group 1 what precedes the value, 2 the quote, 3 the value.
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEMPLATE_SYNTAX = ("{{", "{%", "{#")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
MAX_LINKS = 500


def _trackable(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(("http://", "https://")) and not any(mark in url for mark in _TEMPLATE_SYNTAX)


@lru_cache(maxsize=256)
def link_table(template_html: str) -> tuple[str, ...]:
    """The literal http(s) links of a template's html, distinct, in order of first appearance."""
    found: dict[str, None] = {}
    for match in _HREF.finditer(template_html):
        url = unescape(match.group(3)).strip()
        if _trackable(url):
            found.setdefault(url, None)
            if len(found) >= MAX_LINKS:
                break
    return tuple(found)


def rewrite_links(html: str, table: tuple[str, ...], tracked_url: Callable[[int], str]) -> str:
    """The rendered html with each link of `table` pointing at `tracked_url(index)` instead."""
    if not table:
        return html
    index = {url: i for i, url in enumerate(table)}

    def replace(match: re.Match[str]) -> str:
        position = index.get(unescape(match.group(3)).strip())
        if position is None:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{escape(tracked_url(position))}{quote}"

    return _HREF.sub(replace, html)


def add_pixel(html: str, url: str) -> str:
    """The html with a 1x1 image from `url` at the end of its body."""
    pixel = (
        f'<img src="{escape(url)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden" />'
    )
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]
