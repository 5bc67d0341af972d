"""RFC 9457 problem details for every error, in one place: domain errors (their status and title
from errors.PROBLEM_TYPES), the store's refusals, validation, unknown routes, anything unexpected."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from campaign_engine.errors import (
    PROBLEM_JSON,
    DomainError,
    field_errors_from_pydantic,
    internal_error,
    invalid_json,
    problem_document,
    validation_failed,
)
from campaign_engine.observability import logger
from campaign_engine.store import BadPageToken, ConcurrentModification, StoreError

__all__ = ["PROBLEM_JSON", "install_error_handlers", "problem_response", "store_problem"]


def store_problem(error: StoreError) -> DomainError:
    """What a caller is answered for a refusal of the data layer (the store speaks no HTTP)."""
    if isinstance(error, ConcurrentModification):
        return DomainError(
            code="concurrent_modification",
            detail="The campaign changed while this request was processed; read it again and retry",
        )
    if isinstance(error, BadPageToken):
        return DomainError(code="invalid_next_token", detail="nextToken is not one this API returned")
    return internal_error()


def problem_response(error: DomainError, request_id: str | None = None) -> Response:
    return Response(
        status_code=error.status, content_type=PROBLEM_JSON, body=json.dumps(problem_document(error, request_id))
    )


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        if error.status >= 500:
            logger.error("request failed", code=error.code)
        return problem_response(error)

    @app.exception_handler(StoreError)
    def _store(error: StoreError) -> Response:
        return _domain(store_problem(error))

    @app.exception_handler(RequestValidationError)
    def _validation(error: RequestValidationError) -> Response:
        errors = error.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next((e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), "")
            return problem_response(invalid_json(detail))
        return problem_response(validation_failed(field_errors_from_pydantic(errors)))

    @app.exception_handler(NotFoundError)
    def _no_route(_: NotFoundError) -> Response:
        return problem_response(DomainError(code="route_not_found", detail="No such route"))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problem_response(internal_error())
