"""Email: what turns a rendered message into an email and sends it.

- `css`: the html's `<style>` rules inlined into `style` attributes, after rendering;
- `html_text`: the text/plain part derived from the html when the template has none;
- `mime`: the raw RFC 5322 / MIME message;
- `ses`: sending it through SES v2, and whether a sender identity is verified.
"""

from __future__ import annotations

from campaign_engine.channels.email.ses import identity_verified, send

__all__ = ["identity_verified", "send"]
