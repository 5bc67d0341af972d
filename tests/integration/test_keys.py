"""API keys through /keys and the authorizer: shown once, stored hashed, revoked and expired keys
refused (within the gateway's cache time), rotation, last use, and junk keys refused unread."""

from __future__ import annotations

import base64
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine

from local import gateway
from local.gateway import LambdaAuthorizer, Request
from local.template import Template
from tests.conftest import Api, HttpAnswer, invoke, load_event


def _admin() -> dict[str, Any]:
    return {"authenticated": True, "keyId": "key_admin0000000000", "scopes": "admin"}


def _create(api: Api, body: dict[str, Any], authorizer: dict[str, Any] | None = None) -> HttpAnswer:
    return api.call("api", "api/create_key.json", body=body, authorizer=authorizer or _admin())


def _new_key(api: Api, **body: Any) -> dict[str, Any]:
    answer = _create(api, {"name": "ci", "scopes": ["campaigns:read"], **body})
    assert answer.status == 201, answer.body
    return answer.body


def _authorize(key: str) -> dict[str, Any]:
    """What the authorizer hands the functions for `Authorization: Bearer <key>`."""
    event = load_event("authorizer/request.json")
    event["headers"]["authorization"] = f"Bearer {key}"
    answer = invoke("authorizer", event)
    assert answer["isAuthorized"] is True, "the functions answer 401 themselves, as problem+json"
    return dict(answer["context"])


def _list(api: Api, authorizer: dict[str, Any] | None = None) -> HttpAnswer:
    return api.call("api", "api/list_keys.json", authorizer=authorizer or _admin())


def _revoke(api: Api, key_id: str, authorizer: dict[str, Any] | None = None) -> HttpAnswer:
    return api.call("api", "api/revoke_key.json", path_params={"keyId": key_id}, authorizer=authorizer or _admin())


def _rotate(api: Api, key_id: str, body: dict[str, Any] | None = None) -> HttpAnswer:
    """POST /keys/{id}/rotate, with no body at all unless `body`."""
    return api.call(
        "api",
        "api/rotate_key.json",
        path_params={"keyId": key_id},
        raw_body="" if body is None else None,
        body=body,
        authorizer=_admin(),
    )


def _listed(api: Api, key_id: str) -> dict[str, Any]:
    return next(k for k in _list(api).body["items"] if k["id"] == key_id)


def test_a_key_is_shown_once_and_works_with_its_scopes_and_labels(api: Api, aws_env: Template) -> None:
    created = _new_key(api, scopes=["campaigns:trigger", "reports:read"], labels=["finance"])
    key = created["key"]
    assert key.startswith("tck_")
    assert created["id"].startswith("key_")
    assert created["status"] == "active"
    assert created["lastUsedAt"] is None
    assert created["createdBy"] == "key_admin0000000000"

    context = _authorize(key)
    assert context == {
        "authenticated": True,
        "keyId": created["id"],
        "scopes": "campaigns:trigger reports:read",
        "labels": "finance",
    }

    listed = _list(api)
    assert listed.status == 200
    mine = _listed(api, created["id"])
    assert mine["name"] == "ci"
    assert mine["scopes"] == ["campaigns:trigger", "reports:read"]
    assert mine["labels"] == ["finance"]
    assert "key" not in mine
    read = api.call("api", "api/get_key.json", path_params={"keyId": created["id"]}, authorizer=_admin())
    assert read.status == 200
    assert "key" not in read.body
    stored = boto3.client("dynamodb").scan(TableName=aws_env.table_name("ApiKeysTable"))["Items"]
    for shown in (str(listed.body), str(read.body), str(stored)):
        assert key not in shown, "the key is shown once, never listed nor stored"
    for shown in (str(listed.body), str(read.body)):
        assert stored[0]["keyHash"]["S"] not in shown, "nor is its hash"


def test_a_key_may_have_exactly_the_scopes_the_platform_checks() -> None:
    from typing import get_args

    from campaign_engine.api_keys import Scope
    from campaign_engine.auth import SCOPES

    assert set(get_args(Scope)) == set(SCOPES)


