"""The trigger's fast body check (trigger_body, msgspec) agrees with pydantic's TriggerRequest, the
API's one source of validation: whatever the check passes, pydantic accepts as the same body;
whatever pydantic refuses, the check refuses too (and the caller then gets pydantic's own field
errors)."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from pydantic import ValidationError

from campaign_engine import trigger_body
from campaign_engine.errors import DomainError
from campaign_engine.models import TriggerRequest
from campaign_engine.routes.unitary import parse_call
from campaign_engine.trigger import TriggerCall, body_hash

BASE: dict[str, Any] = {
    "requestId": "r-1",
    "campaignId": "c-1",
    "context": {"order": {"id": 7}},
    "mergePolicyName": "default",
    "recipients": [
        {
            "type": "aep",
            "userId": "ada@example.com",
            "namespace": "email",
            "channelData": {
                "emailAddress": "ada@example.com",
                "mobilePhoneNumber": None,
                "pushInfo": {"appID": "a", "platform": "fcm", "token": "t"},
            },
            "profile": {"firstName": "Ada"},
            "context": {"code": "123456"},
        },
        {"userId": "bob"},
    ],
}
# Values of every JSON type, set in turn at every place of the body.
# Strings one past each bound the body has (32, 64, 254, 256, 4096 characters).
VALUES: list[Any] = [None, "", "x", *("x" * (n + 1) for n in (32, 64, 254, 256, 4096)), 0, 1.5, True, [], [{}], {}]
VALUES.append({"userId": "u"})


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def _mutations() -> list[Any]:
    bodies: list[Any] = [copy.deepcopy(BASE), [], "body", None]
    for path, value in itertools.product(_places(BASE)[1:], VALUES):
        body = copy.deepcopy(BASE)
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
        bodies.append(body)
    for path in _places(BASE)[1:]:  # every key removed in turn
        body = copy.deepcopy(BASE)
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict):
            del parent[path[-1]]
            bodies.append(body)
    bodies.append({**BASE, "recipients": [{"userId": f"u{i}"} for i in range(1001)]})
    bodies.append({**BASE, "recipients": [{"userId": f"u{i}"} for i in range(1000)]})
    bodies.append({**BASE, "campaignId": "c" * 129})
    bodies.append({**BASE, "extra": {"anything": True}})
    return bodies


@pytest.mark.parametrize("body", _mutations())
def test_the_check_and_pydantic_agree(body: Any) -> None:
    try:
        parsed = trigger_body.parse(json.dumps(body))
    except trigger_body.ValidationError:
        parsed = None
    try:
        request = TriggerRequest.model_validate(body)
    except ValidationError:
        request = None
    if parsed is not None:
        assert request is not None, "the fast check passed a body pydantic refuses"
        # ...and it is the same request: the same hash whichever way it came in
        assert body_hash(TriggerCall(parsed)) == body_hash(TriggerCall.from_model(request))
        assert body_hash(TriggerCall(parsed)) == body_hash(TriggerCall.from_value(body))
    if request is None:
        assert parsed is None


def test_a_refused_body_names_every_faulty_field_as_pydantic_does() -> None:
    body = copy.deepcopy(BASE)
    body["campaignId"] = ""
    body["recipients"][1]["userId"] = 7
    with pytest.raises(DomainError) as raised:
        parse_call(json.dumps(body))
    assert raised.value.code == "validation_failed"
    assert {e.field for e in raised.value.errors} == {"campaignId", "recipients[1].userId"}


def test_fields_the_platform_does_not_read_are_accepted_and_not_part_of_the_request() -> None:
    plain = {"campaignId": "c", "recipients": [{"userId": "u"}]}
    extra = {**plain, "traceId": "t-1", "recipients": [{"userId": "u", "segment": "vip"}]}
    assert body_hash(TriggerCall(trigger_body.parse(json.dumps(extra)))) == body_hash(
        TriggerCall(trigger_body.parse(json.dumps(plain)))
    )


@pytest.mark.parametrize("text", ["", "{", "[1,]", '{"a": 1} x', "NaN"])
def test_a_body_that_is_not_json_is_invalid_json(text: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_call(text or " ")
    assert raised.value.code in ("invalid_json", "validation_failed")
    assert raised.value.status == 400


def test_the_body_hash_is_the_same_for_the_same_json_value() -> None:
    a = TriggerCall(trigger_body.parse('{"campaignId":"c","recipients":[{"userId":"é","profile":{"b":1,"a":2}}]}'))
    b = TriggerCall(
        trigger_body.parse(
            '{ "recipients": [ {"profile": {"a": 2, "b": 1}, "userId": "\\u00e9"} ], "campaignId": "c" }'
        )
    )
    assert body_hash(a) == body_hash(b)
