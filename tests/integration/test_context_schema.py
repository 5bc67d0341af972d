"""A campaign's contextSchema is hostile text: it is interpreted, bounded and never run, on create,
PATCH, review, preview and trigger; and what a failed check reports never quotes the context."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import Api, load_event, trigger_body

TRACE = "CONTEXT_SCHEMA_BREAKOUT"
CODE = f"__import__('os').environ.__setitem__('{TRACE}','1')"
# fastjsonschema escaped `"` but not `\`: `\"` closed its string literal, `:#` ended the line.
KEY = f'x\\" in data or {CODE} or 1:#'
VALUE = f'x\\" or {CODE}:#'
# A valid regex holding the same text (the parentheses group, `\"` is a quote)
PATTERN = f'^x\\" or {CODE}:#$'

BASE = {
    "type": "object",
    "required": ["orderId"],
    "properties": {"orderId": {"type": "string"}, "total": {"type": "string"}},
}


def _with(**extra: Any) -> dict[str, Any]:
    schema = copy.deepcopy(BASE)
    for keyword, value in extra.items():
        if keyword == "properties":
            schema["properties"].update(value)
        elif keyword == "required":
            schema["required"] += value
        else:
            schema[keyword] = value
    return schema


# Every place in a schema where the author's text could reach a code generator.
POSITIONS = {
    "property name": _with(properties={KEY: {"type": "string"}}),
    "required": _with(properties={KEY: {}}, required=[KEY]),
    "dependencies": _with(dependencies={KEY: {"type": "object"}}),
    "dependentRequired": _with(dependentRequired={KEY: ["orderId"], "orderId": [KEY]}),
    "dependentSchemas": _with(dependentSchemas={KEY: {"required": [KEY]}}),
    "pattern": _with(properties={"code": {"type": "string", "pattern": PATTERN}}),
    "patternProperties": _with(patternProperties={PATTERN: {"type": "string"}}),
    "propertyNames": _with(propertyNames={"pattern": "^(?!x\\\\).*", "not": {"const": VALUE}}),
    "enum": _with(properties={"code": {"enum": [VALUE, KEY, 1]}}),
    "const": _with(properties={"code": {"const": VALUE}}),
    "$ref": _with(properties={"code": {"$ref": "#/$defs/hostile"}}, **{"$defs": {"hostile": {"const": VALUE}}}),
    "$ref to a hostile name": _with(
        properties={"code": {"$ref": "#/$defs/" + KEY.replace("~", "~0").replace("/", "~1")}},
        **{"$defs": {KEY: {"type": "string"}}},
    ),
    "format": _with(properties={"code": {"type": "string", "format": VALUE}}),
    "title and description": _with(title=VALUE, description=KEY, properties={"code": {"title": KEY}}),
}


def _route(route_key: str) -> dict[str, Any]:
    event = load_event("api/get_campaign.json")
    method, _ = route_key.split(" ", 1)
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["requestContext"]["http"]["method"] = method
    return event


def _campaign_body(schema: Any) -> dict[str, Any]:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    body["contextSchema"] = schema
    return body


@pytest.fixture
def no_trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TRACE, raising=False)
    yield
    monkeypatch.delenv(TRACE, raising=False)


def _hostile_contexts() -> list[dict[str, Any]]:
    return [
        {"orderId": "1", "total": "$1"},
        {"orderId": "2", "total": "$1", KEY: "x", "code": VALUE},
        {"orderId": "3", "total": "$1", "code": KEY, "x\\": 1},
    ]


def test_schema_text_in_every_position_is_data_on_create_review_preview_and_trigger(api: Api, no_trace: None) -> None:
    # One test for every position: fastjsonschema ran (or crashed on) some and not others, and any
    # one of them running again is the same defect.
    for position, schema in POSITIONS.items():
        _hostile_schema_is_data(api, position, schema)


def _hostile_schema_is_data(api: Api, position: str, schema: dict[str, Any]) -> None:
    # Given a campaign author who puts code-shaped text into one position of the contextSchema
    # When the campaign is created, reviewed, previewed, activated and triggered
    created = api.call("api", "api/create_campaign.json", body=_campaign_body(schema))
    assert created.status in (201, 400), (position, created.body)
    assert TRACE not in os.environ, f"create ran the schema's text ({position})"
    if created.status == 400:
        assert "contextSchema" in {e["field"] for e in created.body["errors"]}, position
        return
    campaign_id = created.body["id"]
    path = {"campaignId": campaign_id}

    review = api.call_event("api", _route("POST /campaigns/{campaignId}/review"), path)
    assert review.status == 200, (position, review.body)
    assert TRACE not in os.environ, f"review ran the schema's text ({position})"

    for context in _hostile_contexts():
        preview = api.call_event("api", _route("POST /campaigns/{campaignId}/preview"), path, body={"context": context})
        assert preview.status in (200, 422), (position, preview.body)
    assert TRACE not in os.environ, f"preview ran the schema's text ({position})"

    activated = api.call("api", "api/activate_campaign.json", path_params=path)
    assert activated.status == 200, (position, activated.body)
    recipients = [
        {"userId": f"user{i}@example.com", "namespace": "email", "context": context}
        for i, context in enumerate(_hostile_contexts())
    ]
    answer = api.trigger(trigger_body(campaign_id, recipients, context=None))

    # Then every step answers as usual, per recipient, and nothing the author wrote ran
    assert answer.status == 202, (position, answer.body)
    assert TRACE not in os.environ, f"the trigger ran the schema's text ({position})"
    verdicts = [(r["status"], r.get("reason")) for r in answer.body["recipients"]]
    assert ("accepted", None) in verdicts, f"a context that fits the schema is accepted ({position})"
    assert all(status == "accepted" or reason == "invalid_context" for status, reason in verdicts), position


# ---------------------------------------------------------------------------------------------
# $ref: nothing is fetched
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def schema_server() -> Iterator[tuple[str, list[str]]]:
    """A web server holding a schema, and the paths it was asked for."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_an_external_ref_is_refused_and_never_fetched(api: Api, schema_server: tuple[str, list[str]]) -> None:
    base_url, hits = schema_server
    for ref in (f"{base_url}/schema.json", "file:///etc/passwd", "other.json#/x"):
        # Given a schema whose $ref points outside it
        schema = _with(properties={"orderId": {"$ref": ref}})

        # When a campaign is created with it, then refused naming contextSchema and the reference
        created = api.call("api", "api/create_campaign.json", body=_campaign_body(schema))
        assert created.status == 400, created.body
        [error] = [e for e in created.body["errors"] if e["field"] == "contextSchema"]
        assert "$ref" in error["message"]
        assert ref in error["message"]
        assert "outside the schema" in error["message"]

        # And a PATCH that sets it is refused the same way
        draft = api.create_campaign()
        patched = api.call(
            "api", "api/patch_campaign.json", path_params={"campaignId": draft["id"]}, body={"contextSchema": schema}
        )
        assert patched.status == 400, patched.body
        assert "contextSchema" in {e["field"] for e in patched.body["errors"]}

    # And nothing was ever fetched
    assert hits == []


