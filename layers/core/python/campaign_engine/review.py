"""Every check that must pass before a campaign goes live (errors) or should be read (warnings).

Peers find template and data errors at send time; here they block activation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from campaign_engine.context_schema import match_budget, matches_pattern
from campaign_engine.models import ReviewIssue, ReviewResult
from campaign_engine.render import check_content, check_render_bounds, template_variables

REQUIRED_PARTS = {"email": ("subject",), "sms": ("body",), "push": ("body",)}
PUSH_PAYLOAD_LIMIT = 4096


class _Findings:
    """The review's errors (they block activation) and warnings (they should be read), in the
    order the checks find them."""

    def __init__(self) -> None:
        self.errors: list[ReviewIssue] = []
        self.warnings: list[ReviewIssue] = []

    def error(self, field: str, message: str, code: str) -> None:
        self.errors.append(ReviewIssue(field=field, message=message, code=code))

    def warning(self, field: str, message: str, code: str) -> None:
        self.warnings.append(ReviewIssue(field=field, message=message, code=code))


def review_campaign(doc: dict[str, Any]) -> ReviewResult:
    found = _Findings()
    channel = doc["channel"]
    content = doc.get("content") or {}
    locales: dict[str, dict[str, Any]] = content.get("locales") or {}
    _check_locales(found, channel, content, locales)
    _check_templates(found, doc, channel, locales)
    _check_sender(found, channel, doc.get("sender") or {})
    end = (doc.get("schedule") or {}).get("end")
    if end and datetime.fromisoformat(end.replace("Z", "+00:00")) <= datetime.now(UTC):
        found.error("schedule.end", "The schedule ends in the past", "invalid_schedule")
    if schema := doc.get("contextSchema"):
        _check_context_schema(found, schema, locales)
    if doc.get("quietHours") and doc.get("type") != "marketing":
        found.error(
            "quietHours",
            "Quiet hours apply to marketing campaigns only: a transactional message is always sent at once",
            "quiet_hours_transactional",
        )
    if doc.get("type") == "marketing" and not (doc.get("audience") or {}).get("audienceId"):
        found.warning(
            "audience.audienceId", "No audience: this campaign can only be triggered per recipient", "no_audience"
        )
    return ReviewResult(ok=not found.errors, errors=found.errors, warnings=found.warnings)


def _check_locales(found: _Findings, channel: str, content: dict[str, Any], locales: dict[str, dict[str, Any]]) -> None:
    """The default locale and every part the channel needs are there, within the channel's size."""
    default = content.get("defaultLocale", "en-US")
    if not locales:
        found.error("content.locales", f"No content: add at least the default locale {default}", "missing_content")
    elif default not in locales:
        found.error("content.defaultLocale", f"The default locale {default} has no content", "missing_default_locale")
    for locale, parts in locales.items():
        for part in REQUIRED_PARTS[channel]:
            if not (parts.get(part) or "").strip():
                found.error(f"content.locales.{locale}.{part}", f"{channel} content needs a {part}", "missing_content")
        if channel == "email" and not (parts.get("html") or parts.get("text")):
            found.error(f"content.locales.{locale}.html", "email content needs html or text", "missing_content")
        if channel == "push" and len(json.dumps(parts, ensure_ascii=False).encode()) > PUSH_PAYLOAD_LIMIT:
            found.error(f"content.locales.{locale}", "push payload is over 4 KB", "push_payload_too_large")
        if channel == "sms" and parts.get("body"):
            _check_sms_segments(found, locale, parts["body"])


def _check_sms_segments(found: _Findings, locale: str, body: str) -> None:
    from campaign_engine.channels.sms import MAX_SEGMENTS, segments

    # The template's own text, before personalisation adds to it.
    cost = segments(body)
    field = f"content.locales.{locale}.body"
    if cost > MAX_SEGMENTS:
        found.error(field, f"the SMS needs {cost} segments; at most {MAX_SEGMENTS} can be sent", "sms_too_long")
    elif cost > 3:
        found.warning(field, f"the SMS costs {cost} segments per recipient", "sms_many_segments")


