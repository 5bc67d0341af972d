"""Domain errors. Each carries a stable `code` and the HTTP status it maps to; the API
layer turns them into application/problem+json in one place (`http.problem`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class DomainError(Exception):
    code: str
    detail: str
    status: int = 400
    title: str = ""
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def validation_failed(errors: list[FieldError], detail: str | None = None) -> DomainError:
    return DomainError(
        code="validation_failed",
        status=400,
        title="The request is not valid",
        detail=detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
        errors=errors,
    )


def check_body_size(body: str, limit: int) -> None:
    """413 for a body over `limit` bytes, before anything parses it."""
    if len(body) > limit:
        raise DomainError(
            code="payload_too_large",
            status=413,
            title="Payload too large",
            detail=f"The body is over {limit // (1024 * 1024)} MB; send fewer recipients per call",
        )


def invalid_json(reason: str) -> DomainError:
    return DomainError(
        code="invalid_json",
        status=400,
        title="The body is not valid JSON",
        detail=f"The request body is not valid JSON: {reason}".rstrip(": "),
        errors=[FieldError("body", "is not valid JSON")],
    )


def internal_error() -> DomainError:
    return DomainError(
        code="internal_error",
        status=500,
        title="Internal error",
        detail="The request failed; it is safe to retry with the same requestId",
    )


PROBLEM_JSON = "application/problem+json"


def problem_document(error: DomainError, request_id: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem details of an error, as every route answers it."""
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
    return body


def not_found(code: str, what: str, ident: str) -> DomainError:
    return DomainError(code=code, status=404, title=f"{what} not found", detail=f"No {what.lower()} with id {ident!r}")


def conflict(code: str, detail: str, **extra: str) -> DomainError:
    return DomainError(code=code, status=409, title="Conflict", detail=detail, extra=dict(extra))


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'recipients', 3, 'channelData', 'emailAddress') -> recipients[3].channelData.emailAddress"""
    parts = list(loc)
    if not parts:  # the body as a whole (not an object, say)
        return "body"
    if parts and parts[0] in ("body", "query", "path", "header"):
        source = parts.pop(0)
        if not parts:
            return "body" if source == "body" else source
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def field_errors_from_pydantic(errors: Sequence[Any]) -> list[FieldError]:
    result = []
    for error in errors:
        message = str(error.get("msg", "is not valid"))
        if error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "missing":
            message = "is required"
        result.append(FieldError(field=field_path(error.get("loc", ())), message=message))
    return result