def test_only_an_admin_key_manages_keys(api: Api) -> None:
    target = _new_key(api)["id"]
    reader = {"authenticated": True, "keyId": "key_reader", "scopes": "campaigns:read campaigns:write reports:read"}
    answers = [
        _create(api, {"name": "x", "scopes": ["campaigns:read"]}, authorizer=reader),
        _list(api, authorizer=reader),
        api.call("api", "api/get_key.json", path_params={"keyId": target}, authorizer=reader),
        _revoke(api, target, authorizer=reader),
        api.call("api", "api/rotate_key.json", path_params={"keyId": target}, body={}, authorizer=reader),
    ]
    assert [(a.status, a.body["code"]) for a in answers] == [(403, "forbidden")] * 5
    assert "'admin'" in answers[0].body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["campaigns:everything"]}, "scopes[0]"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x\r\nBcc: someone", "scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "labels": ["finance"]}, "labels"),
        ({"name": "x", "scopes": ["campaigns:read"], "labels": ["a,b"]}, "labels"),
        ({"name": "x", "scopes": ["campaigns:read"], "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "x", "scopes": ["campaigns:read"], "expiresAt": "2030-01-01T00:00:00"}, "expiresAt"),
        ({"scopes": ["campaigns:read"]}, "name"),
    ],
)
def test_a_bad_key_request_names_its_field(api: Api, body: dict[str, Any], field: str) -> None:
    answer = _create(api, body)
    assert (answer.status, answer.body["code"]) == (400, "validation_failed"), answer.body
    assert field in [e["field"] for e in answer.body["errors"]], answer.body


def _api_answer_for(context: dict[str, Any], api: Api) -> HttpAnswer:
    return api.call("api", "api/list_campaigns.json", authorizer=context)


