"""Every route the api function serves has a `sam local invoke` event in events/api/, and that event,
pointed at what it needs in the emulator, answers the status the contract gives the route."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.harness import EVENTS
from local.template import Template
from tests.conftest import Api, load_event, trigger_body

# What each route needs to exist first, and the status the contract answers for it.
# Path parameters, and under "body" the fields that replace the event body's (ids made by the test).
Needs = Callable[[Api], dict[str, Any]]


def _nothing(_: Api) -> dict[str, str]:
    return {}


def _draft(api: Api) -> dict[str, str]:
    return {"campaignId": api.create_campaign()["id"]}


def _live(api: Api) -> dict[str, str]:
    return {"campaignId": api.live_campaign()["id"]}


def _execution(api: Api) -> dict[str, str]:
    answer = api.trigger(trigger_body(api.live_campaign()["id"]))
    assert answer.status == 202, answer.body
    return {"executionId": answer.body["executionId"]}


def _execution_by_request(api: Api) -> dict[str, Any]:
    body = trigger_body(api.live_campaign()["id"])
    answer = api.trigger(body)
    assert answer.status == 202, answer.body
    return {"query": {"campaignId": body["campaignId"], "requestId": answer.body["requestId"]}}


def _profile(api: Api) -> dict[str, str]:
    answer = api.call("api", "api/put_profile.json")
    assert answer.status == 200, answer.body
    return {"namespace": answer.body["namespace"], "profileId": answer.body["id"]}


def _suppression(api: Api) -> dict[str, str]:
    answer = api.call("api", "api/add_suppressions.json")
    assert answer.status == 200, answer.body
    return {"channel": "email", "address": "ada@example.com"}


def _audience(api: Api) -> dict[str, str]:
    answer = api.call("api", "api/create_audience.json")
    assert answer.status == 201, answer.body
    return {"audienceId": answer.body["id"]}


def _audience_execution(api: Api) -> dict[str, Any]:
    """A live marketing campaign and an audience to send it to: the body's campaignId and audience
    are replaced by theirs, and its schedule moved to tomorrow (the event's own date passes)."""
    from tests.integration.audience_support import put_audience

    campaign = api.live_campaign(type="marketing", contextSchema=None)
    put_audience("aud-newsletter", [("email", "reader@example.com")])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {"body": {"campaignId": campaign["id"], "schedule": {"executeAt": tomorrow}}}


def _schedule(api: Api) -> dict[str, Any]:
    body = json.loads(load_event("api/execute_audience.json")["body"])
    body.update(_audience_execution(api)["body"])
    answer = api.call("api", "api/execute_audience.json", body=body)
    assert answer.status == 202, answer.body
    return {"scheduleId": answer.body["scheduleId"]}


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _new_key(api: Api) -> dict[str, Any]:
    """The event's expiry moved to tomorrow (its own date passes)."""
    return {"body": {"expiresAt": _tomorrow()}}


def _key(api: Api) -> dict[str, Any]:
    answer = api.call("api", "api/create_key.json", body={"name": "ci", "scopes": ["campaigns:read"]})
    assert answer.status == 201, answer.body
    return {"keyId": answer.body["id"]}


def _key_to_rotate(api: Api) -> dict[str, Any]:
    return {**_key(api), "body": {"oldKeyExpiresAt": _tomorrow()}}


EXPECTED: dict[str, tuple[Needs, int]] = {
    "GET /im/health": (_nothing, 200),
    "GET /openapi.json": (_nothing, 200),
    "POST /campaigns": (_nothing, 201),
    "GET /campaigns": (_draft, 200),
    "GET /campaigns/{campaignId}": (_draft, 200),
    "PATCH /campaigns/{campaignId}": (_draft, 200),
    "DELETE /campaigns/{campaignId}": (_draft, 204),
    "POST /campaigns/{campaignId}/review": (_draft, 200),
    "POST /campaigns/{campaignId}/activate": (_draft, 200),
    "POST /campaigns/{campaignId}/stop": (_live, 200),
    "POST /campaigns/{campaignId}/archive": (_live, 200),
    "POST /campaigns/{campaignId}/duplicate": (_draft, 201),
    "POST /campaigns/{campaignId}/preview": (_draft, 200),
    "GET /campaigns/{campaignId}/trigger-request": (_draft, 200),
    "GET /campaigns/{campaignId}/report": (_live, 200),
    "GET /im/executions": (_execution_by_request, 200),
    "GET /im/executions/{executionId}": (_execution, 200),
    "GET /im/executions/audience/{executionId}": (_execution, 200),
    "PUT /profiles/{namespace}/{profileId}": (_nothing, 200),
    "GET /profiles/{namespace}/{profileId}": (_profile, 200),
    "DELETE /profiles/{namespace}/{profileId}": (_profile, 202),
    "POST /suppressions": (_nothing, 200),
    "GET /suppressions/{channel}/{address}": (_suppression, 200),
    "DELETE /suppressions/{channel}/{address}": (_suppression, 204),
    "POST /audiences": (_nothing, 201),
    "GET /audiences": (_audience, 200),
    "GET /audiences/{audienceId}": (_audience, 200),
    "DELETE /audiences/{audienceId}": (_audience, 204),
    "POST /audiences/{audienceId}/members": (_audience, 200),
    "POST /im/executions/audience": (_audience_execution, 202),
    "GET /im/executions/schedules/{scheduleId}": (_schedule, 200),
    "DELETE /im/executions/schedules/{scheduleId}": (_schedule, 204),
    "GET /rules/frequency": (_nothing, 200),
    "PUT /rules/frequency": (_nothing, 200),
    "POST /keys": (_new_key, 201),
    "GET /keys": (_key, 200),
    "GET /keys/{keyId}": (_key, 200),
    "DELETE /keys/{keyId}": (_key, 204),
    "POST /keys/{keyId}/rotate": (_key_to_rotate, 201),
    "GET /rules/webhook": (_nothing, 200),
    "PUT /rules/webhook": (_nothing, 200),
    "DELETE /rules/webhook": (_nothing, 204),
    "POST /campaigns/{campaignId}/webhook/secret": (_draft, 200),
    "GET /console": (_nothing, 308),
    "GET /console/{proxy+}": (_nothing, 200),
}
# The console's routes answer its files (a redirect to its page, then HTML); every other route JSON.
CONTENT_TYPES = {"GET /console/{proxy+}": "text/html; charset=utf-8"}
# Events of requests that take a route another event file already calls, and what they answer. /console/
# has no route of its own (an HTTP API route's path may not end in "/"): API Gateway gives it GET /console,
# with the slash kept in rawPath, and the console answers its page there, as at /console/index.html.
OTHER_EVENTS = {"api/console_folder.json": (200, "text/html; charset=utf-8")}


def _event_files() -> dict[str, str]:
    """routeKey -> the event file in events/api/ that calls it."""
    files: dict[str, str] = {}
    for path in sorted((EVENTS / "api").glob("*.json")):
        route_key = json.loads(path.read_text())["routeKey"]
        files.setdefault(route_key, f"api/{path.name}")
    return files


def _api_routes(template: Template) -> list[str]:
    return [r.route_key for r in template.http_routes() if r.function == "ApiFunction"]


def test_every_route_of_the_api_function_has_an_event_file(aws_env: Template) -> None:
    routes = _api_routes(aws_env)
    assert len(routes) >= 17
    missing = sorted(set(routes) - set(_event_files()))
    assert not missing, f"routes without an event in events/api/: {missing}"
    assert set(routes) == set(EXPECTED), "a route was added or removed: say here what it needs and answers"


@pytest.mark.parametrize("route_key", sorted(EXPECTED))
def test_each_event_answers_what_the_contract_says(api: Api, route_key: str) -> None:
    needs, status = EXPECTED[route_key]
    params = needs(api)
    event: dict[str, Any] = load_event(_event_files()[route_key])
    body = {**json.loads(event["body"]), **params.pop("body")} if "body" in params else None
    query = params.pop("query", None)
    answer = api.call_event("api", event, params or None, body=body, query=query)
    assert answer.status == status, (route_key, answer.body)
    if status == 308:
        assert answer.headers["location"] == "console/index.html"
    elif status != 204:
        assert answer.headers["content-type"] == CONTENT_TYPES.get(route_key, "application/json")


@pytest.mark.parametrize("event_file", sorted(OTHER_EVENTS))
def test_each_other_event_answers_what_it_should(api: Api, event_file: str) -> None:
    status, content_type = OTHER_EVENTS[event_file]
    answer = api.call("api", event_file)
    assert answer.status == status, (event_file, answer.body)
    assert answer.headers["content-type"] == content_type
    if event_file == "api/console_folder.json":
        page = api.call("api", "api/console_asset.json")
        assert (answer.body, answer.headers["etag"]) == (page.body, page.headers["etag"])
