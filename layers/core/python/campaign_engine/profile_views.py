"""What a stored profile looks like to templates, and how a request's profile merges over it:
no pydantic here, so that the trigger and delivery (whose cold starts are measured) use these
without importing the profile API's models (profiles.py, which re-exports them).

The stored item is `store.people` (`P#<namespace>#<id>`). What templates see as `profile.*` is
`template_view(stored)`: the free attributes at the root (as an XDM-like profile sent in a
request has them, e.g. `profile.person.name.firstName`), beside `email`, `phone`,
`preferredLanguage` and `timezone`. A request's own `profile` is merged over that view
(`merge_profiles`), key by key, so a caller can override or add one field without resending
the rest."""

from __future__ import annotations

import re
from typing import Any

NAMESPACE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
# Merging walks nested objects at most this deep; deeper values are taken whole from the request.
MERGE_DEPTH = 16


def valid_namespace(value: str) -> bool:
    return re.fullmatch(NAMESPACE_PATTERN, value) is not None


def template_view(stored: dict[str, Any] | None) -> dict[str, Any]:
    """What templates see of a stored profile (store.people.from_item values)."""
    if not stored:
        return {}
    view = dict(stored.get("attributes") or {})
    for name in ("email", "phone", "preferredLanguage", "timezone"):
        if stored.get(name) is not None:
            view[name] = stored[name]
    return view


def merge_profiles(stored: dict[str, Any], given: dict[str, Any] | None, depth: int = 0) -> dict[str, Any]:
    """`given` (a request's profile) over `stored` (a template_view): objects are merged key by key,
    anything else in `given` replaces what was stored."""
    if not given:
        return stored
    if not stored:
        return given
    merged = dict(stored)
    for key, value in given.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and depth < MERGE_DEPTH:
            merged[key] = merge_profiles(old, value, depth + 1)
        else:
            merged[key] = value
    return merged
