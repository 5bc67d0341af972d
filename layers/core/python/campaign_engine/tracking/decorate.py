"""What delivery adds to an email before sending it:

- a marketing email gets RFC 8058 one-click unsubscribe headers: `List-Unsubscribe: <https://.../t/u/TOKEN>`
  and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (a transactional one does not: a password
  reset or a receipt is not a subscription, and unsubscribing from marketing must not stop it);
- with the campaign's `tracking.opens`, an open pixel at the end of the html;
- with `tracking.clicks`, each literal link of the html through the click redirect (links.py).

The public base URL of the `/t/...` routes is TRACKING_BASE_URL (the HTTP API's URL, or a domain
of your own mapped to it). The text part keeps the links as written: it is derived before this.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from campaign_engine.observability import logger
from campaign_engine.tracking import keys, links, tokens

BASE_URL_ENV = "TRACKING_BASE_URL"
MAX_HEADER_URL = 960


def base_url() -> str:
    return os.environ.get(BASE_URL_ENV, "").rstrip("/")


def decorate(
    campaign: dict[str, Any],
    locale: str | None,
    execution_id: str,
    recipient: tokens.Recipient,
    html: str | None,
) -> tuple[str | None, dict[str, str]]:
    """(the html to send, the extra headers) for one email of `campaign`."""
    tracking = campaign.get("tracking") or {}
    marketing = campaign.get("type") == "marketing"
    opens = bool(tracking.get("opens")) and html is not None
    table: tuple[str, ...] = ()
    if tracking.get("clicks") and html is not None and locale:
        template_html = ((campaign.get("content") or {}).get("locales") or {}).get(locale, {}).get("html") or ""
        table = links.link_table(template_html)
    if not (marketing or opens or table):
        return html, {}

    ring = keys.key_ring()
    root = base_url()
    issued = int(time.time())

    @cache  # a link written twice in the html is signed once
    def url(kind: tokens.Kind, path: str, link: int | None = None, address: str | None = None) -> str:
        token = tokens.Token(
            kind=kind,
            campaign_id=str(campaign["id"]),
            version=int(campaign["version"]),
            locale=locale or "",
            execution_id=execution_id,
            issued_at=issued,
            recipient=tokens.Recipient(recipient.user_id, recipient.namespace, address),
            link=link,
        )
        return f"{root}/t/{path}/{tokens.sign(ring, token)}"

    headers: dict[str, str] = {}
    unsubscribe = url("u", "u", address=recipient.address) if marketing else ""
    # A header line holds 998 characters; only a userId of hundreds of non-ASCII characters makes a longer URL.
    if unsubscribe and len(unsubscribe) <= MAX_HEADER_URL:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    elif unsubscribe:
        logger.warning("unsubscribe URL too long for a header: left out", execution_id=execution_id)
    if html is not None and table:
        html = links.rewrite_links(html, table, lambda index: url("c", "c", link=index))
    if html is not None and opens:
        html = links.add_pixel(html, url("o", "o"))
    return html, headers
