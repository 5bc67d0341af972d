"""Health and the API's own description."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from campaign_engine.containers import per_container
from campaign_engine.errors import PROBLEM_JSON, PROBLEM_TYPES, ProblemType
from campaign_engine.models import Health
from campaign_engine.routes.resolver import PUBLIC_ROUTES, new_resolver

router = Router()


@router.get(
    "/im/health",
    summary="Liveness (no key needed)",
    tags=["meta"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": Health}}}},
)
def health():
    return Response(status_code=200, content_type="application/json", body=Health().model_dump_json())


@router.get(
    "/openapi.json",
    summary="This document (no key needed)",
    tags=["meta"],
    responses={200: {"description": "OpenAPI 3 document"}},
)
def openapi():
    return Response(status_code=200, content_type="application/json", body=openapi_document())


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {
            "type": "string",
            "enum": list(PROBLEM_TYPES),
            "description": "Stable snake_case error code:\n"
            + "\n".join(f"- `{p.code}` ({p.status}): {p.description}" for p in PROBLEM_TYPES.values()),
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "requestId": {"type": "string"},
        "campaignId": {"type": "string"},
    },
}

# The problems particular to an operation. Those of every authenticated route, of a request body,
# of a campaign or an execution named in the path and of a paged list follow from the operation
# itself (_problem_codes); each code's status and meaning come from errors.PROBLEM_TYPES.
_OPERATION_PROBLEMS: dict[str, tuple[str, ...]] = {
    "POST /im/executions/unitary": (
        "campaign_not_found",
        "campaign_not_live",
        "outside_schedule_window",
        "request_id_reused",
    ),
    "PUT /profiles/{namespace}/{profileId}": ("profile_too_large",),
    "GET /profiles/{namespace}/{profileId}": ("profile_not_found",),
    "GET /suppressions/{channel}/{address}": ("suppression_not_found",),
    "DELETE /suppressions/{channel}/{address}": ("suppression_not_found",),
    "POST /im/executions/audience": (
        "campaign_not_found",
        "campaign_not_live",
        "outside_schedule_window",
        "not_a_marketing_campaign",
        "audience_not_found",
        "invalid_context",
        "request_id_reused",
    ),
    "GET /im/executions": ("execution_not_found",),
    "GET /im/executions/schedules/{scheduleId}": ("schedule_not_found",),
    "DELETE /im/executions/schedules/{scheduleId}": ("schedule_not_found", "schedule_already_started"),
    "POST /campaigns": ("campaign_too_large",),
    "DELETE /keys/{keyId}": ("last_admin_key",),
    "POST /keys/{keyId}/rotate": ("key_revoked", "key_already_rotated"),
    "POST /audiences/{audienceId}/members": ("audience_not_static",),
    "PATCH /campaigns/{campaignId}": ("campaign_not_editable", "concurrent_modification", "campaign_too_large"),
    "DELETE /campaigns/{campaignId}": ("campaign_not_draft", "concurrent_modification"),
    "POST /campaigns/{campaignId}/activate": ("campaign_not_activatable", "concurrent_modification", "review_failed"),
    "POST /campaigns/{campaignId}/stop": ("campaign_not_stoppable", "concurrent_modification"),
    "POST /campaigns/{campaignId}/archive": ("campaign_not_archivable", "concurrent_modification"),
    "POST /campaigns/{campaignId}/preview": (
        "render_error",
        "no_matching_locale",
        "invalid_context",
        "invalid_context_schema",
    ),
}
_EVERY_ROUTE = ("validation_failed", "unauthorized", "forbidden", "internal_error")
_WITH_BODY = ("invalid_json", "payload_too_large", "unsupported_media_type")


# API Gateway's own answer, given before any function runs and not reshapeable on an HTTP API:
# a request with no (or an empty) Authorization header is refused 401 {"message": "Unauthorized"}.
GATEWAY_MESSAGE_SCHEMA = {
    "type": "object",
    "description": "API Gateway's own answer (no Authorization header at all)",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


# OpenAPI links: where an answer's ids lead next (a client generator's "next call", and schemathesis's
# stateful runs: create a campaign, then read, edit, review, activate, trigger it...). An operation
# answering `status` to `source` links to each of `targets`, with the path parameters taken from its
# answer by these runtime expressions.
_CAMPAIGN_OPERATIONS = (
    "GET /campaigns/{campaignId}",
    "PATCH /campaigns/{campaignId}",
    "DELETE /campaigns/{campaignId}",
    "POST /campaigns/{campaignId}/review",
    "POST /campaigns/{campaignId}/activate",
    "POST /campaigns/{campaignId}/stop",
    "POST /campaigns/{campaignId}/archive",
    "POST /campaigns/{campaignId}/duplicate",
    "POST /campaigns/{campaignId}/preview",
    "GET /campaigns/{campaignId}/trigger-request",
    "GET /campaigns/{campaignId}/report",
    "POST /campaigns/{campaignId}/webhook/secret",
)
_THE_CAMPAIGN = {"campaignId": "$response.body#/id"}
_THE_PROFILE = {"namespace": "$response.body#/namespace", "profileId": "$response.body#/id"}
_THE_AUDIENCE = {"audienceId": "$response.body#/id"}
_LINKS: dict[tuple[str, str], tuple[dict[str, str], tuple[str, ...]]] = {
    ("POST /campaigns", "201"): (_THE_CAMPAIGN, _CAMPAIGN_OPERATIONS),
    ("POST /campaigns/{campaignId}/duplicate", "201"): (_THE_CAMPAIGN, _CAMPAIGN_OPERATIONS),
    ("PATCH /campaigns/{campaignId}", "200"): (_THE_CAMPAIGN, _CAMPAIGN_OPERATIONS),
    ("POST /campaigns/{campaignId}/activate", "200"): (_THE_CAMPAIGN, _CAMPAIGN_OPERATIONS),
    ("POST /im/executions/unitary", "202"): (
        {"executionId": "$response.body#/executionId"},
        ("GET /im/executions/{executionId}",),
    ),
    ("POST /im/executions/audience", "202"): (
        {"executionId": "$response.body#/executionId"},
        ("GET /im/executions/audience/{executionId}",),
    ),
    ("POST /audiences", "201"): (
        _THE_AUDIENCE,
        ("GET /audiences/{audienceId}", "POST /audiences/{audienceId}/members", "DELETE /audiences/{audienceId}"),
    ),
    ("PUT /profiles/{namespace}/{profileId}", "200"): (
        _THE_PROFILE,
        ("GET /profiles/{namespace}/{profileId}", "DELETE /profiles/{namespace}/{profileId}"),
    ),
}
# A scheduled audience execution answers a scheduleId (and no executionId) under the same 202.
_SCHEDULE_LINKS = (
    {"scheduleId": "$response.body#/scheduleId"},
    ("GET /im/executions/schedules/{scheduleId}", "DELETE /im/executions/schedules/{scheduleId}"),
)


def _link_name(target: str) -> str:
    """`POST /campaigns/{campaignId}/trigger-request` -> `postCampaignsTriggerRequest`."""
    method, path = target.split(" ", 1)
    words = [word for part in path.split("/") if not part.startswith("{") for word in part.split("-") if word]
    return method.lower() + "".join(word[:1].upper() + word[1:] for word in words)


def _add_links(paths: dict[str, Any]) -> None:
    """Each link names its target by operationId, as generated from the routes' functions."""
    operation_ids = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    links = [(source, status, *link) for (source, status), link in _LINKS.items()]
    links.append(("POST /im/executions/audience", "202", *_SCHEDULE_LINKS))
    for source, status, parameters, targets in links:
        method, path = source.split(" ", 1)
        response = paths[path][method.lower()]["responses"][status]
        for target in targets:
            target_path = target.split(" ", 1)[1]
            response.setdefault("links", {})[_link_name(target)] = {
                "operationId": operation_ids[target],
                "parameters": {name: value for name, value in parameters.items() if f"{{{name}}}" in target_path},
            }


