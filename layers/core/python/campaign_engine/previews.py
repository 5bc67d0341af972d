"""Seeing a campaign before it sends: a rendered preview, and a ready-to-run trigger request."""

from __future__ import annotations

import json
import shlex
from typing import Any

from campaign_engine.auth import Principal
from campaign_engine.campaigns import get_draft_or_current
from campaign_engine.errors import DomainError, FieldError
from campaign_engine.locales import choose_locale
from campaign_engine.models import PreviewRequest, PreviewResult, TriggerRequestExample
from campaign_engine.render import RenderError, TemplateProblems, compile_content, render_scope, template_variables


def preview(campaign_id: str, request: PreviewRequest, principal: Principal) -> PreviewResult:
    """Renders the campaign's pending draft (or its current version) for sample data; sends nothing."""
    doc = get_draft_or_current(campaign_id, principal)
    content = doc.get("content") or {}
    locale = choose_locale(content, request.locale)
    if locale is None:
        raise DomainError(
            code="no_matching_locale",
            detail=f"No content matches {request.locale!r} and the campaign has no fallback",
            errors=[FieldError("locale", "no matching content")],
        )
    if doc.get("contextSchema"):
        _check_sample_context(doc["contextSchema"], request.context or {})
    scope = render_scope(doc, locale, profile=request.profile, context=request.context)
    try:
        rendered = compile_content(doc["channel"], locale, content["locales"][locale]).render(scope)
    except TemplateProblems as problems:
        raise DomainError(
            code="render_error",
            detail=str(problems),
            errors=[
                FieldError(f"content.locales.{p.locale}.{p.field}", p.message + (f" (line {p.line})" if p.line else ""))
                for p in problems.problems
            ],
        ) from problems
    except RenderError as error:
        field = f"content.locales.{error.locale or locale}.{error.field or 'body'}"
        raise DomainError(
            code="render_error",
            detail=error.message,
            errors=[FieldError(field, error.message)],
        ) from error
    return PreviewResult(
        locale=locale,
        channel=doc["channel"],
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        body=rendered.body,
        title=rendered.title,
        data=rendered.data,
    )


def _check_sample_context(schema: dict[str, Any], context: dict[str, Any]) -> None:
    """The sample context must pass the schema a trigger would hold it to (422 naming where it fails)."""
    from campaign_engine.context_schema import ContextChecker, schema_problems

    if problems := schema_problems(schema):
        raise DomainError(
            code="invalid_context_schema",
            detail=problems[0],
            errors=[FieldError("contextSchema", problem) for problem in problems],
        )
    error = ContextChecker(schema).first_error(context)
    if error is not None:
        raise DomainError(
            code="invalid_context",
            detail=str(error),
            errors=[FieldError("context" + error.path.removeprefix("$"), error.rule)],
        )


def _example_from_schema(schema: dict[str, Any], name: str = "value") -> Any:
    for key in ("examples", "default", "const", "enum"):
        if key in schema:
            value = schema[key]
            return value[0] if key in ("examples", "enum") and isinstance(value, list) and value else value
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: _example_from_schema(v, k) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_example_from_schema(schema.get("items") or {}, name)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 9.99
    if kind == "boolean":
        return True
    formats = {
        "email": "ada@example.com",
        "date-time": "2026-12-01T09:00:00Z",
        "date": "2026-12-01",
        "uri": "https://example.com/",
        "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    }
    return formats.get(schema.get("format", ""), f"example {name}")


def _example_from_templates(doc: dict[str, Any]) -> dict[str, Any]:
    """Every context variable the templates read, as a nested object with placeholder values."""
    context: dict[str, Any] = {}
    for parts in ((doc.get("content") or {}).get("locales") or {}).values():
        sources = [v for k, v in parts.items() if isinstance(v, str)] + list((parts.get("data") or {}).values())
        for source in sources:
            for path in template_variables(source):
                root, _, rest = path.partition(".")
                if root != "context" or not rest:
                    continue
                node = context
                keys = rest.replace("[", ".").replace("]", "").split(".")
                for key in keys[:-1]:
                    child = node.get(key)
                    if not isinstance(child, dict):
                        child = node[key] = {}
                    node = child
                node.setdefault(keys[-1], f"example {keys[-1]}")
    return context


# What the example trigger body shows where the caller puts a device's push token.
PUSH_DEVICE_PLACEHOLDER = "<device-token>"


def _example_recipient(channel: str, namespace: str) -> dict[str, Any]:
    if channel == "sms":
        return {
            "type": "aep",
            "userId": "+14155550100",
            "namespace": namespace,
            "channelData": {"mobilePhoneNumber": "+14155550100"},
        }
    if channel == "push":
        return {
            "type": "aep",
            "userId": "user-123",
            "namespace": namespace,
            "channelData": {
                "pushInfo": {"appID": "com.example.app", "platform": "apns", "token": PUSH_DEVICE_PLACEHOLDER}
            },
        }
    return {
        "type": "aep",
        "userId": "ada@example.com",
        "namespace": namespace,
        "channelData": {"emailAddress": "ada@example.com"},
    }


def trigger_request_example(campaign_id: str, principal: Principal, base_url: str) -> TriggerRequestExample:
    doc = get_draft_or_current(campaign_id, principal)
    schema = doc.get("contextSchema")
    from campaign_engine.context_schema import schema_problems

    usable = bool(schema) and not schema_problems(schema)  # bounded depth: the walk below recurses
    context = _example_from_schema(schema, "context") if schema and usable else _example_from_templates(doc)
    recipient = _example_recipient(doc["channel"], (doc.get("audience") or {}).get("namespace", "email"))
    recipient["context"] = context if isinstance(context, dict) else {}
    body = {"requestId": "replace-with-a-unique-id-per-request", "campaignId": doc["id"], "recipients": [recipient]}
    curl = (
        f"curl -sS -X POST {shlex.quote(base_url.rstrip('/') + '/im/executions/unitary')} \\\n"
        '  -H "Authorization: Bearer $API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body, indent=2, ensure_ascii=False))}"
    )
    return TriggerRequestExample(curl=curl, body=body)
