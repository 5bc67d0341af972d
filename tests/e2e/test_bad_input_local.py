"""Bad input over HTTP on the local stack, as a fuzzer sends it: every answer is a clear 4xx, the
API's problem+json or API Gateway's own, never a 500 or the local server's own error page."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from local import Stack
from local.gateway import MAX_BODY_BYTES

DEEP = 50_000


@pytest.fixture(scope="module")
def campaign_id(local_stack: Stack) -> str:
    return local_stack.seed_demo()


def _routes_with_a_body(campaign_id: str) -> list[tuple[str, str, dict[str, object]]]:
    trigger = {"campaignId": campaign_id, "recipients": [{"userId": "ada@example.com"}]}
    return [
        ("POST", "/campaigns", {"name": "x"}),
        ("PATCH", f"/campaigns/{campaign_id}", {"description": "x"}),
        ("POST", f"/campaigns/{campaign_id}/preview", {"context": {}}),
        ("POST", "/im/executions/unitary", trigger),
    ]


def _assert_problem(answer: tuple[int, dict[str, str], object], status: int, code: str) -> None:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["content-type"] == "application/problem+json"
    assert isinstance(body, dict)
    assert body["code"] == code, body


def test_json_sent_as_text_plain_is_415(local_stack: Stack, campaign_id: str) -> None:
    for method, path, body in _routes_with_a_body(campaign_id):
        answer = local_stack.request(method, path, json.dumps(body), headers={"Content-Type": "text/plain"})
        _assert_problem(answer, 415, "unsupported_media_type")


def test_a_body_that_is_not_utf8_is_invalid_json(local_stack: Stack, campaign_id: str) -> None:
    for method, path, _ in _routes_with_a_body(campaign_id):
        answer = local_stack.request(method, path, b'{"name": "caf\xe9\xff"}')
        _assert_problem(answer, 400, "invalid_json")


def test_json_nested_tens_of_thousands_deep_is_invalid_json(local_stack: Stack, campaign_id: str) -> None:
    deep = '{"name": ' + "[" * DEEP + "]" * DEEP + "}"
    for method, path, _ in _routes_with_a_body(campaign_id):
        _assert_problem(local_stack.request(method, path, deep), 400, "invalid_json")


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_no_route_has_is_api_gateways_404(local_stack: Stack, method: str) -> None:
    status, headers, body = local_stack.request(method, "/campaigns")
    assert (status, body) == (404, {"message": "Not Found"})
    assert headers["content-type"] == "application/json"


def test_an_oversized_body_written_whole_before_reading_gets_its_413(local_stack: Stack) -> None:
    """http.client writes the whole body, then reads: the 413 must still reach it (not a broken pipe)."""
    target = urlsplit(local_stack.base_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/im/executions/unitary",
            body=b" " * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {local_stack.api_key}"},
        )
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("content-type") == "application/json"
        assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
    finally:
        connection.close()
