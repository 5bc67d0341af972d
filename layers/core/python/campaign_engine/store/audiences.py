"""The audiences table: an audience's head (`A#<id>` / `HEAD`) and, for a static list, its members
spread over SHARDS partitions (`A#<id>#<shard>` / `<namespace>#<id>`), so that importing or reading
millions of members is not one hot partition. A member's shard is fixed by its identity, so adding
the same member twice writes the same item.

The head holds `name`, `kind` (static | rule), `rule` (its JSON, rule audiences), `createdAt`,
`updatedAt` and `memberCount` (static lists). Heads are also indexed under one fixed partition
of the `AudienceList` index (`listPk` = "AUDIENCES", `listSk` = `<createdAt>#<id>`), so listing
audiences is a Query of pages, never a Scan. A head being deleted loses those two attributes (it
leaves the list at once) and gains `deletingAt` until its members are gone.

`memberCount` counts members that were not in the list yet: `add_members` reads the keys it is
given (consistent BatchGetItem, 100 a call) before it writes them, and adds the number it did not
find. Two calls adding the same new member at the same moment both count it, and a call that
fails between the write and the count leaves its members uncounted; `count_members` recounts
exactly (GET /audiences/{id}?count=true).

Fan-out reads members a page at a time with `member_page`, resuming from an opaque cursor (the
shard and DynamoDB's LastEvaluatedKey) that it checkpoints; a rule audience's members come from
`rule_page`, one Scan page of the profiles table with the rule's filter applied in DynamoDB."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store import _dynamodb
from campaign_engine.store._dynamodb import is_conditional_failure, n, s
from campaign_engine.store.errors import StoreError
from campaign_engine.store.people import from_item

if TYPE_CHECKING:
    from campaign_engine.audience_rules import Rule

SHARDS = 16
HEAD_SK = "HEAD"
# BatchWriteItem's limit on items per request.
BATCH_WRITE_ITEMS = 25
# BatchWriteItem calls made side by side by one batch_write.
WRITERS = 8
# BatchGetItem's limit on keys per request.
BATCH_GET_KEYS = 100
LIST_INDEX = "AudienceList"
LIST_PK = "AUDIENCES"


def head_pk(audience_id: str) -> str:
    return f"A#{audience_id}"


def shard_of(namespace: str, member_id: str) -> int:
    digest = hashlib.sha256(f"{namespace}\n{member_id}".encode()).digest()
    return digest[0] % SHARDS


def member_pk(audience_id: str, shard: int) -> str:
    return f"A#{audience_id}#{shard}"


def member_key(audience_id: str, namespace: str, member_id: str) -> dict[str, Any]:
    return {"pk": s(member_pk(audience_id, shard_of(namespace, member_id))), "sk": s(f"{namespace}#{member_id}")}


def put_members(audience_id: str, members: Sequence[tuple[str, str]], *, added_at: str) -> None:
    """Writes members [(namespace, id)] (any number; each written once per call, however often it is given)."""
    items = []
    for namespace, member_id in dict.fromkeys(members):
        item = member_key(audience_id, namespace, member_id)
        item.update({"namespace": s(namespace), "id": s(member_id), "addedAt": s(added_at)})
        items.append(item)
    batch_write(get_settings().audiences_table, [{"PutRequest": {"Item": item}} for item in items])


def new_members(audience_id: str, members: Sequence[tuple[str, str]]) -> int:
    """How many of `members` (duplicates counted once) the list does not hold yet (consistent reads)."""
    keys = [member_key(audience_id, namespace, member_id) for namespace, member_id in dict.fromkeys(members)]
    chunks = [keys[start : start + BATCH_GET_KEYS] for start in range(0, len(keys), BATCH_GET_KEYS)]
    if len(chunks) <= 1:
        return len(keys) - sum(_count_found(chunk) for chunk in chunks)
    with ThreadPoolExecutor(max_workers=min(WRITERS, len(chunks)), thread_name_prefix="audience-read") as pool:
        return len(keys) - sum(pool.map(_count_found, chunks))


def _count_found(keys: list[dict[str, Any]]) -> int:
    table = get_settings().audiences_table
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}}
    found = 0
    for attempt in range(_dynamodb.BATCH_WRITE_ROUNDS):
        response = aws.dynamodb().batch_get_item(RequestItems=request)
        found += len(response.get("Responses", {}).get(table, []))
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError("DynamoDB left audience members unread after repeated BatchGetItem calls")


def delete_members(audience_id: str, members: Sequence[tuple[str, str]]) -> None:
    keys = [member_key(audience_id, namespace, member_id) for namespace, member_id in dict.fromkeys(members)]
    batch_write(get_settings().audiences_table, [{"DeleteRequest": {"Key": key}} for key in keys])


def batch_write(table: str, requests: Sequence[dict[str, Any]]) -> None:
    """BatchWriteItem `requests` (any number) to `table`, 25 at a time, up to WRITERS side by side."""
    _dynamodb.batch_write(table, requests, writers=WRITERS)


class MemberPage(msgspec.Struct, frozen=True):
    members: list[tuple[str, str]]  # (namespace, id)
    cursor: dict[str, Any] | None  # where the next page starts; None when every shard is read


def member_page(audience_id: str, cursor: dict[str, Any] | None = None, *, limit: int = 500) -> MemberPage:
    """The next page of a static audience's members, shard after shard. `cursor` is a previous
    page's (JSON-serialisable: checkpoint it as is); None starts at the beginning."""
    shard = int((cursor or {}).get("shard", 0))
    start_key = (cursor or {}).get("key")
    while shard < SHARDS:
        arguments: dict[str, Any] = {
            "TableName": get_settings().audiences_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(member_pk(audience_id, shard))},
            "Limit": limit,
        }
        if start_key:
            arguments["ExclusiveStartKey"] = start_key
        response = aws.dynamodb().query(**arguments)
        members = [(item["namespace"]["S"], item["id"]["S"]) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if last:
            return MemberPage(members, {"shard": shard, "key": last})
        shard += 1
        start_key = None
        if members:
            return MemberPage(members, {"shard": shard, "key": None} if shard < SHARDS else None)
    return MemberPage([], None)


# ---------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------
class AudienceGone(StoreError):
    """The audience does not exist (or is being deleted)."""


class AudienceHead(msgspec.Struct, frozen=True):
    audience_id: str
    name: str
    kind: str  # static | rule
    created_at: str
    updated_at: str
    rule: str | None = None  # the rule's JSON (rule audiences)
    member_count: int | None = None  # static lists

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": s(head_pk(self.audience_id)),
            "sk": s(HEAD_SK),
            "id": s(self.audience_id),
            "name": s(self.name),
            "kind": s(self.kind),
            "createdAt": s(self.created_at),
            "updatedAt": s(self.updated_at),
            "listPk": s(LIST_PK),
            "listSk": s(f"{self.created_at}#{self.audience_id}"),
        }
        if self.rule is not None:
            item["rule"] = s(self.rule)
        if self.member_count is not None:
            item["memberCount"] = n(self.member_count)
        return item


