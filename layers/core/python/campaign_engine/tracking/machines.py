"""Telling machines from people: opens and clicks that no person made are counted apart
(`machine:opened`, `machine:clicked`), and move no recipient.

A hit is a machine's when:
- it is a HEAD request (link checkers and scanners probe; a mail client or a browser GETs);
- its User-Agent is a known prefetcher or scanner: Apple Mail Privacy Protection's proxy (which
  fetches every image of every message on arrival, with the bare User-Agent `Mozilla/5.0`), security
  gateways that follow links before delivery (Barracuda, Mimecast, Proofpoint, Microsoft's Safe Links
  and Office previews, Symantec, Forcepoint, Trend Micro, Sophos, Cisco IronPort), link previews
  (Slack, Teams, Skype, WhatsApp, Facebook, Twitter, LinkedIn, Discord, Bing), crawlers and HTTP
  libraries (curl, Wget, python-requests, Go, Java, okhttp), or it has none;
- it comes from Apple's network (17.0.0.0/8), where Mail Privacy Protection's proxies fetch from;
- it comes sooner after the send than a person reads mail (TRACKING_HUMAN_DELAY_SECONDS, 3 s by
  default): scanners open and follow everything as the message arrives.

Gmail's and Yahoo's image proxies fetch when the person opens the message: those are people's opens.
"""

from __future__ import annotations

import os
import re

HUMAN_DELAY_ENV = "TRACKING_HUMAN_DELAY_SECONDS"
DEFAULT_HUMAN_DELAY_SECONDS = 3.0

_SCANNERS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|scanner|barracuda|mimecast|proofpoint|safelinks|safe links|"
    r"ms[ -]?office|microsoft office|office365|outlook-(?:ios|android)-linkpreview|symantec|messagelabs|forcepoint|"
    r"trendmicro|trend micro|sophos|ironport|fireeye|zscaler|"
    r"slackbot|skypeuripreview|whatsapp|facebookexternalhit|twitterbot|linkedinbot|discord|bingpreview|"
    r"headlesschrome|phantomjs|python-|python/|curl/|wget/|go-http-client|java/|okhttp|libwww|httpclient|"
    r"axios/|node-fetch|aiohttp|httpx",
    re.IGNORECASE,
)
_APPLE_PROXY_AGENT = "Mozilla/5.0"


def human_delay_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(HUMAN_DELAY_ENV) or DEFAULT_HUMAN_DELAY_SECONDS))
    except ValueError:
        return DEFAULT_HUMAN_DELAY_SECONDS


def machine_reason(
    method: str, user_agent: str | None, source_ip: str | None, sent_at: float, now: float
) -> str | None:
    """Why this hit is a machine's ("head", "agent", "apple_proxy", "too_soon"), or None for a person's."""
    if method.upper() == "HEAD":
        return "head"
    agent = (user_agent or "").strip()
    if not agent or _SCANNERS.search(agent):
        return "agent"
    if agent == _APPLE_PROXY_AGENT or (source_ip or "").startswith("17."):
        return "apple_proxy"
    if now - sent_at < human_delay_seconds():
        return "too_soon"
    return None
