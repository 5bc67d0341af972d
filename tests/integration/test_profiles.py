"""PUT, GET and DELETE /profiles/{namespace}/{id}: what a caller stores is what it reads back,
a PUT replaces the whole profile (createdAt kept), and every refusal names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, HttpAnswer, load_event

ADA = {"namespace": "crm", "profileId": "cust-10042"}


def put(api: Api, body: dict[str, Any], params: dict[str, str] = ADA, scopes: str | None = None) -> HttpAnswer:
    return api.call("api", "api/put_profile.json", body=body, path_params=params, scopes=scopes)


def get(api: Api, params: dict[str, str] = ADA, scopes: str | None = None) -> HttpAnswer:
    return api.call("api", "api/get_profile.json", path_params=params, scopes=scopes)


def sample() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event("api/put_profile.json")["body"])
    return body


def fields(answer: HttpAnswer) -> dict[str, str]:
    assert answer.headers["content-type"] == "application/problem+json", answer.body
    return {e["field"]: e["message"] for e in answer.body["errors"]}


def test_a_profile_put_is_read_back_as_stored(api: Api) -> None:
    # Given a profile with every field, numbers, booleans and nested attributes
    body = sample()
    body["attributes"]["scores"] = {"ratio": 1.5, "count": 10, "vip": True, "note": None, "tags": ["a", "b"]}

    # When it is put with a profiles:write key, and read with a campaigns:read key
    written = put(api, body, scopes="profiles:write")
    read = get(api, scopes="campaigns:read")

    # Then both answers are the profile as sent, with its identity and times
    assert written.status == 200, written.body
    assert read.status == 200, read.body
    assert read.body == written.body
    profile = read.body
    assert (profile["namespace"], profile["id"]) == ("crm", "cust-10042")
    for name in ("email", "phone", "pushTokens", "preferredLanguage", "timezone", "consents", "attributes"):
        assert profile[name] == body[name], name
    assert profile["createdAt"] == profile["updatedAt"]
    assert profile["createdAt"].endswith("Z")


def test_a_put_replaces_the_profile_and_keeps_when_it_was_created(api: Api) -> None:
    first = put(api, sample())
    assert first.status == 200, first.body

    second = put(api, {"email": "ada.l@example.com", "attributes": {"tier": "silver"}})

    assert second.status == 200, second.body
    assert second.body["createdAt"] == first.body["createdAt"]
    assert second.body["email"] == "ada.l@example.com"
    assert second.body["attributes"] == {"tier": "silver"}
    for gone in ("phone", "pushTokens", "preferredLanguage", "timezone", "consents"):
        assert gone not in second.body, gone
    assert get(api).body == second.body


def test_an_unknown_profile_is_404(api: Api) -> None:
    answer = get(api, {"namespace": "crm", "profileId": "nobody"})
    assert answer.status == 404
    assert answer.body["code"] == "profile_not_found"


@pytest.mark.parametrize(
    ("call", "scopes"),
    [("put", "campaigns:write"), ("put", "campaigns:read"), ("get", "reports:read"), ("delete", "campaigns:read")],
)
def test_each_route_refuses_a_key_without_its_scope(api: Api, call: str, scopes: str) -> None:
    assert put(api, sample()).status == 200
    if call == "put":
        answer = put(api, sample(), scopes=scopes)
    elif call == "get":
        answer = get(api, scopes=scopes)
    else:
        answer = api.call("api", "api/delete_profile.json", path_params=ADA, scopes=scopes)
    assert answer.status == 403, answer.body
    assert answer.body["code"] == "forbidden"
    assert get(api).status == 200  # nothing changed


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"namespace": "1crm", "profileId": "x"}, "namespace"),
        ({"namespace": "crm space", "profileId": "x"}, "namespace"),
        ({"namespace": "crm", "profileId": "x" * 257}, "profileId"),
    ],
)
def test_a_bad_identity_is_refused_naming_it(api: Api, params: dict[str, str], field: str) -> None:
    for answer in (put(api, sample(), params), get(api, params)):
        assert answer.status == 400, answer.body
        assert answer.body["code"] == "validation_failed"
        assert field in fields(answer)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"phone": "415 555 0100"}, "phone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"preferredLanguage": "english please"}, "preferredLanguage"),
        ({"consents": {"email": "maybe"}}, "consents.email"),
        ({"consents": {"fax": "in"}}, "consents.fax"),
        ({"pushTokens": [{"appID": "a", "platform": "pager", "token": "t"}]}, "pushTokens[0].platform"),
        ({"nickname": "Ada"}, "nickname"),
        ({"attributes": {"score": float("nan")}}, "attributes.score"),
        ({"attributes": {"big": 10**40}}, "attributes.big"),
        ({"attributes": {"list": [1, 1e-200]}}, "attributes.list[1]"),
        ({"attributes": {"": 1}}, "attributes"),
    ],
)
def test_a_bad_field_is_refused_naming_it(api: Api, change: dict[str, Any], field: str) -> None:
    body = {**sample(), **change}
    answer = put(api, body)
    assert answer.status == 400, answer.body
    assert answer.body["code"] == "validation_failed"
    assert field in fields(answer), fields(answer)
    assert get(api).status == 404  # nothing stored


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"attributes": {"name": "\\ud800"}}', "attributes.name"),
        ('{"attributes": {"person": {"\\ud800": 1}}}', "attributes.person"),
    ],
)
def test_text_that_is_not_unicode_is_refused_naming_it(api: Api, raw: str, field: str) -> None:
    answer = api.call("api", "api/put_profile.json", raw_body=raw, path_params=ADA)
    assert answer.status == 400, answer.body
    assert field in fields(answer)


def test_attributes_nested_too_deep_are_refused_naming_where(api: Api) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(20):
        deep = {"d": deep}
    answer = put(api, {"attributes": deep})
    assert answer.status == 400, answer.body
    [(field, message)] = fields(answer).items()
    assert field.startswith("attributes.d.d.")
    assert "deeper" in message


def test_a_profile_over_200_kb_is_refused_naming_its_largest_field(api: Api) -> None:
    answer = put(api, {"email": "ada@example.com", "attributes": {"notes": "x" * (201 * 1024)}})
    assert answer.status == 413, answer.body
    assert answer.body["code"] == "profile_too_large"
    assert "attributes" in fields(answer)
    assert get(api).status == 404

    # Just under the bound it is stored
    assert put(api, {"attributes": {"notes": "x" * (190 * 1024)}}).status == 200
