"""A campaign's `privacy.retainMessages`: false for one-time codes and reset links, whose message
and context must not outlive the send.

What the platform keeps of a recipient anyway (see README "Personal data"): the verdict and outcome
(userId, status, reason, a detail, the provider's message id, the locale) with a TTL. For such a
campaign a detail that could quote the rendered message or the context (a render error, a message
that could not be built) is replaced with a fixed one; the queue entry, which must carry the context
to the sender, is deleted once delivered."""

from __future__ import annotations

from typing import Any

NOT_KEPT = "(detail not kept: the campaign's privacy.retainMessages is false)"
RENDER_FAILED = f"The template could not be rendered for this recipient {NOT_KEPT}"
NOT_BUILT = f"The message could not be built {NOT_KEPT}"


def retains_messages(campaign: dict[str, Any]) -> bool:
    """Whether `campaign` (a stored campaign document) may keep copies of its messages and contexts."""
    privacy = campaign.get("privacy")
    return not (isinstance(privacy, dict) and privacy.get("retainMessages") is False)
