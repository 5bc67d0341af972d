"""Who may call what, and the API's own description, checked against every route of template.yaml."""

from __future__ import annotations

import copy
import re
from typing import Any

import boto3
import pytest

from campaign_engine.console import CONSOLE_ROUTES
from local.template import Template
from tests.conftest import Api, invoke, load_event, trigger_body


def _route_event(method: str, path: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api/get_campaign.json"))
    concrete = re.sub(r"\{(\w+)\}", "0123456789abcdef0123456789abcdef", path)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = concrete
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = dict.fromkeys(re.findall(r"\{(\w+)\}", path), "0123456789abcdef0123456789abcdef")
    event["body"] = "{}" if method in ("POST", "PATCH") else None
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    return event


def _function_dir(template: Template, logical_id: str) -> str:
    return template.functions()[logical_id].code_uri.strip("/").split("/")[-1]


# The public routes and what they answer without a key: health, the API's description, and the web
# console's static files (a redirect to its page, then the page), which hold no data.
PUBLIC = {"/im/health": 200, "/openapi.json": 200, "/console": 308, "/console/{proxy+}": 200}


def test_every_route_but_health_and_openapi_answers_401_without_a_known_key(aws_env: Template) -> None:
    routes = aws_env.http_routes()
    assert len(routes) >= 15
    for route in routes:
        unknown = {"authenticated": False, "error": "unknown_key"}
        answer = invoke(_function_dir(aws_env, route.function), _route_event(route.method, route.path, unknown))
        if route.path in PUBLIC:
            assert route.authorizer is None, f"{route.route_key} is public and needs no authorizer"
            assert answer["statusCode"] == PUBLIC[route.path], route.route_key
            continue
        if route.path.startswith("/t/"):  # tracking: the signed token is the credential, a made-up one is refused
            assert route.authorizer is None, f"{route.route_key} is public and needs no authorizer"
            assert answer["statusCode"] == 404, route.route_key
            continue
        assert route.authorizer is not None, f"{route.route_key} has no authorizer in the template"
        assert answer["statusCode"] == 401, (route.route_key, answer["body"])
        assert answer["headers"]["Content-Type"] == "application/problem+json"


def test_the_authorizer_resolves_keys_and_never_stores_them_in_clear(aws_env: Template) -> None:
    from campaign_engine import key_format
    from campaign_engine.auth import create_api_key

    key = create_api_key("ci", ["campaigns:trigger"])
    event = load_event("authorizer/request.json")

    event["headers"]["authorization"] = f"Bearer {key}"
    known = invoke("authorizer", event)
    assert known["isAuthorized"] is True
    assert known["context"]["authenticated"] is True
    assert known["context"]["scopes"] == "campaigns:trigger"

    event["headers"]["authorization"] = f"Bearer {key_format.new_key()}"
    unknown = invoke("authorizer", event)
    assert unknown["context"] == {"authenticated": False, "error": "unknown_key"}

    event["headers"]["authorization"] = "Bearer tc_not-a-key-anyone-has"
    junk = invoke("authorizer", event)
    assert junk["context"] == {"authenticated": False, "error": "malformed_key"}

    items = boto3.client("dynamodb").scan(TableName=aws_env.table_name("ApiKeysTable"))["Items"]
    assert len(items) == 1
    assert key not in str(items), "the clear key must never be stored"


def test_scopes_and_labels_are_enforced(api: Api) -> None:
    campaign = api.live_campaign(labels=["finance"])

    read_only = api.trigger(trigger_body(campaign["id"]), scopes="campaigns:read")
    assert (read_only.status, read_only.body["code"]) == (403, "forbidden")
    assert "campaigns:trigger" in read_only.body["detail"]

    other_label = {
        "authenticated": True,
        "keyId": "key_x",
        "scopes": "campaigns:trigger campaigns:read",
        "labels": "marketing",
    }
    denied = api.trigger(trigger_body(campaign["id"]), authorizer=other_label)
    assert denied.status == 403
    reading = api.call(
        "api", "api/get_campaign.json", path_params={"campaignId": campaign["id"]}, authorizer=other_label
    )
    assert reading.status == 403

    right_label = {**other_label, "labels": "finance,marketing"}
    allowed = api.trigger(trigger_body(campaign["id"]), authorizer=right_label)
    assert allowed.status == 202

    cannot_write = api.call("api", "api/create_campaign.json", scopes="campaigns:read campaigns:trigger")
    assert cannot_write.status == 403


def test_openapi_describes_exactly_the_routes_of_the_template(aws_env: Template, api: Api) -> None:
    answer = api.call("api", "api/openapi.json")
    assert answer.status == 200
    document = answer.body
    assert document["openapi"].startswith("3.")
    described = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    # The console's static files are served by the api function but are not operations of the API.
    deployed = {(r.method, r.path) for r in aws_env.http_routes() if r.route_key not in CONSOLE_ROUTES}
    assert described == deployed

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            # Only the routes whose own answers include 422 (review errors, render errors, a campaign that
            # cannot be sent to an audience, a context that fails its schema) declare it.
            assert "422" not in codes or path.endswith(("/activate", "/preview", "/im/executions/audience")), (
                "Powertools' own 422 must not be declared: validation answers 400"
            )
            if path.startswith("/t/"):  # tracking: public, answers plain pages (a person follows these links)
                assert operation["security"] == [], (method, path)
                assert "404" in codes, (method, path)
            elif path not in ("/im/health", "/openapi.json"):
                assert {"400", "401", "403"} <= codes, (method, path)
                assert operation["security"] == [{"bearer": []}]
    unitary = document["paths"]["/im/executions/unitary"]["post"]
    assert {"202", "404", "409", "413"} <= set(unitary["responses"])
    assert "requestId" in document["components"]["schemas"]["TriggerRequest"]["properties"]


@pytest.mark.parametrize("event_file", ["api/health.json", "api/openapi.json"])
def test_public_routes_need_no_key(api: Api, event_file: str) -> None:
    answer = api.call("api", event_file)
    assert answer.status == 200


def test_api_key_command_creates_a_working_key(aws_env: Template, capsys: pytest.CaptureFixture[str]) -> None:
    from campaign_engine.auth import authorizer_context
    from scripts.api_key import main

    assert main(["create", "--name", "ci", "--scopes", "campaigns:trigger,reports:read"]) == 0
    key = capsys.readouterr().out.strip()
    from campaign_engine import key_format

    assert key_format.is_well_formed(key), "the authorizer would refuse it unread"
    context = authorizer_context(f"Bearer {key}")
    assert context["authenticated"] is True
    assert context["scopes"] == "campaigns:trigger reports:read"
    assert main(["create", "--name", "x", "--scopes", "everything"]) == 2
    assert main(["create", "--name", "x", "--scopes", "admin", "--labels", "finance"]) == 2
    assert main(["create", "--name", "x", "--scopes", "admin", "--expires-at", "2020-01-01T00:00:00Z"]) == 2
    assert main(["create", "--name", "x", "--scopes", "admin", "--expires-at", "2099-01-01T00:00:00Z"]) == 0


def test_openapi_links_lead_from_each_created_resource_to_the_operations_on_it(api: Api) -> None:
    document = api.call("api", "api/openapi.json").body
    operations = {
        operation["operationId"]: (method.upper(), path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    schemas = document["components"]["schemas"]
    followed: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                answer = next(iter(response.get("content", {}).values()), {}).get("schema", {})
                fields = schemas[answer["$ref"].rsplit("/", 1)[-1]]["properties"] if "$ref" in answer else {}
                for link in response.get("links", {}).values():
                    target_method, target_path = operations[link["operationId"]]
                    # Every path parameter of the target is filled, each from a field the answer declares.
                    assert set(link["parameters"]) == set(re.findall(r"\{(\w+)\}", target_path)), link
                    for expression in link["parameters"].values():
                        assert expression.removeprefix("$response.body#/") in fields, (method, path, status, link)
                    followed.setdefault((method.upper(), path), set()).add((target_method, target_path))

    campaign_operations = {(m.upper(), p) for p, ms in document["paths"].items() for m in ms if "{campaignId}" in p}
    assert followed[("POST", "/campaigns")] == campaign_operations
    assert ("GET", "/im/executions/{executionId}") in followed[("POST", "/im/executions/unitary")]
    assert ("POST", "/audiences/{audienceId}/members") in followed[("POST", "/audiences")]
    assert ("GET", "/profiles/{namespace}/{profileId}") in followed[("PUT", "/profiles/{namespace}/{profileId}")]
