"""Building a resolver, and who is calling."""

from __future__ import annotations

import json
from re import Match
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from campaign_engine.auth import Principal, principal_from_context
from campaign_engine.errors import DomainError, FieldError, check_body_size, validation_failed
from campaign_engine.request_body import json_text, too_deep
from campaign_engine.routes.problems import PROBLEM_JSON, install_error_handlers, problem_response
from campaign_engine.settings import get_settings


def _parse_body(body: str) -> Any:
    # The size check lives here because Powertools parses the body before any route runs.
    check_body_size(body, get_settings().max_body_bytes)
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep() from None
    return _an_object(value)


def _an_object(value: Any) -> Any:
    """Every body of this API is an object. Powertools would validate a list's first item in its
    place (it unwraps lists for query parameters), and routes that read the raw body then fail."""
    if not isinstance(value, dict):
        raise validation_failed([FieldError("body", "must be a JSON object")])
    return value


class _Resolver(APIGatewayHttpResolver):
    def _convert_matches_into_route_keys(self, match: Match) -> dict[str, str]:
        # Powertools matches the raw path, so its path parameters arrive percent-encoded: an id is
        # looked up, and its length checked, as the caller meant it (API Gateway's pathParameters).
        return {name: unquote(value) for name, value in match.groupdict().items()}


def new_resolver(*routers: Router) -> APIGatewayHttpResolver:
    app = _Resolver(enable_validation=True, json_body_deserializer=_parse_body)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


# The only routes API Gateway serves without the authorizer (template.yaml: Auth: NONE).
PUBLIC_ROUTES = frozenset({"GET /im/health", "GET /openapi.json"})


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authentication first, so that an unauthenticated caller learns nothing about validation:
    Powertools validates the body before any route or middleware of ours could run. Then the
    body's media type and encoding (415, invalid_json), which Powertools would answer with a 500."""
    try:
        if event.get("routeKey") not in PUBLIC_ROUTES:
            authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
            principal_from_context(authorizer.get("lambda"))
        if event.get("body"):
            event = {**event, "body": json_text(event), "isBase64Encoded": False}
    except DomainError as error:
        response = problem_response(error)
        return {
            "statusCode": response.status_code,
            "headers": {"Content-Type": PROBLEM_JSON},
            "body": response.body,
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


def caller(router: Router) -> Principal:
    """The principal the authorizer resolved for this request; 401 when there is none."""
    authorizer = router.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    return principal_from_context(authorizer.get("lambda"))


def json_response(status: int, model: BaseModel | dict[str, Any] | None) -> Response:
    if model is None:
        return Response(status_code=status, body="")
    body = model.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(model, BaseModel) else model
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
