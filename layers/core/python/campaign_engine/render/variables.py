"""The variables a template reads: the dotted paths under `profile` and `context`, for review
and preview (what data a campaign expects), found in the template's syntax tree."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError, nodes

from campaign_engine.render.environment import TEXT_ENV
from campaign_engine.render.undefined import child_path

__all__ = ["template_variables"]

_DATA_ROOTS = frozenset({"profile", "context"})


def _chain(node: nodes.Node) -> str | None:
    """`context.order["id"]` -> "context.order.id"; None when the chain does not start at a data
    root. A computed subscript ends the chain there (`context.prices[context.tier]` -> "context.prices")."""
    keys: list[object] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                keys.append(node.arg.value)
            else:
                keys.clear()
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in _DATA_ROOTS:
            path = node.name
            for key in reversed(keys):
                path = child_path(path, key)
            return path
        else:
            return None


def template_variables(source: str) -> set[str]:
    """The dotted paths under `profile` and `context` that a template reads, most specific only
    (`{"context.offerCode", "profile.person.name.firstName"}`). A trailing method call is not a
    variable (`context.name.upper()` reads "context.name"). Syntax errors yield an empty set:
    `check_content` is what reports them."""
    try:
        tree = TEXT_ENV.parse(source)
    except TemplateSyntaxError:
        return set()
    methods = {id(call.node) for call in tree.find_all(nodes.Call) if isinstance(call.node, nodes.Getattr)}
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        target = node.node if id(node) in methods and isinstance(node, nodes.Getattr) else node
        if (path := _chain(target)) is not None:
            found.add(path)
    return {p for p in found if not any(q.startswith((p + ".", p + "[")) for q in found)}