def test_a_ref_inside_the_schema_still_works(api: Api) -> None:
    schema = _with(properties={"total": {"$ref": "#/$defs/money"}}, **{"$defs": {"money": {"type": "string"}}})
    campaign = api.live_campaign(contextSchema=schema)
    recipients = [
        {"userId": "a@example.com", "context": {"orderId": "1", "total": "$1"}},
        {"userId": "b@example.com", "context": {"orderId": "2", "total": 1}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    verdicts = {r["userId"]: r for r in answer.body["recipients"]}
    assert verdicts["a@example.com"]["status"] == "accepted"
    assert verdicts["b@example.com"]["detail"] == "$.total: must be of type string"


# ---------------------------------------------------------------------------------------------
# Size, depth, patterns
# ---------------------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def test_an_oversize_or_overdeep_schema_is_refused_naming_the_limit(api: Api) -> None:
    big = _with(properties={f"field{i}": {"type": "string", "description": "x" * 200} for i in range(400)})
    deep = _with(properties={"nested": _nested(20)})

    for schema, limit in ((big, "64 KB"), (deep, "32 levels")):
        created = api.call("api", "api/create_campaign.json", body=_campaign_body(schema))
        assert created.status == 400, created.body
        assert created.headers["content-type"] == "application/problem+json"
        [error] = [e for e in created.body["errors"] if e["field"] == "contextSchema"]
        assert limit in error["message"]

    # A merge patch that grows the stored schema past the limit is refused too, though the patch alone fits
    def fields(prefix: str) -> dict[str, Any]:
        return {f"{prefix}{i}": {"type": "string", "description": "x" * 200} for i in range(200)}

    draft = api.create_campaign(contextSchema=_with(properties=fields("first")))
    grow = {"contextSchema": {"properties": fields("second")}}
    patched = api.call("api", "api/patch_campaign.json", path_params={"campaignId": draft["id"]}, body=grow)
    assert patched.status == 400, patched.body
    assert patched.body["errors"][0]["field"] == "contextSchema"
    assert "64 KB" in patched.body["errors"][0]["message"]

    # And a schema within the limits is accepted
    assert api.create_campaign(contextSchema=_with(properties={"nested": _nested(10)}))["status"] == "draft"


def test_a_pattern_the_engine_cannot_use_is_refused_naming_it(api: Api) -> None:
    for pattern, reason in (
        ("(unclosed", "missing )"),
        # The engine unrolls counted repeats: this one alone took a second and 250 MB to compile
        ("(?:a{1000}){1000}", "multiply out to more than 10000 items"),
        ("(" * 3000 + ")" * 3000, "cannot be used"),
    ):
        schema = _with(properties={"code": {"type": "string", "pattern": pattern}})
        created = api.call("api", "api/create_campaign.json", body=_campaign_body(schema))
        assert created.status == 400, created.body
        [error] = [e for e in created.body["errors"] if e["field"] == "contextSchema"]
        assert "contextSchema.properties.code.pattern" in error["message"]
        assert pattern[:20] in error["message"]
        assert reason in error["message"]


def test_catastrophic_patterns_fail_their_recipient_instead_of_hanging(api: Api) -> None:
    # Given patterns that backtrack exponentially on a near-miss (seconds each with Python's re)
    schema = _with(
        properties={
            "nested": {"type": "string", "pattern": "(a+)+$"},
            "alternating": {"type": "string", "pattern": "(a|aa)+$"},
        },
        patternProperties={"^(b|bb)+$": {"type": "integer"}},
        additionalProperties={"type": "string"},
    )
    campaign = api.live_campaign(contextSchema=schema)
    recipients = [
        {"userId": "ok@example.com", "context": {"orderId": "1", "total": "$1", "alternating": "aaaa"}},
        {"userId": "nested@example.com", "context": {"orderId": "2", "nested": "a" * 25 + "!"}},
        {"userId": "alternating@example.com", "context": {"orderId": "3", "alternating": "a" * 34 + "!"}},
        {"userId": "key@example.com", "context": {"orderId": "4", "b" * 34 + "!": "x"}},
        {"userId": "long@example.com", "context": {"orderId": "5", "alternating": "a" * 20_000}},
    ]

    # When the campaign is triggered for recipients whose strings are the near-misses
    started = time.monotonic()
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    elapsed = time.monotonic() - started

    # Then the call answers promptly, and only those recipients fail, naming the path and the pattern problem
    assert answer.status == 202, answer.body
    assert elapsed < 5, f"the trigger took {elapsed:.1f} s"
    verdicts = {r["userId"]: r for r in answer.body["recipients"]}
    assert verdicts["ok@example.com"]["status"] == "accepted"
    assert verdicts["nested@example.com"]["detail"] == "$.nested: must match the pattern (a+)+$"
    assert verdicts["alternating@example.com"]["reason"] == "invalid_context"
    assert verdicts["alternating@example.com"]["detail"].startswith("$.alternating: cannot be matched")
    assert verdicts["key@example.com"]["reason"] == "invalid_context"
    assert verdicts["long@example.com"]["detail"].startswith("$.alternating: is over 10000 characters")


def test_a_call_full_of_slow_strings_spends_a_bounded_time(api: Api) -> None:
    schema = _with(properties={"alternating": {"type": "string", "pattern": "(a|aa)+$"}})
    campaign = api.live_campaign(contextSchema=schema)
    recipients = [
        {"userId": f"user{i}@example.com", "context": {"orderId": str(i), "alternating": "a" * 32 + "!"}}
        for i in range(20)
    ]
    recipients.append({"userId": "fine@example.com", "context": {"orderId": "x"}})

    started = time.monotonic()
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    elapsed = time.monotonic() - started

    assert answer.status == 202, answer.body
    assert elapsed < 5, f"the trigger took {elapsed:.1f} s"
    verdicts = {r["userId"]: r for r in answer.body["recipients"]}
    assert all(verdicts[f"user{i}@example.com"]["reason"] == "invalid_context" for i in range(20))
    assert verdicts["fine@example.com"]["status"] == "accepted", "a recipient whose strings need no pattern is served"


# ---------------------------------------------------------------------------------------------
# What a failed check says: the path and the rule, never the value (item 7)
# ---------------------------------------------------------------------------------------------


def test_invalid_context_details_name_the_path_and_rule_but_never_the_value(api: Api) -> None:
    schema = _with(
        properties={
            "ssn": {"type": "integer"},
            "contact": {"type": "object", "properties": {"phone": {"type": "string", "pattern": "^\\+[0-9]+$"}}},
            "email": {"type": "string", "format": "email"},
            "tier": {"enum": ["gold", "silver"]},
            "note": {"type": "string", "maxLength": 5},
        },
        additionalProperties=False,
    )
    campaign = api.live_campaign(contextSchema=schema)
    personal = {
        "ssn": ("078-05-1120", "$.ssn: must be of type integer"),
        "contact": ({"phone": "Ada Lovelace 0207 946 0018"}, "$.contact.phone: must match the pattern ^\\+[0-9]+$"),
        "email": ("ada lovelace at example", "$.email: must be a valid email"),
        "tier": ("Ada's platinum plan", "$.tier: must be one of the values the schema lists"),
        "note": ("diagnosed with something", "$.note: must be at most 5 characters long"),
        "Ada Lovelace": ("12 Baker Street", "$['Ada Lovelace']: is not allowed (additionalProperties)"),
    }
    recipients = [
        {"userId": f"{name.replace(' ', '')}@example.com", "context": {"orderId": "1", name: value}}
        for name, (value, _) in personal.items()
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    assert answer.status == 202, answer.body

    status = api.execution(answer.body["executionId"], limit="100")
    assert status.status == 200
    details = {r["userId"]: r.get("detail") for r in status.body["recipients"]}
    immediate = {r["userId"]: r.get("detail") for r in answer.body["recipients"]}
    for name, (value, expected) in personal.items():
        user = f"{name.replace(' ', '')}@example.com"
        assert immediate[user] == expected
        assert details[user] == expected
        shown = json.dumps(value) if not isinstance(value, str) else value
        assert shown not in json.dumps(status.body)
        assert "Ada Lovelace 0207" not in json.dumps(status.body)

    # And a preview with the same data answers 422 naming the field, without the value either
    preview = api.call_event(
        "api",
        _route("POST /campaigns/{campaignId}/preview"),
        {"campaignId": campaign["id"]},
        body={"context": {"orderId": "1", "total": "$1", "ssn": "078-05-1120"}},
    )
    assert (preview.status, preview.body["code"]) == (422, "invalid_context")
    assert preview.body["errors"] == [{"field": "context.ssn", "message": "must be of type integer"}]
    assert "078-05-1120" not in json.dumps(preview.body)


# ---------------------------------------------------------------------------------------------
# Review: required but not in properties (item 8)
# ---------------------------------------------------------------------------------------------


def test_a_variable_the_schema_requires_blocks_activation_only_where_the_schema_forbids_it(api: Api) -> None:
    review = _route("POST /campaigns/{campaignId}/review")
    # Given templates that read context.total, which the schema requires but does not list in properties
    open_schema = {"type": "object", "required": ["orderId", "total"], "properties": {"orderId": {"type": "string"}}}
    campaign = api.create_campaign(contextSchema=open_schema)

    # Then review warns but does not block, and the campaign activates
    answer = api.call_event("api", review, {"campaignId": campaign["id"]})
    assert answer.body["ok"] is True, answer.body
    assert {(w["code"], w["field"]) for w in answer.body["warnings"]} >= {
        ("undescribed_context_variable", "content.locales.en-US.html")
    }
    activated = api.call("api", "api/activate_campaign.json", path_params={"campaignId": campaign["id"]})
    assert activated.status == 200, activated.body

    # But where the schema forbids keys it does not list, no context can have it: an error that blocks activation
    for closed in ({"additionalProperties": False}, {"unevaluatedProperties": False}):
        campaign = api.create_campaign(contextSchema={**open_schema, **closed})
        answer = api.call_event("api", review, {"campaignId": campaign["id"]})
        assert answer.body["ok"] is False
        [error] = [e for e in answer.body["errors"] if e["field"] == "content.locales.en-US.html"]
        assert error["code"] == "undefined_context_variable"
        assert "context.total" in error["message"]
        blocked = api.call("api", "api/activate_campaign.json", path_params={"campaignId": campaign["id"]})
        assert blocked.status == 422


def test_non_finite_numbers_and_endless_self_references_are_refused(api: Api) -> None:
    # Given numbers JSON cannot store (Python's parser reads NaN and 1e400): refused, not silently nulled
    body = json.dumps(_campaign_body(_with(properties={"total": {"type": "number", "maximum": 1}})))
    for number in ("1e400", "NaN", "-Infinity"):
        created = api.call(
            "api", "api/create_campaign.json", raw_body=body.replace('"maximum": 1', f'"maximum": {number}')
        )
        assert created.status == 400, created.body
        assert created.body["errors"] == [
            {"field": "contextSchema", "message": "contextSchema: numbers must be finite (no NaN or Infinity)"}
        ]

    # Given a schema whose $ref loops back on itself without reading into the context
    endless = _with(**{"$ref": "#/$defs/loop", "$defs": {"loop": {"$ref": "#/$defs/loop"}}})
    campaign = api.create_campaign(contextSchema=endless)

    # Then review says so and activation is refused, instead of every recipient failing later
    review = api.call_event("api", _route("POST /campaigns/{campaignId}/review"), {"campaignId": campaign["id"]})
    [error] = review.body["errors"]
    assert (error["field"], error["code"]) == ("contextSchema", "invalid_context_schema")
    assert "refers to itself without end" in error["message"]
    activated = api.call("api", "api/activate_campaign.json", path_params={"campaignId": campaign["id"]})
    assert activated.status == 422
