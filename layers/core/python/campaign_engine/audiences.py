"""Audiences: static lists of identities, filled in chunks, and rule-based audiences whose members
are the profiles a rule selects (audience_rules.py).

- `POST /audiences` creates one: `{"name", "members"}` (static, up to 1,000 members in the call;
  more through `POST /audiences/{id}/members`) or `{"name", "rule"}`.
- `POST /audiences/{id}/members` adds up to 1,000 members a call. Adding a member twice is
  harmless (the same item is written), so an import can be resent after a failure. A member may
  carry a `profile` (the body of PUT /profiles): it is merged into the stored profile (source
  "import"): the fields it gives replace the stored ones, `consents` and `attributes` key by key,
  and the rest stays - so one import brings people and membership in one pass.
- `GET /audiences/{id}`, `GET /audiences` (newest first, paged), `DELETE /audiences/{id}`.

Scopes: `profiles:write` changes audiences; `campaigns:read` or `profiles:write` reads them."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from campaign_engine import store
from campaign_engine.audience_rules import parse_rule
from campaign_engine.auth import Principal
from campaign_engine.errors import DomainError, FieldError, validation_failed
from campaign_engine.models import ApiModel
from campaign_engine.profiles import NAMESPACE_PATTERN, ProfileBody, item_values
from campaign_engine.settings import get_settings
from campaign_engine.store import audiences as audience_store
from campaign_engine.store import people

MAX_MEMBERS_PER_CALL = 1000
# How long one API call may spend deleting members or counting (the function has 10 s).
WORK_SECONDS = 5.0
MAX_ID_BYTES = 512
# DynamoDB nests at most 32 levels; free attributes get fewer.
MAX_ATTRIBUTE_DEPTH = 16
WRITE_SCOPE = "profiles:write"
READ_SCOPES = ("campaigns:read", "profiles:write")


# ---------------------------------------------------------------------------
# Bodies and answers
# ---------------------------------------------------------------------------
def check_storable(value: Any, where: str, depth: int) -> None:
    """What DynamoDB can store as a profile's attribute: nested at most MAX_ATTRIBUTE_DEPTH deep,
    numbers finite and within its range, names not empty. ValueError naming the place."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"{where}: nested more than {MAX_ATTRIBUTE_DEPTH} levels deep")
    if isinstance(value, dict):
        for name, inner in value.items():
            if not name:
                raise ValueError(f"{where}: a name is empty")
            check_storable(inner, f"{where}.{name}", depth + 1)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            check_storable(inner, f"{where}[{index}]", depth + 1)
    elif isinstance(value, float | int) and not isinstance(value, bool) and not _in_range(value):
        raise ValueError(f"{where}: a number out of range")


def _in_range(number: float) -> bool:
    """Within what DynamoDB stores: 38 digits, magnitudes from 1e-125 to 1e125 (rounded in)."""
    if not math.isfinite(number):
        return False
    magnitude = abs(number)
    return number == 0 or (1e-125 < magnitude < 1e125 and len(str(int(magnitude))) <= 38)


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: Annotated[
        str, Field(pattern=NAMESPACE_PATTERN, max_length=64, description="Identity namespace: email, phone, ecid...")
    ]
    id: Annotated[str, Field(min_length=1, max_length=256, description="The identity in that namespace")]
    profile: Annotated[
        ProfileBody | None, Field(description="Optional: merged into the stored profile (source import)")
    ] = None

    @field_validator("profile")
    @classmethod
    def _storable(cls, value: ProfileBody | None) -> ProfileBody | None:
        if value is not None and value.attributes:
            check_storable(value.attributes, "attributes", 1)
            size = len(json.dumps(value.attributes, separators=(",", ":")).encode())
            if size > get_settings().max_profile_bytes:
                raise ValueError(f"attributes: over {get_settings().max_profile_bytes // 1024} KB as JSON")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if len(value.encode()) > MAX_ID_BYTES:
            raise ValueError(f"is over {MAX_ID_BYTES} bytes in UTF-8")
        if value != value.strip():
            raise ValueError("must not start or end with spaces")
        return value


class AudienceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    members: Annotated[
        list[Member] | None,
        Field(max_length=MAX_MEMBERS_PER_CALL, description="A static list's first members (more: /members)"),
    ] = None
    rule: Annotated[
        dict[str, Any] | None, Field(description="A rule audience's rule (see the rule language in the README)")
    ] = None

    @model_validator(mode="after")
    def _one_kind(self) -> AudienceCreate:
        if self.members is not None and self.rule is not None:
            raise ValueError("give members (a static list) or rule (a rule audience), not both")
        return self


class MembersAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: Annotated[list[Member], Field(min_length=1, max_length=MAX_MEMBERS_PER_CALL)]


class Audience(ApiModel):
    id: str
    name: str
    kind: Literal["static", "rule"]
    rule: dict[str, Any] | None = None
    member_count: Annotated[int | None, Field(alias="memberCount")] = None
    count_complete: Annotated[
        bool | None,
        Field(alias="countComplete", description="?count=true: false when the count ran out of time (a lower bound)"),
    ] = None
    created_at: Annotated[str, Field(alias="createdAt")]
    updated_at: Annotated[str, Field(alias="updatedAt")]


class AudienceList(ApiModel):
    items: list[Audience]
    next_token: Annotated[str | None, Field(alias="nextToken")] = None


class MembersAdded(ApiModel):
    added: Annotated[int, Field(description="Members that were not in the list yet")]
    member_count: Annotated[int, Field(alias="memberCount")]


class AudienceDeleting(ApiModel):
    id: str
    status: Literal["deleting"]
    detail: str


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _require_any(principal: Principal, scopes: tuple[str, ...]) -> None:
    if not any(principal.can(scope) for scope in scopes):
        raise DomainError(code="forbidden", detail=f"This API key lacks the {' or '.join(map(repr, scopes))} scope")


def require_write(principal: Principal) -> None:
    _require_any(principal, (WRITE_SCOPE,))


def _not_found(audience_id: str) -> DomainError:
    return DomainError(code="audience_not_found", detail=f"No audience with id {audience_id!r}")


def _view(head: audience_store.AudienceHead) -> Audience:
    return Audience(
        id=head.audience_id,
        name=head.name,
        kind="rule" if head.kind == "rule" else "static",
        rule=json.loads(head.rule) if head.rule else None,
        member_count=head.member_count,
        created_at=head.created_at,
        updated_at=head.updated_at,
    )


def checked_rule(value: Any) -> str:
    """The rule's stored JSON; 400 naming the part at fault."""
    try:
        rule = parse_rule(value)
    except ValueError as error:
        where, _, message = str(error).partition(": ")
        raise validation_failed([FieldError(where, message or str(error))]) from None
    return rule.to_json()


def create(body: AudienceCreate, principal: Principal) -> Audience:
    require_write(principal)
    now = _now()
    audience_id = str(uuid.uuid4())
    if body.rule is not None:
        head = audience_store.AudienceHead(audience_id, body.name, "rule", now, now, rule=checked_rule(body.rule))
    else:
        members = body.members or []
        _upsert_profiles(members, now)
        identities = list(dict.fromkeys((m.namespace, m.id) for m in members))
        audience_store.put_members(audience_id, identities, added_at=now)
        head = audience_store.AudienceHead(audience_id, body.name, "static", now, now, member_count=len(identities))
    audience_store.put_audience(head)
    return _view(head)