def _check_templates(found: _Findings, doc: dict[str, Any], channel: str, locales: dict[str, dict[str, Any]]) -> None:
    """Templates compile; only then is it worth rendering them against the bounds."""
    problems = check_content(channel, locales)
    if not problems:
        campaign = {k: doc.get(k) for k in ("id", "name", "version", "type", "channel")}
        problems = check_render_bounds(channel, locales, campaign)
    for problem in problems:
        where = f" (line {problem.line})" if problem.line else ""
        found.error(f"content.locales.{problem.locale}.{problem.field}", f"{problem.message}{where}", problem.code)


def _check_sender(found: _Findings, channel: str, sender: dict[str, Any]) -> None:
    if channel != "email":
        return
    from_email = sender.get("fromEmail")
    if not from_email:
        found.error("sender.fromEmail", "An email campaign needs a sender address", "missing_sender")
        return
    from campaign_engine.channels.email import identity_verified

    if not identity_verified(from_email):
        found.error(
            "sender.fromEmail",
            f"{from_email} is not a verified SES identity (address or domain)",
            "sender_not_verified",
        )


def _check_context_schema(found: _Findings, schema: Any, locales: dict[str, dict[str, Any]]) -> None:
    """The schema is valid and finite, and defines every `context.` path the templates read."""
    from campaign_engine.context_schema import endless_schema, schema_problems

    schema_errors = schema_problems(schema) or endless_schema(schema)
    for schema_error in schema_errors:
        found.error("contextSchema", schema_error, "invalid_context_schema")
    if schema_errors:
        return
    with match_budget():  # patternProperties are run against the variables' names
        issues = context_variable_issues(schema, locales)
    for locale, part, variable, kind in issues:
        field = f"content.locales.{locale}.{part}"
        if kind == "undefined":
            message = f"reads {variable}, which contextSchema does not define: add it to the schema's properties"
            found.error(field, message, "undefined_context_variable")
        elif kind == "forbidden":
            message = (
                f"reads {variable}, which contextSchema requires but forbids (additionalProperties or "
                "unevaluatedProperties is false there): add it to the schema's properties"
            )
            found.error(field, message, "undefined_context_variable")
        else:
            message = f"reads {variable}, which contextSchema requires but does not describe in properties"
            found.warning(field, message, "undescribed_context_variable")


# ---------------------------------------------------------------------------------------------
# Context variables the templates read that contextSchema does not define
# ---------------------------------------------------------------------------------------------

_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_COMBINATIONS = ("allOf", "anyOf", "oneOf")
_BRANCHES = ("then", "else")


def undefined_context_variables(schema: Any, locales: Any) -> list[tuple[str, str, str]]:
    """(locale, part, variable) for every `context.` path a template reads and `schema` does not
    define (the errors of context_variable_issues)."""
    return [
        (locale, part, variable)
        for locale, part, variable, kind in context_variable_issues(schema, locales)
        if kind != "required_only"
    ]


def context_variable_issues(schema: Any, locales: Any) -> list[tuple[str, str, str, str]]:
    """(locale, part, variable, kind) for every `context.` path a template reads and `schema` does not
    define. kind: "undefined"; "forbidden" (named in `required`, yet additionalProperties or
    unevaluatedProperties is false at that level: no context can have it); "required_only" (named in
    `required` of an open object: callers must send it, the schema just does not say its shape).

    A key is defined when a `properties` (or a `patternProperties` pattern) of its object names it,
    following nested `properties`, array `items`, local `$ref`s and every branch of
    `allOf`/`anyOf`/`oneOf`/`if`. `additionalProperties: true` (or left out) does not define a key:
    the schema is what callers are told to send, so a key it does not name is one they will not
    send, however much the validator would let through. `additionalProperties` as a schema (a map
    of any keys) does define every key. An object the schema leaves open (no `properties`,
    `patternProperties` or `additionalProperties` schema, e.g. `{"type": "object"}`) is not
    checked below that point."""
    if not isinstance(schema, dict) or not isinstance(locales, dict):
        return []
    found: list[tuple[str, str, str, str]] = []
    for locale, parts in locales.items():
        if not isinstance(parts, dict):
            continue
        for part, source in _template_sources(parts):
            for variable in sorted(template_variables(source)):
                keys = _context_keys(variable)
                if keys and (missing := _first_undefined(schema, keys)) is not None:
                    index, kind = missing
                    found.append((str(locale), part, "context" + "".join(_show(k) for k in keys[: index + 1]), kind))
    return list(dict.fromkeys(found))


