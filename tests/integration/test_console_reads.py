"""What the web console reads that no other route gave: an execution found by the campaign and the
requestId its caller's key sent (unitary and audience executions), and a live campaign's pending draft."""

from __future__ import annotations

from tests.conftest import Api, trigger_body
from tests.integration.audience_support import put_audience


def _find(api: Api, campaign_id: str, request_id: str, **kwargs):
    query = {"campaignId": campaign_id, "requestId": request_id}
    return api.call("api", "api/find_execution.json", query=query, **kwargs)


def test_an_execution_is_found_by_campaign_and_request_id(api: Api) -> None:
    campaign = api.live_campaign()
    accepted = api.trigger(trigger_body(campaign["id"], requestId="order-77"))
    assert accepted.status == 202, accepted.body

    found = _find(api, campaign["id"], "order-77")
    assert found.status == 200, found.body
    assert (found.body["executionId"], found.body["requestId"]) == (accepted.body["executionId"], "order-77")
    assert found.body["recipients"][0]["userId"] == accepted.body["recipients"][0]["userId"]

    # Idempotency is per campaign: the same requestId of another campaign is not this execution.
    other = api.live_campaign()
    missing = _find(api, other["id"], "order-77")
    assert (missing.status, missing.body["code"]) == (404, "execution_not_found")
    assert "order-77" in missing.body["detail"]
    # Idempotency is per calling key too: another key's lookup of this requestId finds nothing.
    other_key = {"authenticated": True, "keyId": "key_another0000", "scopes": "admin", "labels": ""}
    assert _find(api, campaign["id"], "order-77", authorizer=other_key).status == 404
    # A key that may not read executions learns nothing.
    assert _find(api, campaign["id"], "order-77", scopes="campaigns:write").status == 403


def test_an_audience_execution_is_found_by_its_request_id(api: Api) -> None:
    campaign = api.live_campaign(type="marketing", contextSchema=None)
    put_audience("aud-console", [("email", "reader@example.com")])
    body = {"campaignId": campaign["id"], "requestId": "weekly-48", "audience": {"id": "aud-console"}}
    started = api.call("api", "api/execute_audience.json", body=body)
    assert started.status == 202, started.body

    found = _find(api, campaign["id"], "weekly-48")
    assert found.status == 200, found.body
    assert found.body["executionId"] == started.body["executionId"]


def test_a_live_campaigns_pending_draft_is_readable(api: Api) -> None:
    campaign = api.live_campaign()
    path = {"campaignId": campaign["id"]}
    subject = {"content": {"locales": {"en-US": {"subject": "v2 subject"}}}}
    assert api.call("api", "api/patch_campaign.json", path_params=path, body=subject).status == 200

    current = api.call("api", "api/get_campaign.json", path_params=path)
    draft = api.call("api", "api/get_campaign.json", path_params=path, query={"version": "draft"})
    assert (current.body["status"], current.body["draftVersion"]) == ("live", 2)
    assert current.body["content"]["locales"]["en-US"]["subject"] != "v2 subject"
    assert (draft.body["status"], draft.body["version"]) == ("draft", 2)
    assert draft.body["content"]["locales"]["en-US"]["subject"] == "v2 subject"

    # Without a pending draft, version=draft is the campaign itself; another value is named as bad.
    plain = api.live_campaign()
    same = api.call("api", "api/get_campaign.json", path_params={"campaignId": plain["id"]}, query={"version": "draft"})
    assert (same.body["status"], same.body["version"]) == ("live", 1)
    bad = api.call("api", "api/get_campaign.json", path_params={"campaignId": plain["id"]}, query={"version": "old"})
    assert bad.status == 400
    assert bad.body["errors"][0]["field"].endswith("version")
