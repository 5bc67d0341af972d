"""RFC 9457 problem details for every error, in one place."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from campaign_engine.errors import DomainError, FieldError, field_errors_from_pydantic
from campaign_engine.observability import logger

PROBLEM_JSON = "application/problem+json"


def problem_response(error: DomainError, request_id: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"https://triggered-campaigns.dev/problems/{error.code.replace('_', '-')}",
        "title": error.title or error.code.replace("_", " ").capitalize(),
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "errors": [{"field": e.field, "message": e.message} for e in error.errors],
    }
    body.update(error.extra)
    if request_id and "requestId" not in body:
        body["requestId"] = request_id
    return Response(status_code=error.status, content_type=PROBLEM_JSON, body=json.dumps(body))


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        if error.status >= 500:
            logger.error("request failed", code=error.code)
        return problem_response(error)

    @app.exception_handler(RequestValidationError)
    def _validation(error: RequestValidationError) -> Response:
        errors = error.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next((e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), "")
            return problem_response(
                DomainError(
                    code="invalid_json",
                    status=400,
                    title="The body is not valid JSON",
                    detail=f"The request body is not valid JSON: {detail}".rstrip(": "),
                    errors=[FieldError("body", "is not valid JSON")],
                )
            )
        fields = field_errors_from_pydantic(errors)
        return problem_response(
            DomainError(
                code="validation_failed",
                status=400,
                title="The request is not valid",
                detail="; ".join(f"{f.field}: {f.message}" for f in fields[:5]),
                errors=fields,
            )
        )

    @app.exception_handler(NotFoundError)
    def _no_route(_: NotFoundError) -> Response:
        return problem_response(
            DomainError(code="route_not_found", status=404, title="Not found", detail="No such route")
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problem_response(
            DomainError(
                code="internal_error",
                status=500,
                title="Internal error",
                detail="The request failed; it is safe to retry with the same requestId",
            )
        )
