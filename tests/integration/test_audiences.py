"""/audiences: static lists filled in chunks (with the profiles they bring), rule audiences,
listing, deletion and scopes - through the API function, as a caller sees them."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_engine import audiences
from campaign_engine.store import audiences as audience_store
from campaign_engine.store import people
from tests.conftest import Api, HttpAnswer


def create(api: Api, body: dict[str, Any], **kwargs: Any) -> HttpAnswer:
    return api.call("api", "api/create_audience.json", body=body, **kwargs)


def add(api: Api, audience_id: str, members: list[dict[str, Any]], **kwargs: Any) -> HttpAnswer:
    return api.call(
        "api",
        "api/add_audience_members.json",
        body={"members": members},
        path_params={"audienceId": audience_id},
        **kwargs,
    )


def read(api: Api, audience_id: str, **kwargs: Any) -> HttpAnswer:
    return api.call("api", "api/get_audience.json", path_params={"audienceId": audience_id}, **kwargs)


def delete(api: Api, audience_id: str) -> HttpAnswer:
    return api.call("api", "api/delete_audience.json", path_params={"audienceId": audience_id})


def emails(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"namespace": "email", "id": f"user{i}@example.com"} for i in range(start, stop)]


def all_members(audience_id: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = audience_store.member_page(audience_id, cursor, limit=300)
        found += page.members
        cursor = page.cursor
        if cursor is None:
            return found


def test_a_static_list_counts_each_member_once_however_often_it_is_sent(api: Api) -> None:
    created = create(api, {"name": "Launch list", "members": emails(0, 10) + emails(5, 8)})
    assert created.status == 201, created.body
    audience_id = created.body["id"]
    assert created.body["kind"] == "static"
    assert created.body["memberCount"] == 10
    assert "rule" not in created.body

    first = add(api, audience_id, emails(5, 1005))  # 5 known, 995 new: one full chunk
    assert first.status == 200, first.body
    assert first.body == {"added": 995, "memberCount": 1005}
    again = add(api, audience_id, emails(1000, 1005) + emails(0, 3))  # a resent chunk adds nothing
    assert again.body == {"added": 0, "memberCount": 1005}

    assert read(api, audience_id).body["memberCount"] == 1005
    members = all_members(audience_id)
    assert len(members) == len(set(members)) == 1005
    assert set(members) == {("email", m["id"]) for m in emails(0, 1005)}


def test_a_recount_is_exact_even_when_the_stored_count_drifted(api: Api) -> None:
    audience_id = create(api, {"name": "Drift", "members": emails(0, 40)}).body["id"]
    audience_store.add_to_count(audience_id, -7, now="2026-12-01T00:00:00Z")  # a count lost to a crash
    assert read(api, audience_id).body["memberCount"] == 33
    counted = read(api, audience_id, query={"count": "true"})
    assert counted.body["memberCount"] == 40
    assert counted.body["countComplete"] is True


def test_members_bring_their_profiles_merged_over_the_stored_ones(api: Api) -> None:
    audience_id = create(api, {"name": "Imported"}).body["id"]
    first = add(
        api,
        audience_id,
        [
            {
                "namespace": "email",
                "id": "ada@example.com",
                "profile": {
                    "email": "ada@example.com",
                    "preferredLanguage": "en-GB",
                    "consents": {"email": "in", "sms": "out"},
                    "attributes": {"tier": "gold", "city": "London"},
                },
            },
            {"namespace": "ecid", "id": "123"},
        ],
    )
    assert first.body == {"added": 2, "memberCount": 2}
    stored = people.get_profiles([("email", "ada@example.com"), ("ecid", "123")])
    assert list(stored) == [("email", "ada@example.com")]  # no profile given: none made
    created_at = stored["email", "ada@example.com"]["createdAt"]

    add(
        api,
        audience_id,
        [
            {
                "namespace": "email",
                "id": "ada@example.com",
                "profile": {"timezone": "Europe/London", "consents": {"sms": "in"}, "attributes": {"tier": "platinum"}},
            }
        ],
    )
    ada = people.get_profiles([("email", "ada@example.com")])["email", "ada@example.com"]
    assert ada["source"] == "import"
    assert ada["email"] == "ada@example.com"
    assert ada["preferredLanguage"] == "en-GB"
    assert ada["timezone"] == "Europe/London"
    assert ada["consents"] == {"email": "in", "sms": "in"}
    assert ada["attributes"] == {"tier": "platinum", "city": "London"}
    assert ada["createdAt"] == created_at


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"members": [*emails(0, 3), {"namespace": "e mail", "id": "x"}]}, "members[3].namespace", "pattern"),
        ({"members": [{"namespace": "email"}]}, "members[0].id", "is required"),
        ({"members": [{"namespace": "email", "id": "a", "extra": 1}]}, "members[0].extra", "is not a known field"),
        ({"members": [{"namespace": "email", "id": " a"}]}, "members[0].id", "spaces"),
        (
            {"members": [{"namespace": "email", "id": "a", "profile": {"email": "nope"}}]},
            "members[0].profile.email",
            "is not an email address",
        ),
        ({"members": emails(0, 1001)}, "members", "at most 1000"),
        ({"members": []}, "members", "at least 1"),
    ],
)
def test_a_bad_member_is_named(api: Api, body: dict[str, Any], field: str, message: str) -> None:
    audience_id = create(api, {"name": "Strict"}).body["id"]
    answer = api.call("api", "api/add_audience_members.json", body=body, path_params={"audienceId": audience_id})
    assert answer.status == 400, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["code"] == "validation_failed"
    named = {e["field"]: e["message"] for e in answer.body["errors"]}
    assert field in named, named
    assert message in named[field]
    assert read(api, audience_id).body["memberCount"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "rule": {"all": [{"attribute": "email", "op": "like", "value": "a"}]}}, "rule.all[0].op"),
        ({"name": "x", "rule": {"attribute": "attributes.$where", "op": "exists"}}, "rule.attribute"),
        ({"name": "x", "rule": {"all": []}}, "rule.all"),
        ({"name": "", "members": []}, "name"),
        ({"name": "x", "members": [], "rule": {"attribute": "id", "op": "exists"}}, "body"),
        ({"name": "x", "members": [{"namespace": "email", "id": 5}]}, "members[0].id"),
    ],
)
def test_a_bad_audience_is_refused_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    answer = create(api, body)
    assert answer.status == 400, answer.body
    assert field in {e["field"] for e in answer.body["errors"]}, answer.body


def _put_profile(namespace: str, profile_id: str, **values: Any) -> None:
    from campaign_engine import aws
    from campaign_engine.settings import get_settings

    item = {
        **people.profile_key(namespace, profile_id),
        **people.to_item({"namespace": namespace, "id": profile_id, **values}),
    }
    aws.dynamodb().put_item(TableName=get_settings().profiles_table, Item=item)


def test_a_rule_audience_counts_the_profiles_its_rule_selects(api: Api) -> None:
    for i in range(12):
        _put_profile("email", f"p{i}@example.com", attributes={"tier": "gold" if i % 3 == 0 else "silver"})
    _put_profile("email", "out@example.com", attributes={"tier": "gold"}, consents={"email": "out"})
    rule = {
        "all": [
            {"attribute": "attributes.tier", "op": "eq", "value": "gold"},
            {"attribute": "consents.email", "op": "ne", "value": "out"},
        ]
    }
    created = api.call("api", "api/create_rule_audience.json", body={"name": "Gold", "rule": rule})
    assert created.status == 201, created.body
    assert created.body["kind"] == "rule"
    assert created.body["rule"] == rule
    assert "memberCount" not in created.body

    plain = read(api, created.body["id"])
    assert plain.body["rule"] == rule
    assert "memberCount" not in plain.body
    counted = read(api, created.body["id"], query={"count": "true"})
    assert counted.body["memberCount"] == 4
    assert counted.body["countComplete"] is True

    refused = add(api, created.body["id"], emails(0, 2))
    assert refused.status == 409
    assert refused.body["code"] == "audience_not_static"


def test_audiences_are_listed_newest_first_in_pages(api: Api) -> None:
    ids = [create(api, {"name": f"List {i}", "members": emails(0, i)}).body["id"] for i in range(5)]
    assert delete(api, ids[2]).status == 204
    seen: list[dict[str, Any]] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        page = api.call("api", "api/list_audiences.json", query=query)
        assert page.status == 200, page.body
        seen += page.body["items"]
        pages += 1
        token = page.body.get("nextToken")
        if not token:
            break
    assert [a["id"] for a in seen] == [ids[4], ids[3], ids[1], ids[0]]
    assert [a["memberCount"] for a in seen] == [4, 3, 1, 0]
    assert pages >= 2

    forged = api.call("api", "api/list_audiences.json", query={"nextToken": "eyJwayI6MX0"})
    assert forged.status == 400
    assert forged.body["code"] == "invalid_next_token"


def test_a_deleted_audience_and_its_members_are_gone(api: Api) -> None:
    audience_id = create(api, {"name": "Short-lived", "members": emails(0, 60)}).body["id"]
    assert delete(api, audience_id).status == 204
    for answer in (read(api, audience_id), add(api, audience_id, emails(0, 1)), delete(api, audience_id)):
        assert answer.status == 404
        assert answer.body["code"] == "audience_not_found"
    assert all_members(audience_id) == []


def test_deleting_a_very_large_list_goes_on_with_each_call(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    audience_id = create(api, {"name": "Huge", "members": emails(0, 900)}).body["id"]
    monkeypatch.setattr(audiences, "WORK_SECONDS", 0.0)  # as if the list were too large for one call
    pending = delete(api, audience_id)
    assert pending.status == 202
    assert pending.body["status"] == "deleting"
    assert read(api, audience_id).status == 404  # out of reach at once
    monkeypatch.setattr(audiences, "WORK_SECONDS", 5.0)
    assert delete(api, audience_id).status == 204
    assert all_members(audience_id) == []
    assert delete(api, audience_id).status == 404


def test_scopes_profiles_write_changes_campaigns_read_reads(api: Api) -> None:
    audience_id = create(api, {"name": "Scoped"}, scopes="profiles:write").body["id"]
    for scopes in ("campaigns:read", "profiles:write"):
        assert read(api, audience_id, scopes=scopes).status == 200
        assert api.call("api", "api/list_audiences.json", scopes=scopes).status == 200
    refused = [
        create(api, {"name": "No"}, scopes="campaigns:read"),
        add(api, audience_id, emails(0, 1), scopes="campaigns:read campaigns:write"),
        read(api, audience_id, scopes="reports:read"),
        api.call("api", "api/delete_audience.json", path_params={"audienceId": audience_id}, scopes="campaigns:read"),
    ]
    assert [answer.status for answer in refused] == [403] * 4
    assert all(answer.body["code"] == "forbidden" for answer in refused)


def test_an_unknown_audience_is_404(api: Api) -> None:
    for answer in (read(api, "nope"), add(api, "nope", emails(0, 1)), delete(api, "nope")):
        assert answer.status == 404
        assert answer.body["code"] == "audience_not_found"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"a": 1e300}, "attributes.a: a number out of range"),
        ({"a": [1, {"b": 10**40}]}, "attributes.a[1].b: a number out of range"),
        ({"": 1}, "attributes: a name is empty"),
        (
            {
                "x": {
                    "x": {
                        "x": {
                            "x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": {"x": 1}}}}}}}}}}}}
                        }
                    }
                }
            },
            "nested more than 16",
        ),
        ({"big": "x" * 210_000}, "attributes: over 200 KB"),
    ],
)
def test_a_profile_dynamodb_cannot_store_is_refused_not_a_500(api: Api, attributes: dict, message: str) -> None:
    audience_id = create(api, {"name": "Careful"}).body["id"]
    answer = add(
        api, audience_id, [{"namespace": "email", "id": "a@example.com", "profile": {"attributes": attributes}}]
    )
    assert answer.status == 400, answer.body
    assert any(e["field"] == "members[0].profile" and message in e["message"] for e in answer.body["errors"]), (
        answer.body
    )
