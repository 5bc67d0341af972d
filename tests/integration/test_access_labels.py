"""Access labels: a key limited to labels sees exactly the campaigns whose labels it holds, lists
included; for any other campaign (unlabelled, labelled otherwise, or not there at all) it gets the
same 403 before anything else is checked or said."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, HttpAnswer, load_event, trigger_body

FINANCE = {
    "authenticated": True,
    "keyId": "key_finance",
    "scopes": "campaigns:read campaigns:write campaigns:trigger reports:read",
    "labels": "finance",
}
MISSING = "5c3a9f0e-0000-4d0c-9a51-2f1f4b8e6a10"

# Every campaign route, as its event in events/api/ calls it.
CAMPAIGN_ROUTES = [
    "api/get_campaign.json",
    "api/patch_campaign.json",
    "api/delete_campaign.json",
    "api/review_campaign.json",
    "api/activate_campaign.json",
    "api/stop_campaign.json",
    "api/archive_campaign.json",
    "api/duplicate_campaign.json",
    "api/preview_campaign.json",
    "api/get_trigger_request.json",
    "api/get_campaign_report.json",
]


def _as(api: Api, authorizer: dict[str, Any], event_file: str, campaign_id: str) -> HttpAnswer:
    if event_file.startswith("trigger/"):
        return api.trigger(trigger_body(campaign_id), authorizer=authorizer)
    return api.call("api", event_file, path_params={"campaignId": campaign_id}, authorizer=authorizer)


def _forbidden(answer: HttpAnswer, campaign_id: str) -> dict[str, Any]:
    assert answer.status == 403, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["code"] == "forbidden"
    assert answer.body.get("campaignId") == campaign_id
    return {k: v for k, v in answer.body.items() if k != "campaignId"}


@pytest.mark.parametrize("event_file", [*CAMPAIGN_ROUTES, "trigger/unitary.json"])
def test_a_label_limited_key_gets_the_same_403_for_every_campaign_it_does_not_hold(api: Api, event_file: str) -> None:
    unlabelled = api.live_campaign()
    other = api.live_campaign(labels=["marketing"])
    mixed = api.live_campaign(labels=["finance", "marketing"])
    draft_other = api.create_campaign(labels=["marketing"])

    answers = [
        _forbidden(_as(api, FINANCE, event_file, campaign["id"]), campaign["id"])
        for campaign in (unlabelled, other, mixed, draft_other)
    ]
    answers.append(_forbidden(_as(api, FINANCE, event_file, MISSING), MISSING))
    assert all(a == answers[0] for a in answers), "the answer must not tell these cases apart"

    # An unrestricted key still finds every one of them, and learns a missing one is missing.
    assert _as(api, {**FINANCE, "labels": None}, event_file, unlabelled["id"]).status != 403
    missing = _as(api, {k: v for k, v in FINANCE.items() if k != "labels"}, event_file, MISSING)
    assert (missing.status, missing.body["code"]) == (404, "campaign_not_found")


def test_the_trigger_says_nothing_of_the_state_of_a_campaign_the_key_does_not_hold(api: Api) -> None:
    stopped = api.live_campaign(labels=["marketing"])
    assert api.call("api", "api/stop_campaign.json", path_params={"campaignId": stopped["id"]}).status == 200
    draft = api.create_campaign(labels=["marketing"])
    for campaign in (stopped, draft):
        denied = api.trigger(trigger_body(campaign["id"]), authorizer=FINANCE)
        assert (denied.status, denied.body["code"]) == (403, "forbidden"), "not campaign_not_live"


def test_lists_show_exactly_the_campaigns_the_key_holds_in_full_pages(api: Api) -> None:
    for _ in range(3):
        api.create_campaign()
        api.create_campaign(labels=["marketing"])
    own = {api.create_campaign(labels=["finance"])["id"] for _ in range(2)}

    seen: list[str] = []
    query = {"limit": "1"}
    while True:
        page = api.call("api", "api/list_campaigns.json", query=query, authorizer=FINANCE)
        assert page.status == 200, page.body
        seen += [c["id"] for c in page.body["items"]]
        if not page.body.get("nextToken"):
            break
        assert len(page.body["items"]) == 1, "a page is filled with visible campaigns, not left short"
        query = {"limit": "1", "nextToken": page.body["nextToken"]}
    assert sorted(seen) == sorted(own)


def test_a_key_cannot_give_a_campaign_labels_it_does_not_hold(api: Api) -> None:
    for labels in (["marketing"], ["finance", "marketing"], None):
        refused = api.call("api", "api/create_campaign.json", body=_create_body(labels), authorizer=FINANCE)
        assert (refused.status, refused.body["code"]) == (403, "forbidden"), labels
        assert refused.body["errors"][0]["field"] == "labels"

    created = api.call("api", "api/create_campaign.json", body=_create_body(["finance"]), authorizer=FINANCE)
    assert created.status == 201, created.body
    campaign_id = created.body["id"]
    for labels in (["marketing"], ["finance", "marketing"], None):
        patched = api.call(
            "api",
            "api/patch_campaign.json",
            body={"labels": labels},
            path_params={"campaignId": campaign_id},
            authorizer=FINANCE,
        )
        assert (patched.status, patched.body["code"]) == (403, "forbidden"), labels
    assert api.call("api", "api/get_campaign.json", path_params={"campaignId": campaign_id}).body["labels"] == [
        "finance"
    ]


def test_a_key_reaches_its_campaigns_and_their_executions_only(api: Api) -> None:
    unlabelled = api.live_campaign()
    own = api.live_campaign(labels=["finance"])
    for event_file in ("api/get_campaign.json", "api/review_campaign.json", "api/get_campaign_report.json"):
        assert _as(api, FINANCE, event_file, own["id"]).status == 200, event_file
    theirs = api.trigger(trigger_body(unlabelled["id"]))
    mine = api.trigger(trigger_body(own["id"]), authorizer=FINANCE)
    assert (theirs.status, mine.status) == (202, 202)

    for event_file in ("api/get_execution.json", "api/get_audience_execution.json"):
        answers = []
        for execution_id in (theirs.body["executionId"], "0123456789abcdef01234567deadbeef"):
            answer = api.call("api", event_file, path_params={"executionId": execution_id}, authorizer=FINANCE)
            assert (answer.status, answer.body["code"]) == (403, "forbidden"), answer.body
            assert "campaignId" not in answer.body, "the execution's campaign is not named"
            answers.append(answer.body)
        assert answers[0] == answers[1]
        allowed = api.call("api", event_file, path_params={"executionId": mine.body["executionId"]}, authorizer=FINANCE)
        assert allowed.status == 200


def _create_body(labels: list[str] | None) -> dict[str, Any]:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    if labels is not None:
        body["labels"] = labels
    return body


def test_a_pending_draft_that_changes_the_labels_hides_the_campaign_but_not_its_live_version(api: Api) -> None:
    campaign = api.live_campaign(labels=["finance"])
    relabelled = api.call(
        "api", "api/patch_campaign.json", body={"labels": ["marketing"]}, path_params={"campaignId": campaign["id"]}
    )
    assert relabelled.status == 200, relabelled.body

    _forbidden(_as(api, FINANCE, "api/get_campaign.json", campaign["id"]), campaign["id"])
    _forbidden(_as(api, FINANCE, "api/preview_campaign.json", campaign["id"]), campaign["id"])
    listed = api.call("api", "api/list_campaigns.json", authorizer=FINANCE)
    assert campaign["id"] not in {c["id"] for c in listed.body["items"]}
    # The live version still carries the key's labels: its triggers go on until the draft is activated.
    assert api.trigger(trigger_body(campaign["id"]), authorizer=FINANCE).status == 202


def test_campaigns_saved_before_labels_had_their_own_attribute_are_checked_too(api: Api, aws_env: Any) -> None:
    import boto3

    live = api.live_campaign(labels=["marketing"])
    draft = api.create_campaign(labels=["marketing"])
    for campaign in (live, draft):
        boto3.client("dynamodb").update_item(
            TableName=aws_env.table_name("CampaignsTable"),
            Key={"pk": {"S": f"CAMPAIGN#{campaign['id']}"}, "sk": {"S": "HEAD"}},
            UpdateExpression="REMOVE labels",
        )
        denied = api.trigger(trigger_body(campaign["id"]), authorizer=FINANCE)
        assert (denied.status, denied.body["code"]) == (403, "forbidden")
    assert api.trigger(trigger_body(live["id"])).status == 202
