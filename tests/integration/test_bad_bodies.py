"""Bodies a fuzzer sends (schemathesis against the served OpenAPI document): each is a clear 4xx
problem+json on every route with a body, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Api, HttpAnswer, load_event, trigger_body

# (function, event file, needs a campaign id in the path)
BODY_ROUTES = [
    ("api", "api/create_campaign.json", False),
    ("api", "api/patch_campaign.json", True),
    ("api", "api/preview_campaign.json", True),
    ("trigger", "trigger/unitary.json", False),
]
DEEP = 50_000  # tens of thousands of levels: beyond what any JSON parser here can follow


def _send(api: Api, function: str, event_file: str, in_path: bool, **changes: Any) -> HttpAnswer:
    campaign = api.create_campaign()
    event = load_event(event_file)
    if function == "trigger":
        event["body"] = json.dumps(trigger_body(campaign["id"]))
    headers = changes.pop("headers", {})
    event["headers"].update(headers)
    event.update(changes)
    return api.call_event(function, event, {"campaignId": campaign["id"]} if in_path else None)


def _assert_problem(answer: HttpAnswer, status: int, code: str) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["code"] == code, answer.body


@pytest.mark.parametrize(("function", "event_file", "in_path"), BODY_ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_json_sent_as_another_media_type_is_415(
    api: Api, function: str, event_file: str, in_path: bool, content_type: str
) -> None:
    answer = _send(api, function, event_file, in_path, headers={"content-type": content_type})
    _assert_problem(answer, 415, "unsupported_media_type")
    assert answer.body["errors"] == [{"field": "Content-Type", "message": "must be application/json"}]

    for json_type in ("application/json; charset=utf-8", "Application/merge-patch+json"):
        answer = _send(api, function, event_file, in_path, headers={"content-type": json_type})
        assert answer.status < 300 or answer.body["code"] != "unsupported_media_type", answer.body


@pytest.mark.parametrize(("function", "event_file", "in_path"), BODY_ROUTES)
def test_a_body_that_is_not_utf8_is_invalid_json(api: Api, function: str, event_file: str, in_path: bool) -> None:
    not_utf8 = base64.b64encode(b'{"name": "caf\xe9 \xff"}').decode()
    answer = _send(api, function, event_file, in_path, body=not_utf8, isBase64Encoded=True)
    _assert_problem(answer, 400, "invalid_json")
    assert "UTF-8" in answer.body["detail"]


@pytest.mark.parametrize(("function", "event_file", "in_path"), BODY_ROUTES)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_tens_of_thousands_deep_is_invalid_json(
    api: Api, function: str, event_file: str, in_path: bool, opening: str
) -> None:
    closing = "]" if opening == "[" else "}"
    deep = '{"name": ' + opening * DEEP + "1" + closing * DEEP + "}"
    answer = _send(api, function, event_file, in_path, body=deep)
    _assert_problem(answer, 400, "invalid_json")
    assert "nested too deep" in answer.body["detail"]


def test_the_openapi_document_declares_415_on_every_route_with_a_body(api: Api) -> None:
    document = api.call("api", "api/openapi.json").body
    with_a_body = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert with_a_body >= {
        ("post", "/campaigns"),
        ("patch", "/campaigns/{campaignId}"),
        ("post", "/im/executions/unitary"),
    }
    for method, path in with_a_body:
        assert "415" in document["paths"][path][method]["responses"], (method, path)
