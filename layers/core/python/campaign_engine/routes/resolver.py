"""Building a resolver, and who is calling."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from campaign_engine.auth import Principal, principal_from_context
from campaign_engine.errors import DomainError
from campaign_engine.routes.problems import install_error_handlers
from campaign_engine.settings import get_settings


def _parse_body(body: str) -> Any:
    # The size check lives here because Powertools parses the body before any route runs.
    limit = get_settings().max_body_bytes
    if len(body) > limit:
        raise DomainError(
            code="payload_too_large",
            status=413,
            title="Payload too large",
            detail=f"The body is over {limit // (1024 * 1024)} MB; send fewer recipients per call",
        )
    return json.loads(body)


def new_resolver(*routers: Router) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=_parse_body)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def caller(router: Router) -> Principal:
    """The principal the authorizer resolved for this request; 401 when there is none."""
    authorizer = router.current_event.request_context.authorizer
    context = authorizer.get_lambda if authorizer else None
    return principal_from_context(context)


def json_response(status: int, model: BaseModel | dict[str, Any] | None) -> Response:
    if model is None:
        return Response(status_code=status, body="")
    body = model.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(model, BaseModel) else model
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
