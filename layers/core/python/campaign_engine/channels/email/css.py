"""CSS inlining for HTML email: the `<style>` rules of a rendered html moved into `style`
attributes, since many mail clients ignore or strip `<style>` blocks.

css-inline does the inlining, imported only when the html has a `<style>`. @-rules such as
media queries, and rules for states that cannot be inlined (`:hover`), stay in a `<style>`
block; so do sheets for other media and styles inside comments (Outlook's `<!--[if mso]>`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape as html_escape
from html import unescape as html_unescape
from typing import Any

__all__ = ["inline_css"]

_STYLE_TAG = re.compile(r"<style(?=[\s>/])", re.IGNORECASE)
# An unclosed comment or <style> runs to the end, as in a browser (and keeps the scan linear).
_STYLE_OR_COMMENT = re.compile(
    r"<!--.*?(?:-->|\Z)|<style(?=[\s>/])([^>]*)>(.*?)(?:</style\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_MEDIA_ATTRIBUTE = re.compile(r"""\bmedia\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*(<!doctype[^>]*>)", re.IGNORECASE)
# States and parts no style attribute can express: these rules stay in the <style> block.
_NOT_INLINABLE = re.compile(
    r"::|:(?:hover|active|focus|focus-within|focus-visible|visited|target|checked|before|after"
    r"|first-line|first-letter|placeholder|selection)\b",
    re.IGNORECASE,
)


def _css_rule_end(css: str, start: int) -> int:
    """Where the rule (or @-rule) that starts at `start` ends: after its block's closing brace,
    or after the `;` of a statement such as `@import`. Strings and comments are skipped."""
    depth, i, n = 0, start, len(css)
    while i < n:
        char = css[i]
        if char in "\"'":
            i += 1
            while i < n and css[i] != char:
                i += 2 if css[i] == "\\" else 1
        elif css.startswith("/*", i):
            close = css.find("*/", i + 2)
            i = n if close < 0 else close + 1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth <= 0:
                return i + 1
        elif char == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def _css_single_quotes(css: str) -> str:
    """`url("a.png")` -> `url('a.png')`: every CSS string in single quotes, and no `"` left in
    one (`\\22 ` instead). css-inline 0.11 writes some declarations into the `style="..."`
    attribute as they are, and a double quote there would end the attribute early."""
    if '"' not in css:
        return css
    out: list[str] = []
    i, n = 0, len(css)
    while i < n:
        char = css[i]
        if char == "/" and css.startswith("/*", i):
            close = css.find("*/", i + 2)
            end = n if close < 0 else close + 2
            out.append(css[i:end].replace('"', "'"))
            i = end
            continue
        if char not in "\"'":
            out.append(char)
            i += 1
            continue
        out.append("'")
        i += 1
        while i < n and css[i] != char:
            if css[i] == "\\" and i + 1 < n:
                escaped = css[i + 1]
                out.append("\\22 " if escaped == '"' else css[i : i + 2])
                i += 2
                continue
            out.append({'"': "\\22 ", "'": "\\'"}.get(css[i], css[i]))
            i += 1
        out.append("'")
        i += 1
    return "".join(out)


_QUOTED_STYLE_ATTRIBUTE = re.compile(r"""\bstyle\s*=\s*(?:"[^"]*&(?:quot|#0*34|#x0*22);|'[^']*")""", re.IGNORECASE)
_START_TAG = re.compile(r"""<[A-Za-z][^\s/>]*(?:"[^"]*"|'[^']*'|[^'">])*>""")
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""")


def _single_quote_style_attributes(html: str) -> str:
    """`style="font-family: &quot;Open Sans&quot;"` (as rich-text editors write it) ->
    `style="font-family: 'Open Sans'"`, for the same reason as `_css_single_quotes`."""
    if not _QUOTED_STYLE_ATTRIBUTE.search(html):
        return html

    def attribute(match: re.Match[str]) -> str:
        name, equals, raw = match.groups()
        value = html_unescape(raw[1:-1] if raw[:1] in "\"'" else raw)
        if name.lower() != "style" or '"' not in value:
            return match.group(0)
        return f'{name}{equals}"{html_escape(_css_single_quotes(value))}"'

    return _START_TAG.sub(lambda tag: _ATTRIBUTE.sub(attribute, tag.group(0)), html)


@lru_cache(maxsize=64)
def _split_css(css: str) -> tuple[str, str]:
    """(rules to inline, rules to keep in a <style> block). @-rules (`@media`, `@font-face`,
    `@import`) are kept; a rule for `:hover` and the like is kept and also offered to the inliner,
    which inlines only the selectors of its list that match elements (`p, a:hover` -> `p`)."""
    inline: list[str] = []
    keep: list[str] = []
    i, n = 0, len(css)
    while i < n:
        if css[i].isspace():
            i += 1
        elif css.startswith("/*", i):
            close = css.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif css.startswith("<!--", i) or css.startswith("-->", i):
            i += 4 if css[i] == "<" else 3
        else:
            end = _css_rule_end(css, i)
            rule = css[i:end].strip()
            if rule.startswith("@"):
                keep.append(rule)
            elif _NOT_INLINABLE.search(rule.split("{", 1)[0]):
                keep.append(rule)
                inline.append(rule)
            else:
                inline.append(rule)
            i = end
    return _css_single_quotes("\n".join(inline)), "\n".join(keep)


@lru_cache(maxsize=64)
def _inliner(css: str) -> Any:
    import css_inline

    # Never fetch a <link>ed stylesheet: templates are user input, and a URL is a request from inside.
    return css_inline.CSSInliner(
        inline_style_tags=False,
        keep_style_tags=True,
        keep_link_tags=True,
        load_remote_stylesheets=False,
        extra_css=css,
    )


def _conditional_sheet(attributes: str) -> bool:
    match = _MEDIA_ATTRIBUTE.search(attributes)
    if match is None:
        return False
    media = next((g for g in match.groups() if g is not None), "").strip().lower()
    return media not in ("", "all", "screen")


def inline_css(html: str) -> str:
    """The html with its `<style>` rules moved into `style` attributes (a style attribute the
    author wrote wins over a rule, as in the browser). Media queries, other @-rules and rules for
    `:hover`-like states stay in `<style>`; so do `<style media="print">`-like sheets and styles
    inside comments (Outlook's `<!--[if mso]>`). Without a `<style>`, the html is returned as is."""
    if not _STYLE_TAG.search(html):
        return html
    to_inline: list[str] = []

    def strip_inlined(match: re.Match[str]) -> str:
        if match.group(0).startswith("<!--") or _conditional_sheet(match.group(1)):
            return match.group(0)
        inline, keep = _split_css(match.group(2))
        if inline:
            to_inline.append(inline)
        return f"<style{match.group(1)}>\n{keep}\n</style>" if keep else ""

    remaining = _STYLE_OR_COMMENT.sub(strip_inlined, html)
    if not to_inline:
        return html
    inlined: str = _inliner("\n".join(to_inline)).inline(_single_quote_style_attributes(remaining))
    # The parser writes every doctype as `<!DOCTYPE html>`; an email's XHTML doctype sets the
    # rendering mode of some clients, so the author's own is put back.
    if (doctype := _DOCTYPE.match(html)) and (written := _DOCTYPE.match(inlined)):
        inlined = inlined[: written.start(1)] + doctype.group(1) + inlined[written.end(1) :]
    return inlined
