"""One-click unsubscribe (RFC 8058) from a marketing email: `POST /t/u/{token}`.

The token names the person (userId and namespace) and the address the email went to, sealed
(tokens.py). Unsubscribing, each step safe to repeat:
- the address goes on the email suppression list with reason `unsubscribe` (source `unsubscribe`),
  unless it is listed already (a hard bounce's entry stays as it was). An `unsubscribe` entry
  excludes marketing sends only (`suppressed`): transactional email (receipts, password resets) is
  not a subscription, and still reaches the person (screening.py);
- the person's stored profile, if there is one, records consent `out` for email (later marketing
  sends to them are `no_consent`, whatever address they come with). No profile is created for a
  person who has none: the suppression entry covers their address, and an unsubscribe should
  not make a record of someone;
- the recipient of that email gets `unsubscribedAt` (shown by GET /im/executions/{id}), and the
  campaign's report `total:unsubscribed` counts them once, in the hour they unsubscribed.

A GET of the same URL never unsubscribes (mail scanners follow links): it shows a page whose
button POSTs.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from campaign_engine import reports, store
from campaign_engine.observability import logger
from campaign_engine.screening import has_profile_key
from campaign_engine.store import people
from campaign_engine.tracking.tokens import Token

CHANNEL = "email"


def unsubscribe(token: Token, at: datetime) -> bool:
    """Records the unsubscribe the token is for; True the first time for that email."""
    when = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    recipient = token.recipient
    if recipient.address:
        people.suppress_unless_listed(CHANNEL, recipient.address, reason="unsubscribe", source="unsubscribe", at=when)
    profile = has_profile_key(recipient.namespace) and people.set_consent(
        recipient.namespace, recipient.user_id, CHANNEL, "out", at=when
    )
    marked = store.mark_recipient(token.execution_id, recipient.user_id, "unsubscribedAt", when)
    first = marked is not None and marked[1]
    if first:
        bucket = (token.campaign_id, reports.hour_bucket(at.astimezone(UTC)))
        reports.add_counts({bucket: Counter({"total:unsubscribed": 1})})
    logger.info("unsubscribed", execution_id=token.execution_id, first=first, profile=profile)
    return first
