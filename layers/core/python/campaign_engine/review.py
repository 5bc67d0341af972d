"""Every check that must pass before a campaign goes live (errors) or should be read (warnings).

Peers find template and data errors at send time; here they block activation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from campaign_engine.models import ReviewIssue, ReviewResult
from campaign_engine.render import check_content

REQUIRED_PARTS = {"email": ("subject",), "sms": ("body",), "push": ("body",)}
PUSH_PAYLOAD_LIMIT = 4096


def review_campaign(doc: dict[str, Any]) -> ReviewResult:  # noqa: PLR0915 - one list of checks, read top down
    errors: list[ReviewIssue] = []
    warnings: list[ReviewIssue] = []
    channel = doc["channel"]

    def error(field: str, message: str, code: str) -> None:
        errors.append(ReviewIssue(field=field, message=message, code=code))

    def warning(field: str, message: str, code: str) -> None:
        warnings.append(ReviewIssue(field=field, message=message, code=code))

    content = doc.get("content") or {}
    locales: dict[str, dict[str, Any]] = content.get("locales") or {}
    default = content.get("defaultLocale", "en-US")
    if not locales:
        error("content.locales", f"No content: add at least the default locale {default}", "missing_content")
    elif default not in locales:
        error("content.defaultLocale", f"The default locale {default} has no content", "missing_default_locale")
    for locale, parts in locales.items():
        for part in REQUIRED_PARTS[channel]:
            if not (parts.get(part) or "").strip():
                error(f"content.locales.{locale}.{part}", f"{channel} content needs a {part}", "missing_content")
        if channel == "email" and not (parts.get("html") or parts.get("text")):
            error(f"content.locales.{locale}.html", "email content needs html or text", "missing_content")
        if channel == "push" and len(json.dumps(parts, ensure_ascii=False).encode()) > PUSH_PAYLOAD_LIMIT:
            error(f"content.locales.{locale}", "push payload is over 4 KB", "push_payload_too_large")
        if channel == "sms" and parts.get("body"):
            from campaign_engine.channels.sms import MAX_SEGMENTS, segments

            # The template's own text, before personalisation adds to it.
            cost = segments(parts["body"])
            if cost > MAX_SEGMENTS:
                error(
                    f"content.locales.{locale}.body",
                    f"the SMS needs {cost} segments; at most {MAX_SEGMENTS} can be sent",
                    "sms_too_long",
                )
            elif cost > 3:
                warning(
                    f"content.locales.{locale}.body",
                    f"the SMS costs {cost} segments per recipient",
                    "sms_many_segments",
                )
    for problem in check_content(channel, locales):
        where = f" (line {problem.line})" if problem.line else ""
        error(f"content.locales.{problem.locale}.{problem.field}", f"{problem.message}{where}", "template_syntax")

    sender = doc.get("sender") or {}
    if channel == "email":
        from_email = sender.get("fromEmail")
        if not from_email:
            error("sender.fromEmail", "An email campaign needs a sender address", "missing_sender")
        else:
            from campaign_engine.channels.email import identity_verified

            if not identity_verified(from_email):
                error(
                    "sender.fromEmail",
                    f"{from_email} is not a verified SES identity (address or domain)",
                    "sender_not_verified",
                )

    schedule = doc.get("schedule") or {}
    end = schedule.get("end")
    if end and datetime.fromisoformat(end.replace("Z", "+00:00")) <= datetime.now(UTC):
        error("schedule.end", "The schedule ends in the past", "invalid_schedule")

    schema = doc.get("contextSchema")
    if schema:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            error("contextSchema", f"Not a valid JSON Schema: {exc.message}", "invalid_context_schema")

    if doc.get("type") == "marketing" and not (doc.get("audience") or {}).get("audienceId"):
        warning("audience.audienceId", "No audience: this campaign can only be triggered per recipient", "no_audience")
    return ReviewResult(ok=not errors, errors=errors, warnings=warnings)
