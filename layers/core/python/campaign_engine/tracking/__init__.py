"""Open and click tracking and one-click unsubscribe: signed links in emails, and what the public
`/t/...` routes do when they are followed.

- `keys`: the signing keys (a Secrets Manager secret read through Powertools, cached), rotatable;
- `tokens`: the signed, opaque tokens the links carry (no personal data readable from them);
- `links`: the links a campaign's content holds, and an email's html rewritten to track them;
- `decorate`: what delivery adds to a marketing or tracked email (pixel, links, List-Unsubscribe);
- `machines`: telling prefetching proxies and link scanners from people;
- `engagement`: recording an open or a click (the recipient's state and the report's counters);
- `unsubscribe`: recording a one-click unsubscribe (consent, suppression, recipient, report);
- `http`: the public routes' answers (a pixel, a redirect, plain pages).

Nothing here imports pydantic or Jinja: the tracking function must start and answer cheaply.
"""
