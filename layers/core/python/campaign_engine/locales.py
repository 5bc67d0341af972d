"""Which locale of a campaign's content a recipient gets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def preferred_language(profile: Mapping[str, Any] | None) -> str | None:
    if not isinstance(profile, Mapping):
        return None
    for value in (
        profile.get("preferredLanguage"),
        (profile.get("person") or {}).get("preferredLanguage") if isinstance(profile.get("person"), Mapping) else None,
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def choose_locale(content: Mapping[str, Any], preferred: str | None) -> str | None:
    """Exact match, then the same language, then the default when fallback is on; else None."""
    locales: Mapping[str, Any] = content.get("locales") or {}
    default = content.get("defaultLocale", "en-US")
    if preferred:
        wanted = preferred.replace("_", "-").lower()
        by_lower = {name.lower(): name for name in locales}
        if wanted in by_lower:
            return by_lower[wanted]
        language = wanted.split("-")[0]
        same_language = sorted(name for name in locales if name.lower().split("-")[0] == language)
        if same_language:
            return same_language[0]
        if content.get("fallback", True) is False:
            return None
    return default if default in locales else None