def _problem_codes(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    codes = list(_EVERY_ROUTE)
    if "requestBody" in operation:
        codes += _WITH_BODY
    if "{campaignId}" in path:
        codes.append("campaign_not_found")
    if "{executionId}" in path:
        codes.append("execution_not_found")
    if "{audienceId}" in path:
        codes.append("audience_not_found")
    if "{keyId}" in path:
        codes.append("key_not_found")
    if any(parameter.get("name") == "nextToken" for parameter in operation.get("parameters", [])):
        codes.append("invalid_next_token")
    return codes + list(_OPERATION_PROBLEMS.get(f"{method.upper()} {path}", ()))


def _problem_responses(codes: list[str]) -> dict[str, Any]:
    """One response per status, naming its codes (an enum on `code`) and what each means."""
    by_status: dict[int, list[ProblemType]] = {}
    for code in codes:
        by_status.setdefault(PROBLEM_TYPES[code].status, []).append(PROBLEM_TYPES[code])
    return {
        str(status): {
            "description": "\n".join(f"- `{p.code}`: {p.description}" for p in problems),
            "content": {
                PROBLEM_JSON: {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Problem"},
                            {"type": "object", "properties": {"code": {"enum": [p.code for p in problems]}}},
                        ]
                    }
                }
            },
        }
        for status, problems in sorted(by_status.items())
    }


def _with_gateway_401(responses: dict[str, Any]) -> None:
    """A 401 is also API Gateway's own {"message": ...} when no Authorization header is sent."""
    unauthorized = responses["401"]
    unauthorized["description"] += '\n- API Gateway itself answers a request without any key: `{"message": ...}`'
    unauthorized["content"]["application/json"] = {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}


@per_container
@lru_cache(maxsize=1)
def openapi_document() -> str:
    """Generated from every router of the stack, then told the truth about errors: Powertools
    declares a 422 of its own, which this API answers as 400 problem+json instead."""
    from campaign_engine.routes import (
        audience_executions,
        audiences,
        campaigns,
        executions,
        keys,
        profiles,
        rules,
        webhooks,
    )

    app = new_resolver(
        router,
        campaigns.router,
        executions.trigger_router,
        executions.status_router,
        audience_executions.router,
        profiles.router,
        audiences.router,
        rules.router,
        keys.router,
        webhooks.router,
    )
    schema = app.get_openapi_schema(
        title="Triggered campaigns API",
        version="1.0.0",
        description="Define a campaign once, trigger it over HTTPS with recipients and context; every message is "
        "rendered, delivered once, and reported per recipient. AJO-compatible trigger endpoint.",
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    from campaign_engine.tracking import openapi as tracking_openapi

    schema.setdefault("paths", {}).update(tracking_openapi.paths())  # served by the tracking function
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["GatewayMessage"] = GATEWAY_MESSAGE_SCHEMA
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: Authorization: Bearer <key>"}
    }
    _add_links(schema["paths"])
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "204" in responses:  # Powertools gives every answer a JSON body; a 204 has none
                responses["204"].pop("content", None)
            declared = responses.get("200", {}).get("description") == "Successful Response"
            if declared and any(code.startswith("2") and code != "200" for code in responses):
                responses.pop("200")
            if f"{method.upper()} {path}" in PUBLIC_ROUTES or path.startswith("/t/"):
                operation["security"] = []
                continue
            operation["security"] = [{"bearer": []}]
            responses.update(_problem_responses(_problem_codes(method, path, operation)))
            _with_gateway_401(responses)
    return json.dumps(schema)
