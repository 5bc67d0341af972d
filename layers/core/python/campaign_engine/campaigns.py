"""Campaign authoring: create, edit, review, activate, and the lifecycle after that.

Versions: a campaign starts as draft version 1. Activation snapshots the version (immutable,
what delivery renders) and makes it the live one. Editing a live campaign edits a pending
draft (`draftVersion`); activating again replaces the live version with it. A trigger always
uses the version live at that moment, and its execution records which one.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from campaign_engine import store, webhook_settings
from campaign_engine.auth import Principal, may_access_campaign, require, require_campaign_access
from campaign_engine.errors import DomainError, FieldError, field_errors_from_pydantic, validation_failed
from campaign_engine.models import Campaign, CampaignCreate, CampaignList, CampaignPatch, ReviewResult
from campaign_engine.observability import logger

EDITABLE = ("draft", "scheduled", "live")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _load(campaign_id: str, principal: Principal, scope: str) -> store.CampaignHead:
    require(principal, scope)
    return require_campaign_access(principal, store.get_campaign_head(campaign_id, consistent=True), campaign_id)


def _require_labels_held(principal: Principal, labels: list[str]) -> None:
    """A key cannot make a campaign carry labels it does not hold, nor (label-limited) none at all:
    it would lose the campaign, or hand it to keys it has no say over."""
    if not principal.may_access(labels):
        raise DomainError(
            code="forbidden",
            detail="This API key can only give a campaign labels it holds"
            + (f" ({', '.join(sorted(principal.labels))})" if principal.labels else ""),
            errors=[FieldError("labels", "must be labels this API key holds")],
        )


def _view(head: store.CampaignHead) -> Campaign:
    return Campaign.model_validate(head.doc)


def create(body: CampaignCreate, principal: Principal) -> Campaign:
    require(principal, "campaigns:write")
    _require_labels_held(principal, body.labels or [])
    now = _now()
    doc = {
        **_dump(body),
        "id": str(uuid.uuid4()),
        "status": "draft",
        "version": 1,
        "createdAt": now,
        "updatedAt": now,
    }
    doc = _dump(Campaign.model_validate(doc))
    _check_storable(doc)
    webhook_settings.check_campaign(doc)
    head = store.put_campaign_head(store.CampaignHead(doc["id"], doc, 0), expected_revision=None)
    logger.info("campaign created", campaign_id=doc["id"], channel=doc["channel"])
    return webhook_settings.with_new_secret(_view(head), doc)


def get(campaign_id: str, principal: Principal, *, draft: bool = False) -> Campaign:
    """The campaign; with `draft`, the pending draft of a live or scheduled one (its status `draft`,
    its next version), or the campaign itself when it has none."""
    head = _load(campaign_id, principal, "campaigns:read")
    if draft and head.draft is not None:
        return Campaign.model_validate(head.draft)
    return _view(head)


def get_draft_or_current(campaign_id: str, principal: Principal) -> dict[str, Any]:
    head = _load(campaign_id, principal, "campaigns:read")
    return head.draft or head.doc


def list_campaigns(
    principal: Principal,
    *,
    status: str | None,
    channel: str | None,
    tag: str | None,
    limit: int,
    next_token: str | None,
) -> CampaignList:
    require(principal, "campaigns:read")
    # Filtered while the page is filled, so a label-limited key gets full pages of its own campaigns.
    heads, token = store.list_campaign_heads(
        status=status,
        channel=channel,
        tag=tag,
        limit=limit,
        next_token=next_token,
        visible=lambda head: may_access_campaign(principal, head),
    )
    return CampaignList(items=[_view(h) for h in heads], next_token=token)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def patch(campaign_id: str, raw_patch: dict[str, Any], principal: Principal) -> Campaign:
    """Edits a draft in place; on a live or scheduled campaign edits (or starts) its pending draft."""
    head = _load(campaign_id, principal, "campaigns:write")  # 403 before anything is checked
    for fixed in (
        "id",
        "type",
        "channel",
        "status",
        "version",
        "createdAt",
        "updatedAt",
        "liveVersion",
        "draftVersion",
        "activatedAt",
    ):
        if fixed in raw_patch:
            raise DomainError(
                code="validation_failed",
                detail=f"{fixed} cannot be changed",
                errors=[FieldError(fixed, "cannot be changed")],
            )
    CampaignPatch.model_validate(raw_patch)  # refuses unknown fields and bad values, naming them
    status = head.doc["status"]
    if status not in EDITABLE:
        raise DomainError(
            code="campaign_not_editable",
            detail=f"A {status} campaign cannot be edited; duplicate it instead",
            extra={"campaignId": campaign_id},
        )
    base = head.draft if head.draft is not None else head.doc
    merged = merge_patch(base, raw_patch)
    _require_labels_held(principal, merged.get("labels") or [])
    merged["updatedAt"] = _now()
    if status != "draft":
        merged["status"] = "draft"
        merged["version"] = int(head.doc.get("liveVersion") or head.doc["version"]) + 1
        merged.pop("liveVersion", None)
        merged.pop("draftVersion", None)
        merged.pop("activatedAt", None)
    # A merge patch merges into the stored schema: the result, not only the patch, must be usable.
    if "contextSchema" in raw_patch and merged.get("contextSchema") is not None:
        from campaign_engine.context_schema import schema_problems

        if problems := schema_problems(merged["contextSchema"]):
            raise validation_failed([FieldError("contextSchema", "; ".join(problems[:3]))])
    try:
        validated = _dump(Campaign.model_validate(merged))
    except ValidationError as exc:
        raise DomainError(
            code="validation_failed",
            detail="The patched campaign is not valid",
            errors=field_errors_from_pydantic(exc.errors()),
        ) from exc
    _check_storable(validated)
    if raw_patch.get("webhook") is not None:
        webhook_settings.check_campaign(validated)
    if status == "draft":
        head.doc = validated
    else:
        head.draft = validated
        head.doc = {**head.doc, "draftVersion": validated["version"], "updatedAt": validated["updatedAt"]}
    saved = store.put_campaign_head(head, expected_revision=head.revision)
    if raw_patch.get("webhook") is not None:  # a live campaign's webhook is in its draft (`validated`)
        return webhook_settings.with_new_secret(_view(saved), validated)
    return _view(saved)


def delete(campaign_id: str, principal: Principal) -> None:
    head = _load(campaign_id, principal, "campaigns:write")
    if head.doc["status"] != "draft":
        raise DomainError(
            code="campaign_not_draft",
            detail="Only a draft campaign can be deleted; stop or archive it instead",
            extra={"campaignId": campaign_id},
        )
    store.delete_campaign(campaign_id, head.revision)


def review(campaign_id: str, principal: Principal) -> ReviewResult:
    from campaign_engine.review import review_campaign  # the renderer: only review and activation need it

    head = _load(campaign_id, principal, "campaigns:read")
    return review_campaign(head.draft or head.doc)


def activate(campaign_id: str, principal: Principal) -> Campaign:
    head = _load(campaign_id, principal, "campaigns:write")
    status = head.doc["status"]
    candidate = head.draft if head.draft is not None else head.doc
    if status not in EDITABLE:
        raise DomainError(
            code="campaign_not_activatable",
            detail=f"A {status} campaign cannot be activated",
            extra={"campaignId": campaign_id},
        )
    if status in ("live", "scheduled") and head.draft is None:
        return _view(head)  # already active with nothing pending: activation is idempotent
    from campaign_engine.review import review_campaign  # the renderer: only review and activation need it

    result = review_campaign(candidate)
    if not result.ok:
        raise DomainError(
            code="review_failed",
            detail="; ".join(f"{e.field}: {e.message}" for e in result.errors[:5]),
            errors=[FieldError(e.field, e.message) for e in result.errors],
            extra={"campaignId": campaign_id},
        )
    now = _now()
    start = (candidate.get("schedule") or {}).get("start")
    starts_later = bool(start and datetime.fromisoformat(start.replace("Z", "+00:00")) > datetime.now(UTC))
    version = int(candidate["version"])
    live = copy.deepcopy(candidate)
    live.update(
        {
            "status": "scheduled" if starts_later else "live",
            "liveVersion": version,
            "activatedAt": now,
            "updatedAt": now,
        }
    )
    live.pop("draftVersion", None)
    store.put_campaign_version(campaign_id, version, live)
    head.doc, head.draft, head.live = live, None, live
    saved = store.put_campaign_head(head, expected_revision=head.revision)
    logger.info("campaign activated", campaign_id=campaign_id, version=version, status=live["status"])
    return _view(saved)


def _transition(campaign_id: str, principal: Principal, allowed: tuple[str, ...], to: str, *, code: str) -> Campaign:
    head = _load(campaign_id, principal, "campaigns:write")
    status = head.doc["status"]
    if status == to:
        return _view(head)
    if status not in allowed:
        raise DomainError(code=code, detail=f"A {status} campaign cannot be {to}", extra={"campaignId": campaign_id})
    head.doc = {**head.doc, "status": to, "updatedAt": _now()}
    if head.live is not None:
        head.live = {**head.live, "status": to}
    saved = store.put_campaign_head(head, expected_revision=head.revision)
    logger.info("campaign status changed", campaign_id=campaign_id, status=to)
    return _view(saved)


def stop(campaign_id: str, principal: Principal) -> Campaign:
    return _transition(campaign_id, principal, ("scheduled", "live"), "stopped", code="campaign_not_stoppable")


def archive(campaign_id: str, principal: Principal) -> Campaign:
    return _transition(
        campaign_id,
        principal,
        ("scheduled", "live", "stopped", "completed"),
        "archived",
        code="campaign_not_archivable",
    )


def duplicate(campaign_id: str, principal: Principal) -> Campaign:
    """A new draft with the same properties and content (of the pending draft, if any)."""
    source = get_draft_or_current(campaign_id, principal)
    body = {k: v for k, v in source.items() if k in SETTABLE}
    body["name"] = f"{source['name']} (copy)"[:200]
    return create(CampaignCreate.model_validate(body), principal)


SETTABLE = {field.alias or name for name, field in CampaignCreate.model_fields.items()}


def _check_storable(doc: dict[str, Any]) -> None:
    """413 for a campaign too large to store, naming its largest part, before anything is written:
    found only at activation it would be a campaign that can never go live."""
    size = store.campaign_document_bytes(doc)
    if size <= store.MAX_CAMPAIGN_DOCUMENT_BYTES:
        return
    path, node = [], doc
    while isinstance(node, dict) and node:
        key = max(node, key=lambda k: store.campaign_document_bytes({k: node[k]}))
        path.append(key)
        node = node[key]
    largest = ".".join(path)
    limit_kb = store.MAX_CAMPAIGN_DOCUMENT_BYTES // 1024
    raise DomainError(
        code="campaign_too_large",
        detail=f"The campaign is {size // 1024} KB as stored, over {limit_kb} KB; its largest part is {largest}",
        errors=[FieldError(largest, f"makes the campaign larger than {limit_kb} KB as stored")],
    )