def _template_sources(parts: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name, value in parts.items():
        if isinstance(value, str):
            yield str(name), value
        elif isinstance(value, dict):
            yield from ((f"{name}.{key}", v) for key, v in value.items() if isinstance(v, str))


def _context_keys(variable: str) -> list[str | int] | None:
    """ "context.order.items[0].sku" -> ["order", "items", 0, "sku"]; a computed key
    (`context.prices[...]`) ends the path there: which key it reads is known only at send time."""
    if not variable.startswith("context"):
        return None
    keys: list[str | int] = []
    rest = variable[len("context") :]
    for match in _PATH_STEP.finditer(rest):
        name, index = match.groups()
        if index == "...":
            break
        keys.append(int(index) if index is not None else name)
    return keys


def _show(key: str | int) -> str:
    return f"[{key}]" if isinstance(key, int) else f".{key}"


def _first_undefined(root: dict[str, Any], keys: list[str | int]) -> tuple[int, str] | None:
    """The index of the first key the schema does not define and why (see context_variable_issues),
    or None when all are (or when the schema leaves that place open)."""
    level: list[dict[str, Any]] = [root]
    for position, key in enumerate(keys):
        options = _alternatives(root, level)
        if isinstance(key, int):
            level = [s for o in options for s in _item_schemas(o, key)]
            if not level:
                return None  # not described as an array: open
            continue
        declared = [o for o in options if _declares_keys(o)]
        if not declared:
            return None
        level = [s for o in declared for s in _property_schemas(o, key)]
        if level:
            continue
        if any(isinstance(o.get("required"), list) and key in o["required"] for o in options):
            closed = any(
                o.get("additionalProperties") is False or o.get("unevaluatedProperties") is False for o in options
            )
            return position, "forbidden" if closed else "required_only"
        return position, "undefined"
    return None


def _alternatives(root: dict[str, Any], schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schemas a value at this place may have to satisfy: the schemas themselves, their
    `$ref` targets and every branch of their combinations, without repeats."""
    seen: dict[int, dict[str, Any]] = {}
    stack: list[Any] = list(schemas)
    while stack and len(seen) < 1000:
        schema = stack.pop()
        if not isinstance(schema, dict) or id(schema) in seen:
            continue
        seen[id(schema)] = schema
        if isinstance(ref := schema.get("$ref"), str) and (target := _resolve(root, ref)) is not None:
            stack.append(target)
        for keyword in _COMBINATIONS:
            if isinstance(branches := schema.get(keyword), list):
                stack.extend(branches)
        stack.extend(schema.get(keyword) for keyword in _BRANCHES)
        if isinstance(dependent := schema.get("dependentSchemas"), dict):
            stack.extend(dependent.values())
    return list(seen.values())


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
    if not ref.startswith("#"):
        return None  # a remote schema is not fetched here
    node: Any = root
    for token in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        key = token.replace("~1", "/").replace("~0", "~")
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _declares_keys(schema: dict[str, Any]) -> bool:
    return (
        isinstance(schema.get("properties"), dict)
        or isinstance(schema.get("patternProperties"), dict)
        or _is_map_schema(schema.get("additionalProperties"))
    )


def _is_map_schema(value: Any) -> bool:
    return isinstance(value, dict) and bool(value)


def _property_schemas(schema: dict[str, Any], key: str) -> list[Any]:
    found: list[Any] = []
    properties = schema.get("properties")
    if isinstance(properties, dict) and key in properties:
        found.append(properties[key])
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict):
        for pattern, sub in patterns.items():
            # The bounded engine: a pattern that cannot be run to the end does not call the key undefined.
            if matches_pattern(pattern, key) is not False:
                found.append(sub)
    if not found and _is_map_schema(schema.get("additionalProperties")):
        found.append(schema["additionalProperties"])
    return [f if isinstance(f, dict) else {} for f in found]


def _item_schemas(schema: dict[str, Any], index: int) -> list[dict[str, Any]]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and index < len(prefix) and isinstance(prefix[index], dict):
        return [prefix[index]]
    items = schema.get("items")
    if isinstance(items, dict):
        return [items]
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        return [items[index]]  # draft-07 tuple form
    return []
