"""POST /im/executions/unitary, as the trigger function serves it: the one hot route.

It answers exactly as the Powertools resolver does for every other route (authentication
first, 413, invalid_json, validation_failed naming each field, problem+json, the route in the
OpenAPI document from routes/executions.py), without importing the resolver or pydantic on the
way of a valid call: together they were over a third of the trigger's cold start and most of
a small call's CPU. The body is parsed and checked by trigger_body (msgspec); a body it refuses
goes to pydantic, which names every faulty field exactly as the other routes do.
"""

from __future__ import annotations

from typing import Any

from campaign_engine import trigger_body
from campaign_engine.auth import principal_from_context
from campaign_engine.errors import (
    PROBLEM_JSON,
    DomainError,
    FieldError,
    check_body_size,
    field_errors_from_pydantic,
    internal_error,
    invalid_json,
    problem_document,
    validation_failed,
)
from campaign_engine.observability import logger
from campaign_engine.request_body import json_text, too_deep
from campaign_engine.settings import get_settings
from campaign_engine.trigger import TriggerCall, trigger_unitary

ROUTE_KEY = "POST /im/executions/unitary"


def handle(event: dict[str, Any]) -> dict[str, Any]:
    try:
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        principal = principal_from_context(authorizer.get("lambda"))
        if event.get("routeKey", ROUTE_KEY) != ROUTE_KEY:
            raise DomainError(code="route_not_found", detail="No such route")
        call = parse_call(json_text(event))
        return _answer(202, "application/json", trigger_unitary(call, principal))
    except DomainError as error:
        if error.status >= 500:
            logger.error("request failed", code=error.code)
        return _answer(error.status, PROBLEM_JSON, problem_document(error))
    except Exception:
        logger.exception("unhandled error")
        return _answer(500, PROBLEM_JSON, problem_document(internal_error()))


def parse_call(body: str) -> TriggerCall:
    """The body as a valid TriggerCall, or the 400/413 that explains why it is not one."""
    check_body_size(body, get_settings().max_body_bytes)
    if not body.strip():
        raise validation_failed([FieldError("body", "is required")])
    try:
        return TriggerCall(trigger_body.parse(body))
    except trigger_body.ValidationError:
        pass  # not a valid trigger body (the shape may fail before bad JSON is reached): below
    except trigger_body.DecodeError as error:
        raise invalid_json(str(error).removeprefix("JSON is malformed: ")) from None
    except RecursionError:
        raise too_deep() from None
    try:
        value = trigger_body.decode(body)
    except trigger_body.DecodeError as error:
        raise invalid_json(str(error).removeprefix("JSON is malformed: ")) from None
    except RecursionError:
        raise too_deep() from None
    return _validated_by_pydantic(value)


def _validated_by_pydantic(data: Any) -> TriggerCall:
    # Imported here: only a body trigger_body refuses pays for pydantic.
    from pydantic import ValidationError

    from campaign_engine.models import TriggerRequest

    try:
        request = TriggerRequest.model_validate(data)
    except ValidationError as error:
        raise validation_failed(field_errors_from_pydantic(error.errors(include_url=False))) from None
    # Valid for pydantic after all (python field names instead of the contract's, say).
    try:
        return TriggerCall.from_model(request)
    except trigger_body.ValidationError as error:  # a leniency of pydantic's the trigger does not share
        raise validation_failed([FieldError("body", str(error))]) from None


def _answer(status: int, content_type: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type},
        "body": trigger_body.encode(body).decode(),
        "isBase64Encoded": False,
    }
