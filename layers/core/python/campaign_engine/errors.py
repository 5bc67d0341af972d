"""Domain errors and the one catalogue of their codes.

Every problem the API answers has a stable `code`; PROBLEM_TYPES gives each its HTTP status,
its title and what it means. A DomainError names only its code (and this occurrence's detail,
field errors and extra members); the edge (routes/problems.py, routes/unitary.py) answers it as
application/problem+json, and the OpenAPI document (routes/meta.py) lists the codes from here.
A new code is one line below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec


class ProblemType(msgspec.Struct, frozen=True):
    code: str
    status: int
    title: str
    description: str  # when the API answers it: shown in the OpenAPI document


PROBLEM_TYPES: dict[str, ProblemType] = {
    problem.code: problem
    for problem in (
        ProblemType(
            "validation_failed",
            400,
            "The request is not valid",
            "A field is missing or wrong; `errors` names every one",
        ),
        ProblemType(
            "invalid_json", 400, "The body is not valid JSON", "The body is not JSON, not UTF-8, or nested too deep"
        ),
        ProblemType("invalid_next_token", 400, "Invalid nextToken", "nextToken is not one this API returned"),
        ProblemType(
            "unauthorized",
            401,
            "Unauthorized",
            "No API key, or one that is malformed, unknown, revoked or expired (a revoked or expired key may work for "
            "up to 5 minutes more: the authorizer's cache)",
        ),
        ProblemType(
            "forbidden",
            403,
            "Forbidden",
            "The key lacks the scope, or access to the campaign's labels. A key limited to labels gets this same "
            "403, never a 404, for a campaign or execution it may not reach or that does not exist",
        ),
        ProblemType("campaign_not_found", 404, "Campaign not found", "No campaign has this id"),
        ProblemType("execution_not_found", 404, "Execution not found", "No execution has this id"),
        ProblemType("audience_not_found", 404, "Audience not found", "No audience has this id"),
        ProblemType("route_not_found", 404, "Not found", "No route answers this method and path"),
        ProblemType("profile_not_found", 404, "Profile not found", "No profile has this namespace and id"),
        ProblemType(
            "suppression_not_found", 404, "Not on the suppression list", "This address is not on the channel's list"
        ),
        ProblemType("key_not_found", 404, "API key not found", "No API key has this id"),
        ProblemType("schedule_not_found", 404, "Schedule not found", "No scheduled audience execution has this id"),
        ProblemType("campaign_not_live", 409, "Conflict", "Only a live campaign accepts triggers"),
        ProblemType("outside_schedule_window", 409, "Conflict", "The campaign's schedule does not accept triggers now"),
        ProblemType(
            "schedule_already_started",
            409,
            "Conflict",
            "The scheduled audience execution has started; `executionId` names it (stop the campaign to halt it)",
        ),
        ProblemType(
            "last_admin_key",
            409,
            "Conflict",
            "This is the last active admin key: create another admin key before revoking it",
        ),
        ProblemType("key_revoked", 409, "Conflict", "A revoked key cannot be rotated; create a new one"),
        ProblemType(
            "key_already_rotated",
            409,
            "Conflict",
            "The key was already rotated (or revoked meanwhile): rotate its successor",
        ),
        ProblemType("request_id_reused", 409, "Conflict", "This requestId was already used with a different body"),
        ProblemType("campaign_not_editable", 409, "Conflict", "A campaign in this status cannot be edited"),
        ProblemType("campaign_not_draft", 409, "Conflict", "Only a draft campaign can be deleted"),
        ProblemType("campaign_not_activatable", 409, "Conflict", "A campaign in this status cannot be activated"),
        ProblemType("campaign_not_stoppable", 409, "Conflict", "A campaign in this status cannot be stopped"),
        ProblemType("campaign_not_archivable", 409, "Conflict", "A campaign in this status cannot be archived"),
        ProblemType(
            "concurrent_modification", 409, "Conflict", "The campaign changed meanwhile; read it again and retry"
        ),
        ProblemType(
            "audience_not_static",
            409,
            "Conflict",
            "Members are added to a static audience; a rule audience's members are the profiles its rule selects",
        ),
        ProblemType("payload_too_large", 413, "Payload too large", "The body is over the size limit"),
        ProblemType(
            "campaign_too_large",
            413,
            "Campaign too large",
            "The campaign as stored is over 96 KB; `errors` names its largest part",
        ),
        ProblemType(
            "profile_too_large",
            413,
            "Profile too large",
            "The profile is over 200 KB as JSON; `errors` names its largest field",
        ),
        ProblemType(
            "unsupported_media_type", 415, "Unsupported media type", "The body is not JSON by its Content-Type"
        ),
        ProblemType(
            "review_failed", 422, "The campaign cannot be activated", "Its review found errors; `errors` names them"
        ),
        ProblemType(
            "render_error",
            422,
            "The content cannot be rendered",
            "The content does not compile, or fails with this data; `errors` names the part and line",
        ),
        ProblemType(
            "invalid_context",
            422,
            "The context does not satisfy the contextSchema",
            "The sample context fails the campaign's contextSchema; `errors` names the path and the rule",
        ),
        ProblemType(
            "invalid_context_schema",
            422,
            "The contextSchema cannot be used",
            "The campaign's stored contextSchema breaks a bound (size, depth, patterns, $ref)",
        ),
        ProblemType(
            "not_a_marketing_campaign",
            422,
            "Not a marketing campaign",
            "Only a marketing campaign is sent to an audience; trigger a transactional one per recipient",
        ),
        ProblemType("no_matching_locale", 422, "No content for this locale", "No content matches the locale asked for"),
        ProblemType(
            "internal_error", 500, "Internal error", "The request failed; it is safe to retry with the same requestId"
        ),
    )
}


class FieldError(msgspec.Struct):
    field: str
    message: str


class DomainError(Exception):
    """A problem to answer: `code` is a key of PROBLEM_TYPES, which gives its status and title."""

    def __init__(
        self, code: str, detail: str, errors: list[FieldError] | None = None, extra: dict[str, str] | None = None
    ) -> None:
        if code not in PROBLEM_TYPES:  # a programming error: tests/unit/test_problem_catalogue.py
            raise ValueError(f"{code!r} is not in errors.PROBLEM_TYPES")
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.errors: list[FieldError] = errors if errors is not None else []
        self.extra: dict[str, str] = extra if extra is not None else {}

    @property
    def status(self) -> int:
        return PROBLEM_TYPES[self.code].status

    @property
    def title(self) -> str:
        return PROBLEM_TYPES[self.code].title

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def validation_failed(errors: list[FieldError], detail: str | None = None) -> DomainError:
    return DomainError(
        code="validation_failed",
        detail=detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
        errors=errors,
    )


def check_body_size(body: str, limit: int) -> None:
    """413 for a body over `limit` bytes, before anything parses it."""
    if len(body) > limit:
        raise DomainError(
            code="payload_too_large",
            detail=f"The body is over {limit // (1024 * 1024)} MB; send fewer recipients per call",
        )


def invalid_json(reason: str) -> DomainError:
    return DomainError(
        code="invalid_json",
        detail=f"The request body is not valid JSON: {reason}".rstrip(": "),
        errors=[FieldError("body", "is not valid JSON")],
    )


def internal_error() -> DomainError:
    return DomainError(code="internal_error", detail=PROBLEM_TYPES["internal_error"].description)


PROBLEM_JSON = "application/problem+json"


def problem_document(error: DomainError, request_id: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem details of an error, as every route answers it."""
    body: dict[str, Any] = {
        "type": f"https://triggered-campaigns.dev/problems/{error.code.replace('_', '-')}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "errors": [{"field": e.field, "message": e.message} for e in error.errors],
    }
    body.update(error.extra)
    if request_id and "requestId" not in body:
        body["requestId"] = request_id
    return body


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
        if part == "[key]":  # pydantic's mark for a dict key (not its value) that is wrong: the key names it
            continue
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
