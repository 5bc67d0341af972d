"""Hostile templates through the API and delivery: refused at review where that can be known,
a 422 at preview, and otherwise a render_error for their own recipients only (issue 9, item 2).

Before the bounds, such a template hung the delivery function, and every other recipient of
its SQS batch ended `send_unconfirmed`. A call that has not returned within
HANG_GUARD_SECONDS is a hang; that limit only tells a hang from an answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, Queue, finishes, load_event, trigger_body
from tests.integration.conftest import emails_per_recipient, invoke_delivery, statuses


def email_content(html: str) -> dict[str, Any]:
    return {"defaultLocale": "en-US", "locales": {"en-US": {"subject": "Hello", "html": html}}}


# Hostile whatever the data: review can know it.
HOSTILE = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "string repetition": "{{ 'x' * 10**7 }}",
    "power": "{{ (9 ** (9 ** 6)) % 7 }}",
    "padding": "{{ 'a'.center(10**7) }}",
    "recursive macro": "{% macro m(n) %}{% if n < 60 %}{{ m(n + 1) }}{{ m(n + 1) }}{% endif %}{% endmacro %}{{ m(0) }}",
    "output through loops": "{% for i in range(1000) %}{{ 'x' * 10000 }}{% endfor %}",
}


def _route(route_key: str) -> dict[str, Any]:
    event = load_event("api/get_campaign.json")
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["requestContext"]["http"]["method"] = route_key.split(" ", 1)[0]
    return event


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_review_refuses_a_template_that_goes_over_a_render_bound(api: Api, html: str) -> None:
    campaign = api.create_campaign(content=email_content(html), contextSchema=None)
    path = {"campaignId": campaign["id"]}
    review = finishes(lambda: api.call_event("api", _route("POST /campaigns/{campaignId}/review"), path))
    assert (review.status, review.body["ok"]) == (200, False), review.body
    [issue] = [e for e in review.body["errors"] if e["field"] == "content.locales.en-US.html"]
    assert issue["code"] == "render_limit"

    activated = finishes(lambda: api.call("api", "api/activate_campaign.json", path_params=path))
    assert (activated.status, activated.body["code"]) == (422, "review_failed"), activated.body
    assert "content.locales.en-US.html" in {e["field"] for e in activated.body["errors"]}
    still = api.call("api", "api/get_campaign.json", path_params=path).body
    assert still["status"] == "draft"


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_preview_obeys_the_render_bounds(api: Api, html: str, outbox) -> None:
    campaign = api.create_campaign(content=email_content(html), contextSchema=None)
    event = _route("POST /campaigns/{campaignId}/preview")
    answer = finishes(lambda: api.call_event("api", event, {"campaignId": campaign["id"]}, body={}))
    assert (answer.status, answer.body["code"]) == (422, "render_error"), answer.body
    assert answer.body["errors"][0]["field"] == "content.locales.en-US.html"
    assert "bounded" in answer.body["detail"] or "longer than" in answer.body["detail"]
    assert outbox() == []


@pytest.mark.parametrize("method", ["create", "patch"])
def test_a_template_over_its_size_is_a_400_naming_the_field(api: Api, method: str) -> None:
    huge = email_content("<p>" + "x" * 200_000 + "</p>")
    if method == "create":
        body = json.loads(load_event("api/create_campaign.json")["body"]) | {"content": huge}
        answer = api.call("api", "api/create_campaign.json", body=body)
    else:
        draft = api.create_campaign()
        answer = api.call(
            "api", "api/patch_campaign.json", path_params={"campaignId": draft["id"]}, body={"content": huge}
        )
    assert answer.status == 400, answer.body
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "content.locales.en-US.html" in {e["field"] for e in answer.body["errors"]}


# Hostile only with some data: review cannot know it; delivery fails those recipients alone.
DATA_HOSTILE = {
    "nested loops": (
        "{% for i in range(context.n) %}{% for j in range(context.n) %}{% endfor %}{% endfor %}",
        100_000,
    ),
    "string repetition": ("{{ 'x' * context.n }}", 10**7),
    "power": ("{{ (9 ** context.n) % 7 }}", 9**6),
    "padding": ("{{ 'a'.center(context.n) }}", 10**7),
    "recursive macro": (
        "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(context.n) }}",
        60,
    ),
}


def test_a_hostile_campaign_fails_only_its_own_recipients_in_a_shared_batch(api: Api, queue: Queue, outbox) -> None:
    # Given a good campaign, and campaigns whose templates are hostile with some data (all went live)
    good = api.live_campaign()
    hostile = {
        name: api.live_campaign(name=name, content=email_content("<p>Hi</p>" + html), contextSchema=None)
        for name, (html, _) in DATA_HOSTILE.items()
    }
    # And one trigger each: the hostile ones with the data that makes them hostile
    executions = {"good": api.trigger(trigger_body(good["id"], requestId="good")).body["executionId"]}
    for name, (_, n) in DATA_HOSTILE.items():
        recipient = {"userId": f"{name.replace(' ', '-')}@example.com", "context": {"n": n}}
        answer = api.trigger(trigger_body(hostile[name]["id"], [recipient], requestId=name))
        assert answer.status == 202, answer.body
        executions[name] = answer.body["executionId"]

    # When one delivery run gets every message in one SQS batch
    messages = queue.receive()
    assert len(messages) == len(executions)
    run = finishes(lambda: invoke_delivery(queue, messages))

    # Then the good campaign's recipients are sent, each hostile recipient is a render_error, nothing is retried
    assert run.failed == set()
    assert set(statuses(api, executions.pop("good")).values()) == {("sent", None)}
    for name, execution_id in executions.items():
        assert statuses(api, execution_id) == {f"{name.replace(' ', '-')}@example.com": ("failed", "render_error")}
    assert emails_per_recipient(outbox) == {"ada@example.com": 1, "bruna@example.com": 1}
    assert queue.depth() == 0