def _head_from_item(item: dict[str, Any]) -> AudienceHead:
    count = item.get("memberCount")
    return AudienceHead(
        audience_id=item["id"]["S"],
        name=item["name"]["S"],
        kind=item["kind"]["S"],
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
        rule=item["rule"]["S"] if "rule" in item else None,
        member_count=int(count["N"]) if count else None,
    )


def _head_key(audience_id: str) -> dict[str, Any]:
    return {"pk": s(head_pk(audience_id)), "sk": s(HEAD_SK)}


def put_audience(head: AudienceHead) -> None:
    """Writes a new audience's head (its id is new: an existing one is never overwritten)."""
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().audiences_table,
            Item=head.to_item(),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise StoreError(f"audience {head.audience_id} exists already") from exc
        raise


def get_audience(audience_id: str) -> AudienceHead | None:
    """The audience's head; None when there is none, or it is being deleted."""
    item = (
        aws.dynamodb()
        .get_item(TableName=get_settings().audiences_table, Key=_head_key(audience_id), ConsistentRead=True)
        .get("Item")
    )
    if item is None or "deletingAt" in item:
        return None
    return _head_from_item(item)


def list_audiences(limit: int, start: dict[str, Any] | None) -> tuple[list[AudienceHead], dict[str, Any] | None]:
    """A page of audiences, newest first (one Query of the list index), and where the next starts."""
    arguments: dict[str, Any] = {
        "TableName": get_settings().audiences_table,
        "IndexName": LIST_INDEX,
        "KeyConditionExpression": "listPk = :list",
        "ExpressionAttributeValues": {":list": s(LIST_PK)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start:
        arguments["ExclusiveStartKey"] = start
    response = aws.dynamodb().query(**arguments)
    heads = [_head_from_item(item) for item in response.get("Items", []) if "deletingAt" not in item]
    return heads, response.get("LastEvaluatedKey")


def add_to_count(audience_id: str, added: int, *, now: str) -> int:
    """Adds `added` to a static list's memberCount; its new value. AudienceGone when it is no more."""
    try:
        response = aws.dynamodb().update_item(
            TableName=get_settings().audiences_table,
            Key=_head_key(audience_id),
            UpdateExpression="ADD memberCount :added SET updatedAt = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deletingAt)",
            ExpressionAttributeValues={":added": n(added), ":now": s(now)},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise AudienceGone(audience_id) from exc
        raise
    return int(response["Attributes"]["memberCount"]["N"])


def add_members(audience_id: str, members: Sequence[tuple[str, str]], *, now: str) -> tuple[int, int]:
    """Adds members to a static list: (how many were new, the list's memberCount after)."""
    added = new_members(audience_id, members)
    put_members(audience_id, members, added_at=now)
    return added, add_to_count(audience_id, added, now=now)


# ---------------------------------------------------------------------------
# Deletion and counting, within a time budget
# ---------------------------------------------------------------------------
def mark_deleting(audience_id: str, *, now: str) -> bool:
    """Takes the audience out of the list and out of reach (get_audience answers None); False
    when there is no such audience. A head already being deleted is marked again (its deletion
    goes on)."""
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().audiences_table,
            Key=_head_key(audience_id),
            UpdateExpression="SET deletingAt = if_not_exists(deletingAt, :now) REMOVE listPk, listSk",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": s(now)},
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def _shard_keys(audience_id: str, shard: int, limit: int) -> list[dict[str, Any]]:
    response = aws.dynamodb().query(
        TableName=get_settings().audiences_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": s(member_pk(audience_id, shard))},
        ProjectionExpression="pk, sk",
        Limit=limit,
    )
    items: list[dict[str, Any]] = response.get("Items", [])
    return items


def _empty_shard(audience_id: str, shard: int, time_left: Callable[[], float]) -> bool:
    """Deletes one shard's members while time is left; whether the shard is empty."""
    while time_left() > 0:
        keys = _shard_keys(audience_id, shard, 500)
        if not keys:
            return True
        for start in range(0, len(keys), BATCH_WRITE_ITEMS):
            batch_write(
                get_settings().audiences_table,
                [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_ITEMS]],
            )
    return False


def delete_audience(audience_id: str, *, seconds: float) -> bool:
    """Deletes a marked audience's members (shards side by side) for at most `seconds`, then its
    head once none is left; whether it is all gone."""
    deadline = time.monotonic() + seconds

    def time_left() -> float:
        return deadline - time.monotonic()

    with ThreadPoolExecutor(max_workers=SHARDS, thread_name_prefix="audience-delete") as pool:
        done = all(list(pool.map(lambda shard: _empty_shard(audience_id, shard, time_left), range(SHARDS))))
    if done:
        aws.dynamodb().delete_item(TableName=get_settings().audiences_table, Key=_head_key(audience_id))
    return done


def count_members(audience_id: str, *, seconds: float) -> tuple[int, bool]:
    """A static list's members counted exactly (shards side by side), within `seconds`: (count, complete)."""
    deadline = time.monotonic() + seconds

    def shard_count(shard: int) -> tuple[int, bool]:
        return _paged_count(
            "query",
            {
                "TableName": get_settings().audiences_table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": s(member_pk(audience_id, shard))},
            },
            deadline,
        )

    with ThreadPoolExecutor(max_workers=SHARDS, thread_name_prefix="audience-count") as pool:
        counts = list(pool.map(shard_count, range(SHARDS)))
    return sum(c for c, _ in counts), all(done for _, done in counts)


def _paged_count(call: str, arguments: dict[str, Any], deadline: float) -> tuple[int, bool]:
    count = 0
    while time.monotonic() < deadline:
        response = getattr(aws.dynamodb(), call)(**arguments, Select="COUNT")
        count += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if not last:
            return count, True
        arguments = {**arguments, "ExclusiveStartKey": last}
    return count, False


# ---------------------------------------------------------------------------
# Rule audiences: the profiles a rule selects, by Scan pages
# ---------------------------------------------------------------------------
def _rule_scan(rule: Rule) -> dict[str, Any]:
    found = rule.scan_filter()
    return {
        "TableName": get_settings().profiles_table,
        "FilterExpression": found.expression,
        "ExpressionAttributeNames": found.names,
        "ExpressionAttributeValues": found.values,
    }


def rule_page(
    rule: Rule,
    cursor: dict[str, Any] | None = None,
    limit: int = 500,
    *,
    segment: int | None = None,
    total_segments: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One Scan page of the profiles table (`limit` items read, DynamoDB's Limit) with the rule's
    filter applied by DynamoDB: the matching profiles' values (store.people.from_item), each
    checked again with Rule.matches, and the cursor of the next page (DynamoDB's LastEvaluatedKey,
    JSON-serialisable; None at the end). A page may be empty while the cursor is not. `segment`
    and `total_segments` split the scan for workers side by side (DynamoDB's parallel scan)."""
    arguments = {**_rule_scan(rule), "Limit": limit}
    if cursor:
        arguments["ExclusiveStartKey"] = cursor
    if total_segments is not None:
        arguments.update(Segment=segment or 0, TotalSegments=total_segments)
    response = aws.dynamodb().scan(**arguments)
    profiles = [values for values in map(from_item, response.get("Items", [])) if rule.matches(values)]
    return profiles, response.get("LastEvaluatedKey")


def count_rule(rule: Rule, *, seconds: float) -> tuple[int, bool]:
    """How many profiles the rule selects (Scan pages, counted by DynamoDB), within `seconds`."""
    return _paged_count("scan", _rule_scan(rule), time.monotonic() + seconds)
