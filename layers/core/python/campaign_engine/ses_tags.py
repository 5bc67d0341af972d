"""The SES message tags that carry a recipient from delivery's send to feedback's events.

`executionId`, and `recipient` - the userId in base64url without padding, the only form of an
arbitrary id that SES tag values allow ([A-Za-z0-9_-.@], up to 256 characters). Its own module,
with nothing but base64 to import, so that delivery does not load feedback (and its reports,
auth and errors catalogue) on its cold start just to write a tag.
"""

from __future__ import annotations

import base64
import binascii

RECIPIENT_TAG = "recipient"
EXECUTION_TAG = "executionId"
MAX_TAG_VALUE = 256  # SES's limit on a tag value


def recipient_tag(user_id: str) -> str:
    """The userId as an SES tag value; "" (no tag) when its encoding is over 256 characters, that is
    for userIds over 192 UTF-8 bytes: their events are then matched by message id within the execution."""
    value = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    return value if len(value) <= MAX_TAG_VALUE else ""


def user_id_from_tag(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
