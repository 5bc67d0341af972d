"""Health and the API's own description."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

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
        "code": {"type": "string", "description": "Stable snake_case error code"},
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

# Which problems each kind of operation can answer, beyond 400/401/403 on every authenticated route.
_EXTRA_PROBLEMS = {
    ("post", "/im/executions/unitary"): {
        404: "campaign_not_found",
        409: "campaign_not_live, outside_schedule_window, request_id_reused",
        413: "payload_too_large",
    },
    ("post", "/campaigns/{campaignId}/activate"): {409: "campaign_not_activatable", 422: "review_failed"},
    ("post", "/campaigns/{campaignId}/preview"): {422: "render_error, no_matching_locale"},
    ("post", "/campaigns"): {413: "payload_too_large, campaign_too_large"},
    ("patch", "/campaigns/{campaignId}"): {
        409: "campaign_not_editable, concurrent_modification",
        413: "payload_too_large, campaign_too_large",
    },
    ("delete", "/campaigns/{campaignId}"): {409: "campaign_not_draft"},
    ("post", "/campaigns/{campaignId}/stop"): {409: "campaign_not_stoppable"},
    ("post", "/campaigns/{campaignId}/archive"): {409: "campaign_not_archivable"},
}


# API Gateway's own answer, given before any function runs and not reshapeable on an HTTP API:
# a request with no (or an empty) Authorization header is refused 401 {"message": "Unauthorized"}.
GATEWAY_MESSAGE_SCHEMA = {
    "type": "object",
    "description": "API Gateway's own answer (no Authorization header at all)",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _unauthorized() -> dict[str, Any]:
    answer = _problem("No API key, or an unknown one; API Gateway itself answers a request without one")
    answer["content"]["application/json"] = {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
    return answer


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """Generated from every router of the stack, then told the truth about errors: Powertools
    declares a 422 of its own, which this API answers as 400 problem+json instead."""
    from campaign_engine.routes import campaigns, executions

    app = new_resolver(router, campaigns.router, executions.trigger_router, executions.status_router)
    schema = app.get_openapi_schema(
        title="Triggered campaigns API",
        version="1.0.0",
        description="Define a campaign once, trigger it over HTTPS with recipients and context; every message is "
        "rendered, delivered once, and reported per recipient. AJO-compatible trigger endpoint.",
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["GatewayMessage"] = GATEWAY_MESSAGE_SCHEMA
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: Authorization: Bearer <key>"}
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "204" in responses:  # Powertools gives every answer a JSON body; a 204 has none
                responses["204"].pop("content", None)
            declared = responses.get("200", {}).get("description") == "Successful Response"
            if declared and any(code.startswith("2") and code != "200" for code in responses):
                responses.pop("200")
            if f"{method.upper()} {path}" in PUBLIC_ROUTES:
                operation["security"] = []
                continue
            operation["security"] = [{"bearer": []}]
            responses["400"] = _problem("validation_failed or invalid_json, naming every bad field")
            responses["401"] = _unauthorized()
            responses["403"] = _problem("The key lacks the scope, or access to the campaign's labels")
            if "{" in path:
                responses.setdefault("404", _problem("campaign_not_found / execution_not_found"))
            for status, codes in _EXTRA_PROBLEMS.get((method, path), {}).items():
                responses[str(status)] = _problem(codes)
    return json.dumps(schema)