def add_members(audience_id: str, body: MembersAdd, principal: Principal) -> MembersAdded:
    require_write(principal)
    head = audience_store.get_audience(audience_id)
    if head is None:
        raise _not_found(audience_id)
    if head.kind != "static":
        raise DomainError(
            code="audience_not_static",
            detail="Members are added to a static audience; a rule audience's members are the profiles "
            "its rule selects",
        )
    now = _now()
    _upsert_profiles(body.members, now)
    try:
        added, count = audience_store.add_members(audience_id, [(m.namespace, m.id) for m in body.members], now=now)
    except audience_store.AudienceGone:
        raise _not_found(audience_id) from None
    return MembersAdded(added=added, member_count=count)


def get(audience_id: str, principal: Principal, *, count: bool = False) -> Audience:
    _require_any(principal, READ_SCOPES)
    head = audience_store.get_audience(audience_id)
    if head is None:
        raise _not_found(audience_id)
    view = _view(head)
    if count:
        if head.kind == "rule" and head.rule is not None:
            found, complete = audience_store.count_rule(parse_rule(view.rule), seconds=WORK_SECONDS)
        else:
            found, complete = audience_store.count_members(audience_id, seconds=WORK_SECONDS)
        view.member_count, view.count_complete = found, complete
    return view


def list_audiences(principal: Principal, *, limit: int, next_token: str | None) -> AudienceList:
    _require_any(principal, READ_SCOPES)
    heads, last = audience_store.list_audiences(limit, _page_start(next_token))
    return AudienceList(items=[_view(head) for head in heads], next_token=store.encode_token(last))


def _page_start(token: str | None) -> dict[str, Any] | None:
    key = store.decode_token(token)
    if key is None:
        return None
    names = {"pk", "sk", "listPk", "listSk"}
    shaped = set(key) == names and all(
        isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str) and 0 < len(value["S"]) <= 512
        for value in key.values()
    )
    if not shaped or key["listPk"]["S"] != audience_store.LIST_PK or not key["pk"]["S"].startswith("A#"):
        raise store.BadPageToken
    return key


def delete(audience_id: str, principal: Principal) -> AudienceDeleting | None:
    """None when the audience is gone; else it is out of reach already and its members are still
    being deleted (a very large list: call DELETE again to go on)."""
    require_write(principal)
    if not audience_store.mark_deleting(audience_id, now=_now()):
        raise _not_found(audience_id)
    if audience_store.delete_audience(audience_id, seconds=WORK_SECONDS):
        return None
    return AudienceDeleting(
        id=audience_id,
        status="deleting",
        detail="The audience is gone from reach; its members are still being deleted: call DELETE again to go on",
    )


# ---------------------------------------------------------------------------
# Profiles brought by an import
# ---------------------------------------------------------------------------
def merged_profile(stored: dict[str, Any] | None, given: dict[str, Any], now: str) -> dict[str, Any]:
    """The profile after an import: `given` (item values) over `stored`, consents and attributes
    key by key; createdAt kept."""
    merged = {k: v for k, v in (stored or {}).items() if k not in ("pk", "sk")}
    for name, value in given.items():
        old = merged.get(name)
        merged[name] = {**old, **value} if name in ("consents", "attributes") and isinstance(old, dict) else value
    merged["createdAt"] = (stored or {}).get("createdAt") or now
    return merged


def _upsert_profiles(members: list[Member], now: str) -> None:
    given: dict[tuple[str, str], dict[str, Any]] = {}
    for member in members:
        if member.profile is not None:
            values = item_values(member.namespace, member.id, member.profile, source="import", now=now)
            key = (member.namespace, member.id)
            given[key] = merged_profile(given.get(key), values, now) if key in given else values
    if not given:
        return
    found = people.batch_get([people.profile_key(*key) for key in given], consistent=True)
    requests = []
    for key, values in given.items():
        stored_item = found.get(people.profile_pk(*key))
        merged = merged_profile(people.from_item(stored_item) if stored_item else None, values, now)
        requests.append({"PutRequest": {"Item": {**people.profile_key(*key), **people.to_item(merged)}}})
    audience_store.batch_write(get_settings().profiles_table, requests)
