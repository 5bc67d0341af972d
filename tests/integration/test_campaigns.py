"""Campaign authoring through the API function: lifecycle, versions, review, preview, examples."""

from __future__ import annotations

import json
import shlex

from tests.conftest import Api, Queue, load_event, trigger_body


def test_create_read_and_list_with_filters_and_paging(api: Api) -> None:
    first = api.create_campaign(name="A", tags=["orders"])
    second = api.create_campaign(name="B", tags=["promo"])
    third = api.live_campaign(name="C", tags=["orders"])
    assert first["status"] == "draft"
    assert first["version"] == 1
    assert first["createdAt"].endswith("Z")

    read = api.call("api", "api/get_campaign.json", path_params={"campaignId": second["id"]})
    assert read.status == 200
    assert read.body["name"] == "B"

    live = api.call("api", "api/list_campaigns.json", query={"status": "live"})
    assert [c["id"] for c in live.body["items"]] == [third["id"]]
    tagged = api.call("api", "api/list_campaigns.json", query={"tag": "orders"})
    assert {c["id"] for c in tagged.body["items"]} == {first["id"], third["id"]}

    seen: list[str] = []
    token = None
    for _ in range(5):
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        page = api.call("api", "api/list_campaigns.json", query=query).body
        seen += [c["id"] for c in page["items"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted([first["id"], second["id"], third["id"]])

    bad = api.call("api", "api/list_campaigns.json", query={"status": "sleeping"})
    assert (bad.status, bad.body["errors"][0]["field"]) == (400, "status")
    bad_token = api.call("api", "api/list_campaigns.json", query={"nextToken": "garbage!"})
    assert (bad_token.status, bad_token.body["code"]) == (400, "invalid_next_token")


def test_unknown_fields_and_bad_values_are_named(api: Api) -> None:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    body["chanel"] = "email"
    body["sender"]["fromEmail"] = "not-an-email"
    body["schedule"] = {"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
    answer = api.call("api", "api/create_campaign.json", body=body)
    assert answer.status == 400
    fields = {e["field"] for e in answer.body["errors"]}
    assert {"chanel", "sender.fromEmail", "schedule"} <= fields


def test_patch_merges_a_draft_and_versions_a_live_campaign(api: Api, queue: Queue, outbox) -> None:
    draft = api.create_campaign()
    patched = api.call(
        "api",
        "api/patch_campaign.json",
        path_params={"campaignId": draft["id"]},
        body={"description": "new", "sender": {"fromName": "Shop"}},
    )
    assert patched.status == 200
    assert patched.body["description"] == "new"
    assert patched.body["sender"] == {
        "fromEmail": "orders@example.com",
        "fromName": "Shop",
        "replyTo": "support@example.com",
    }, "objects merge (RFC 7396)"

    fixed = api.call("api", "api/patch_campaign.json", path_params={"campaignId": draft["id"]}, body={"channel": "sms"})
    assert (fixed.status, fixed.body["errors"][0]["field"]) == (400, "channel")

    live = api.call("api", "api/activate_campaign.json", path_params={"campaignId": draft["id"]}).body
    assert (live["status"], live["liveVersion"]) == ("live", 1)

    # Editing a live campaign edits its pending draft; triggers keep using version 1.
    subject = {"content": {"locales": {"en-US": {"subject": "v2: {{ context.orderId }}"}}}}
    edited = api.call("api", "api/patch_campaign.json", path_params={"campaignId": draft["id"]}, body=subject)
    assert edited.body["status"] == "live"
    assert edited.body["draftVersion"] == 2
    assert edited.body["content"]["locales"]["en-US"]["subject"].startswith("Order")

    first = api.trigger(trigger_body(draft["id"], requestId="before-v2"))
    queue.drain()
    assert api.execution(first.body["executionId"]).body["campaignVersion"] == 1

    activated = api.call("api", "api/activate_campaign.json", path_params={"campaignId": draft["id"]}).body
    assert (activated["liveVersion"], activated.get("draftVersion")) == (2, None)
    second = api.trigger(trigger_body(draft["id"], requestId="after-v2"))
    queue.drain()
    assert api.execution(second.body["executionId"]).body["campaignVersion"] == 2
    subjects = sorted(e["subject"] for e in outbox() if e["to"] == ["ada@example.com"])
    assert subjects == ["Order 10042 confirmed", "v2: 10042"]


def test_review_blocks_activation_with_every_error(api: Api) -> None:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    body["sender"] = {"fromEmail": "someone@unverified.test"}
    body["content"]["locales"]["en-US"]["subject"] = "Hi {{ profile.name "
    body["content"]["locales"]["pt-BR"]["html"] = "{% if x %}unclosed"
    created = api.call("api", "api/create_campaign.json", body=body).body

    review = api.call("api", "api/activate_campaign.json", path_params={"campaignId": created["id"]})
    assert review.status == 422
    assert review.body["code"] == "review_failed"
    fields = {e["field"] for e in review.body["errors"]}
    assert {"sender.fromEmail", "content.locales.en-US.subject", "content.locales.pt-BR.html"} <= fields
    still = api.call("api", "api/get_campaign.json", path_params={"campaignId": created["id"]}).body
    assert still["status"] == "draft"


def test_lifecycle_rules(api: Api) -> None:
    draft = api.create_campaign()
    live = api.live_campaign()
    for action, campaign, expected in [
        ("stop", draft, 409),
        ("archive", draft, 409),
        ("stop", live, 200),
        ("archive", live, 200),
    ]:
        event = load_event("api/stop_campaign.json")
        event["routeKey"] = event["requestContext"]["routeKey"] = f"POST /campaigns/{{campaignId}}/{action}"
        answer = api.call_event("api", event, {"campaignId": campaign["id"]})
        assert answer.status == expected, (action, answer.body)
    archived = api.call("api", "api/get_campaign.json", path_params={"campaignId": live["id"]}).body
    assert archived["status"] == "archived"

    deleted = api.call_event("api", _route("DELETE /campaigns/{campaignId}"), {"campaignId": draft["id"]})
    assert deleted.status == 204
    gone = api.call("api", "api/get_campaign.json", path_params={"campaignId": draft["id"]})
    assert (gone.status, gone.body["code"]) == (404, "campaign_not_found")
    not_draft = api.call_event("api", _route("DELETE /campaigns/{campaignId}"), {"campaignId": live["id"]})
    assert (not_draft.status, not_draft.body["code"]) == (409, "campaign_not_draft")

    copy = api.call_event("api", _route("POST /campaigns/{campaignId}/duplicate"), {"campaignId": live["id"]})
    assert copy.status == 201
    assert (copy.body["status"], copy.body["name"]) == ("draft", f"{live['name']} (copy)")
    assert copy.body["content"] == live["content"]


def _route(route_key: str) -> dict:
    event = load_event("api/get_campaign.json")
    method, _ = route_key.split(" ", 1)
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["requestContext"]["http"]["method"] = method
    return event


def test_preview_renders_without_sending_and_reports_render_errors(api: Api, outbox) -> None:
    campaign = api.create_campaign()
    event = _route("POST /campaigns/{campaignId}/preview")
    sample = {
        "profile": {"person": {"name": {"firstName": "Bruna"}}},
        "context": {"orderId": "9", "total": "R$ 1"},
        "locale": "pt",
    }
    rendered = api.call_event("api", event, {"campaignId": campaign["id"]}, body=sample)
    assert rendered.status == 200, rendered.body
    assert rendered.body["locale"] == "pt-BR"
    assert rendered.body["subject"] == "Pedido 9 confirmado"
    assert "Olá Bruna" in rendered.body["html"]
    assert "Olá Bruna" in rendered.body["text"]

    missing = api.call_event("api", event, {"campaignId": campaign["id"]}, body={"context": {"orderId": "9"}})
    assert (missing.status, missing.body["code"]) == (422, "render_error")
    assert "context.total" in missing.body["detail"]
    assert outbox() == []


def test_trigger_request_gives_a_runnable_curl_and_a_body_that_passes(api: Api) -> None:
    campaign = api.live_campaign()
    example = api.call_event(
        "api", _route("GET /campaigns/{campaignId}/trigger-request"), {"campaignId": campaign["id"]}
    )
    assert example.status == 200
    body = example.body["body"]
    assert body["campaignId"] == campaign["id"]
    assert set(body["recipients"][0]["context"]) == {"orderId", "total"}
    argv = shlex.split(example.body["curl"].replace("\\\n", " "))
    assert argv[:4] == ["curl", "-sS", "-X", "POST"]
    assert argv[4].endswith("/im/executions/unitary")
    assert json.loads(argv[argv.index("-d") + 1]) == body
    triggered = api.trigger(body)
    assert triggered.status == 202
    assert triggered.body["recipients"][0]["status"] == "accepted"


def test_report_counts_by_status_reason_and_locale(api: Api, queue: Queue) -> None:
    campaign = api.live_campaign()
    recipients = [
        {"userId": "a@example.com", "context": {"orderId": "1", "total": "$1"}},
        {
            "userId": "b@example.com",
            "profile": {"preferredLanguage": "pt-BR"},
            "context": {"orderId": "2", "total": "$2"},
        },
        {"userId": "c@example.com", "context": {"orderId": "3"}},
        {"userId": "crm-9", "namespace": "crmId", "context": {"orderId": "4"}},
        {"userId": "d@example.com", "context": {}},
    ]
    api.trigger(trigger_body(campaign["id"], recipients, context=None))
    queue.drain()

    report = api.call_event("api", _route("GET /campaigns/{campaignId}/report"), {"campaignId": campaign["id"]})
    assert report.status == 200, report.body
    assert report.body["byStatus"] == {"excluded": 2, "failed": 1, "sent": 2}
    assert report.body["byReason"] == {"invalid_context": 1, "missing_address": 1, "render_error": 1}
    assert report.body["byLocale"] == {"en-US": 2, "pt-BR": 1}
    assert report.body["total"] == 5

    later = api.call_event(
        "api",
        _route("GET /campaigns/{campaignId}/report"),
        {"campaignId": campaign["id"]},
        query={"since": "2999-01-01T00:00:00Z"},
    )
    assert later.body["total"] == 0


def test_the_schedule_window_opens_and_closes(api: Api) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from campaign_engine.minute_tick import advance_schedules
    from tests.conftest import invoke

    start = datetime.now(UTC) + timedelta(seconds=1)
    end = start + timedelta(hours=1)
    campaign = api.live_campaign(schedule={"start": start.isoformat(), "end": end.isoformat()})
    assert campaign["status"] == "scheduled"
    early = api.trigger(trigger_body(campaign["id"]))
    assert (early.status, early.body["code"]) == (409, "outside_schedule_window")

    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.05)
    ticked = invoke("scheduler", load_event("scheduler/tick.json"))
    assert ticked["changed"] == [{"campaignId": campaign["id"], "status": "live"}]
    assert api.trigger(trigger_body(campaign["id"])).status == 202

    assert advance_schedules(end + timedelta(seconds=1)) == [(campaign["id"], "completed")]
    read = api.call("api", "api/get_campaign.json", path_params={"campaignId": campaign["id"]}).body
    assert read["status"] == "completed"
    late = api.trigger(trigger_body(campaign["id"], requestId="late"))
    assert (late.status, late.body["code"]) == (409, "campaign_not_live")


def test_two_edits_of_one_revision_cannot_both_win(api: Api) -> None:
    import pytest

    from campaign_engine import store
    from campaign_engine.routes.problems import store_problem

    campaign = api.create_campaign()
    stale = store.get_campaign_head(campaign["id"], consistent=True)
    assert stale is not None
    edited = api.call(
        "api",
        "api/patch_campaign.json",
        path_params={"campaignId": campaign["id"]},
        body={"description": "first edit wins"},
    )
    assert edited.status == 200
    with pytest.raises(store.ConcurrentModification) as lost:
        store.put_campaign_head(stale, expected_revision=stale.revision)
    answered = store_problem(lost.value)
    assert (answered.status, answered.code) == (409, "concurrent_modification")
    assert (
        api.call("api", "api/get_campaign.json", path_params={"campaignId": campaign["id"]}).body["description"]
        == "first edit wins"
    )
