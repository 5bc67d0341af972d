"""API keys over HTTP through the local stack's gateway, as a new user meets them: an admin makes a key,
the key works at once with its scopes, the list never shows it, and a made-up key is a 401 problem."""

from __future__ import annotations

from local import Stack


def test_a_key_made_through_the_api_works_at_once_and_is_never_shown_again(local_stack: Stack) -> None:
    status, _, created = local_stack.request("POST", "/keys", {"name": "reports", "scopes": ["reports:read"]})
    assert status == 201, created
    key = created["key"]

    status, _, campaigns = local_stack.request("GET", "/campaigns", key=key)
    assert status == 403, "reports:read does not list campaigns"
    assert campaigns["code"] == "forbidden"
    status, _, _ = local_stack.request("GET", "/keys", key=key)
    assert status == 403

    status, headers, listed = local_stack.request("GET", "/keys")
    assert status == 200
    mine = next(k for k in listed["items"] if k["id"] == created["id"])
    assert mine["lastUsedAt"] is not None, "used once above"
    assert key not in str(listed)

    status, headers, refused = local_stack.request("GET", "/campaigns", key="tck_" + "0" * 46)
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert refused["code"] == "unauthorized"
