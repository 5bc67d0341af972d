"""The audiences table: an audience's head (`A#<id>` / `HEAD`) and, for a static list, its members
spread over SHARDS partitions (`A#<id>#<shard>` / `<namespace>#<id>`), so that importing or reading
millions of members is not one hot partition. A member's shard is fixed by its identity, so adding
the same member twice writes the same item.

Fan-out reads members a page at a time with `member_page`, resuming from an opaque cursor (the
shard and DynamoDB's LastEvaluatedKey) that it checkpoints."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import s

SHARDS = 16
HEAD_SK = "HEAD"
# BatchWriteItem's limit on items per request.
BATCH_WRITE_ITEMS = 25
BATCH_WRITE_ROUNDS = 8


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
    for start in range(0, len(items), BATCH_WRITE_ITEMS):
        _write_chunk([{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_ITEMS]])


def delete_members(audience_id: str, members: Sequence[tuple[str, str]]) -> None:
    keys = [member_key(audience_id, namespace, member_id) for namespace, member_id in dict.fromkeys(members)]
    for start in range(0, len(keys), BATCH_WRITE_ITEMS):
        _write_chunk([{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_ITEMS]])


def _write_chunk(requests: list[dict[str, Any]]) -> None:
    table = get_settings().audiences_table
    pending: dict[str, Any] = {table: requests}
    for attempt in range(BATCH_WRITE_ROUNDS):
        response = aws.dynamodb().batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off before asking again
    raise RuntimeError("DynamoDB left audience members unwritten after repeated BatchWriteItem calls")


@dataclass(frozen=True)
class MemberPage:
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
