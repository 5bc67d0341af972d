"""Tracking on the local stack, through its gateway as a person's mail client and browser would: the
email in the outbox carries a pixel, tracked links and a one-click unsubscribe URL at the stack's own
address; following them opens, clicks and unsubscribes the recipient, and the next marketing email to
that person is excluded."""

from __future__ import annotations

import http.client
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from local import Stack
from tests.e2e.conftest import stack_progress, wait_for

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SALE = "https://shop.example.com/sale"
ADDRESS = "ada.e2e@example.com"


def follow(url: str, method: str = "GET", body: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed (http.client), with a browser's User-Agent."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    headers = {"User-Agent": BROWSER}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, parts.path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def _trigger(stack: Stack, campaign_id: str) -> str:
    body = {
        "requestId": f"tracking-{uuid.uuid4()}",
        "campaignId": campaign_id,
        "recipients": [
            {"type": "aep", "userId": ADDRESS, "namespace": "email", "channelData": {"emailAddress": ADDRESS}}
        ],
    }
    status, _, answer = stack.request("POST", "/im/executions/unitary", body)
    assert status == 202, answer
    return str(answer["executionId"])


def _recipient(stack: Stack, execution_id: str, until: Any) -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        status, _, execution = stack.request("GET", f"/im/executions/{execution_id}")
        assert status == 200, execution
        return next((r for r in execution["recipients"] if r["userId"] == ADDRESS), {})

    return wait_for(probe, until=until, progress=stack_progress(stack))


def test_open_click_and_unsubscribe_through_the_gateway(local_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKING_HUMAN_DELAY_SECONDS", "0")  # this reader opens the email at once
    local_stack.request("DELETE", "/_local/outbox")
    campaign = {
        "name": "Tracked news",
        "type": "marketing",
        "channel": "email",
        "sender": {"fromEmail": "news@example.com", "fromName": "Example News"},
        "tracking": {"opens": True, "clicks": True},
        "content": {
            "defaultLocale": "en-US",
            "locales": {"en-US": {"subject": "News", "html": f'<p>Hello</p><p><a href="{SALE}">Sale</a></p>'}},
        },
    }
    status, _, created = local_stack.request("POST", "/campaigns", campaign)
    assert status == 201, created
    status, _, live = local_stack.request("POST", f"/campaigns/{created['id']}/activate")
    assert status == 200, live

    # Given a tracked marketing email, delivered to the local outbox
    execution_id = _trigger(local_stack, created["id"])
    _recipient(local_stack, execution_id, until=lambda r: r.get("status") == "sent")
    [message] = local_stack.request("GET", "/_local/outbox")[2]["items"]
    html = message["html"]
    pixel = re.findall(r'<img src="([^"]+)"', html)[0]
    link = next(h for h in re.findall(r'<a href="([^"]+)"', html) if "/t/c/" in h)
    unsubscribe = message["headers"]["List-Unsubscribe"].strip("<>")
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for url in (pixel, link, unsubscribe):
        assert url.startswith(local_stack.base_url + "/t/"), url  # served by this stack's gateway
        assert ADDRESS not in url
        assert "ada" not in url

    # When the person opens it and follows its link
    status, headers, image = follow(pixel)
    assert (status, headers["content-type"], image[:6]) == (200, "image/gif", b"GIF89a")
    status, headers, _ = follow(link)
    assert (status, headers["location"]) == (302, SALE)
    assert _recipient(local_stack, execution_id, until=lambda r: r.get("status") == "clicked")

    # A tampered link goes nowhere
    status, headers, _ = follow(link[:-3] + ("xyz" if not link.endswith("xyz") else "abc"))
    assert status == 404
    assert "location" not in headers

    # Then the unsubscribe page changes nothing by itself; its button (a POST) unsubscribes
    status, _, page = follow(unsubscribe)
    assert status == 200
    assert b'method="post"' in page
    assert not _recipient(local_stack, execution_id, until=bool).get("unsubscribedAt")
    status, _, done = follow(unsubscribe, "POST", "List-Unsubscribe=One-Click")
    assert status == 200
    assert b"unsubscribed" in done
    assert _recipient(local_stack, execution_id, until=lambda r: r.get("unsubscribedAt"))

    # And the next marketing email to that person is excluded
    later = _trigger(local_stack, created["id"])
    excluded = _recipient(local_stack, later, until=lambda r: r.get("status") == "excluded")
    assert excluded["reason"] in ("suppressed", "no_consent")