def test_a_revoked_key_is_refused_once_the_gateway_cache_expires(
    api: Api, aws_env: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the gateway's authorizer cache, with the template's TTL: the key works until the cached answer
    expires (at most 5 minutes), then every function answers 401."""
    spec = aws_env.authorizers()["ApiKeyAuthorizer"]
    assert 0 < spec.ttl_seconds <= 300, "the contract promises at most 5 minutes"
    clock = [1000.0]
    monkeypatch.setattr(gateway.time, "monotonic", lambda: clock[0])
    cached = LambdaAuthorizer(spec, _Authorizer())
    key = _new_key(api)
    request = Request("GET", "/campaigns", "", {"authorization": f"Bearer {key['key']}"})

    def through_gateway() -> HttpAnswer:
        outcome = cached.authorize(request, _event_with(request, "api/list_campaigns.json"))
        assert isinstance(outcome, dict)
        return _api_answer_for(outcome, api)

    assert through_gateway().status == 200
    assert _revoke(api, key["id"]).status == 204
    assert _listed(api, key["id"])["status"] == "revoked"
    assert _authorize(key["key"]) == {"authenticated": False, "error": "revoked_key"}
    clock[0] += spec.ttl_seconds - 1
    assert through_gateway().status == 200, "the cached answer stands until its time is up"
    clock[0] += 2
    refused = through_gateway()
    assert (refused.status, refused.body["code"]) == (401, "unauthorized")
    assert "revoked" in refused.body["detail"]
    assert _revoke(api, key["id"]).status == 204, "revoking again changes nothing"


def _event_with(request: Request, sample: str) -> dict[str, Any]:
    """The sample event with the request's headers, as the gateway builds it."""
    return {**load_event(sample), "headers": dict(request.headers)}


class _Authorizer:
    """The template's authorizer function, as the gateway invokes it."""

    def invoke(self, event: dict[str, Any]) -> Any:
        return invoke("authorizer", event)


def test_an_expired_key_is_refused(api: Api) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    key = _new_key(api, expiresAt=expires.isoformat())
    assert key["expiresAt"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _authorize(key["key"])["authenticated"] is True
    with time_machine.travel(expires + timedelta(seconds=1)):
        context = _authorize(key["key"])
        assert context == {"authenticated": False, "error": "expired_key"}
        refused = _api_answer_for(context, api)
        assert refused.status == 401
        assert "expired" in refused.body["detail"]
        assert _listed(api, key["id"])["status"] == "expired"


def test_the_last_admin_key_cannot_be_revoked(api: Api) -> None:
    first = _new_key(api, scopes=["admin"])
    refused = _revoke(api, first["id"])
    assert (refused.status, refused.body["code"]) == (409, "last_admin_key")
    assert _authorize(first["key"])["authenticated"] is True
    second = _new_key(api, scopes=["admin"])
    assert _revoke(api, first["id"]).status == 204
    assert _revoke(api, second["id"]).status == 409, "now the second is the last"


def test_an_unknown_key_id_is_404(api: Api) -> None:
    answer = _revoke(api, "key_nothing")
    assert (answer.status, answer.body["code"]) == (404, "key_not_found")


def test_rotation_makes_a_successor_and_revokes_the_old_key_at_once(api: Api) -> None:
    old = _new_key(api, scopes=["campaigns:trigger"], labels=["finance"])
    rotated = _rotate(api, old["id"])
    assert rotated.status == 201, rotated.body
    new = rotated.body
    assert new["key"] != old["key"]
    assert new["id"] != old["id"]
    assert (new["name"], new["scopes"], new["labels"], new["rotatedFrom"]) == (
        "ci",
        ["campaigns:trigger"],
        ["finance"],
        old["id"],
    )
    assert _authorize(new["key"])["labels"] == "finance"
    assert _authorize(old["key"])["error"] == "revoked_key"
    assert _listed(api, old["id"])["rotatedTo"] == new["id"]
    again = _rotate(api, old["id"])
    assert (again.status, again.body["code"]) == (409, "key_revoked")


def test_rotation_with_a_grace_period_keeps_the_old_key_until_then(api: Api) -> None:
    old = _new_key(api, expiresAt=(datetime.now(UTC) + timedelta(days=90)).isoformat())
    grace = datetime.now(UTC) + timedelta(hours=2)
    new = _rotate(api, old["id"], {"oldKeyExpiresAt": grace.isoformat()}).body
    assert _authorize(old["key"])["authenticated"] is True, "both work during the grace period"
    assert _authorize(new["key"])["authenticated"] is True
    new_lifetime = datetime.fromisoformat(new["expiresAt"]) - datetime.fromisoformat(new["createdAt"])
    assert new_lifetime == timedelta(days=90), "a key made to expire keeps its lifetime"
    twice = _rotate(api, old["id"])
    assert (twice.status, twice.body["code"]) == (409, "key_already_rotated")
    with time_machine.travel(grace + timedelta(seconds=1)):
        assert _authorize(old["key"])["error"] == "expired_key"
        assert _authorize(new["key"])["authenticated"] is True


def test_last_use_is_written_at_most_every_15_minutes(api: Api, dynamodb_calls: list[str]) -> None:
    key = _new_key(api)
    dynamodb_calls.clear()
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(20):
            assert _authorize(key["key"])["authenticated"] is True
        first_use = _listed(api, key["id"])["lastUsedAt"]
        assert first_use == start.strftime("%Y-%m-%dT%H:%M:%SZ")
        clock.shift(timedelta(minutes=14))
        _authorize(key["key"])
        assert _listed(api, key["id"])["lastUsedAt"] == first_use
        clock.shift(timedelta(minutes=2))
        _authorize(key["key"])
        assert _listed(api, key["id"])["lastUsedAt"] > first_use
    assert dynamodb_calls.count("UpdateItem") == 2, "22 uses, two writes"


JUNK = 1000


def _junk(n: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    shapes = [
        lambda: "tck_" + "".join(secrets.choice(alphabet) for _ in range(46)),  # the shape, a wrong checksum
        lambda: "tc_" + secrets.token_urlsafe(32),  # the old shape
        lambda: secrets.token_hex(20),
        lambda: f"' OR {secrets.randbelow(10**9)}=1 --",
    ]
    junk = [shapes[i % len(shapes)]() for i in range(n)]
    assert len(set(junk)) == n
    return junk


def test_a_thousand_junk_keys_cost_no_table_read(api: Api, dynamodb_calls: list[str]) -> None:
    """The figure for the README: 1,000 made-up keys, 1,000 authorizer runs, 0 DynamoDB calls, and every
    function answers 401 without a read either."""
    for token in _junk(JUNK):
        context = _authorize(token)
        assert context == {"authenticated": False, "error": "malformed_key"}
    assert dynamodb_calls == []
    refused = api.trigger({"campaignId": "c"}, authorizer={"authenticated": False, "error": "malformed_key"})
    assert refused.status == 401
    assert "copied whole" in refused.body["detail"]
    assert dynamodb_calls == [], "the trigger answers 401 before reading anything"

    # What the checksum saves: a token of the right shape that is no key costs one read (as every token did)
    from campaign_engine import key_format

    for _ in range(10):
        assert _authorize(key_format.new_key())["error"] == "unknown_key"
    assert dynamodb_calls == ["GetItem"] * 10


def test_repeats_of_one_junk_key_reach_the_authorizer_once_per_cache_period(
    aws_env: Template, dynamodb_calls: list[str]
) -> None:
    runs: list[str] = []

    class Counting(_Authorizer):
        def invoke(self, event: dict[str, Any]) -> Any:
            runs.append(event["headers"]["authorization"])
            return super().invoke(event)

    cached = LambdaAuthorizer(aws_env.authorizers()["ApiKeyAuthorizer"], Counting())
    keys = _junk(10)
    for n in range(JUNK):
        request = Request("POST", "/im/executions/unitary", "", {"authorization": f"Bearer {keys[n % 10]}"})
        cached.authorize(request, _event_with(request, "trigger/unitary.json"))
    assert len(runs) == 10, "1,000 requests with 10 junk keys: 10 authorizer runs"
    assert dynamodb_calls == []


def test_a_chosen_key_without_the_checksum_works_only_where_unchecked_keys_are_accepted(
    aws_env: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.auth import create_api_key
    from local import harness

    key = create_api_key("local-admin", ["admin"], key="my-own-local-admin-key")
    assert _authorize(key)["error"] == "malformed_key"
    monkeypatch.setenv("ACCEPT_UNCHECKED_KEYS", "true")
    harness.reset_containers()
    assert _authorize(key)["authenticated"] is True


def test_a_stack_set_to_refuse_bad_keys_at_the_gateway_runs_no_function_for_them(
    api: Api, aws_env: Template, monkeypatch: pytest.MonkeyPatch, dynamodb_calls: list[str]
) -> None:
    from local import harness

    monkeypatch.setenv("REFUSE_UNKNOWN_KEYS_AT_GATEWAY", "true")
    harness.reset_containers()
    key = _new_key(api)["key"]
    cached = LambdaAuthorizer(aws_env.authorizers()["ApiKeyAuthorizer"], _Authorizer())

    def answer(token: str) -> Any:
        request = Request("GET", "/campaigns", "", {"authorization": f"Bearer {token}"})
        return cached.authorize(request, _event_with(request, "api/list_campaigns.json"))

    refused = answer("tc_made-up-key-0000000000000000")
    assert isinstance(refused, gateway.Response), "API Gateway answers; no function runs"
    assert (refused.status, refused.body) == (403, b'{"message": "Forbidden"}')
    assert "GetItem" not in dynamodb_calls, "refused unread"
    assert answer(key)["authenticated"] is True, "a valid key is let through as ever"


def test_times_out_of_range_and_forged_page_tokens_are_400s(api: Api) -> None:
    far = _create(api, {"name": "x", "scopes": ["campaigns:read"], "expiresAt": "9999-12-31T23:59:59-23:59"})
    assert (far.status, far.body["errors"][0]["field"]) == (400, "expiresAt")
    old = _new_key(api, expiresAt="9998-12-31T00:00:00Z")
    rotated = _rotate(api, old["id"])
    assert rotated.status == 201
    assert rotated.body["expiresAt"] <= "9999-01-01T00:00:00Z"
    for token in ("not-a-token", base64.urlsafe_b64encode(b'{"h": ""}').decode(), base64.b64encode(b"[1]").decode()):
        answer = api.call("api", "api/list_keys.json", query={"nextToken": token}, authorizer=_admin())
        assert (answer.status, answer.body["code"]) == (400, "invalid_next_token"), token


def test_the_list_pages_through_every_key(api: Api) -> None:
    made = {_new_key(api, name=f"k{n}")["id"] for n in range(5)}
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        page = api.call("api", "api/list_keys.json", query=query, authorizer=_admin()).body
        assert len(page["items"]) <= 2
        seen += [k["id"] for k in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert sorted(seen) == sorted(made)
