"""Frequency caps in DynamoDB: the rules, and one counter per person and channel.

- the rules: `RULES#FREQUENCY` / `RULES` in the campaigns table, the per-channel caps as JSON
  (`{"email": {"count": 3, "period": "P7D", "seconds": 604800}, ...}`) and `updatedAt`;
- a counter: `F#<channel>#<sha256 of namespace and userId>` / `F` in the profiles table, beside the
  person's profile and suppression entries (so delivery reads it in screening's one BatchGetItem).
  `sends` maps a reservation token to the epoch second it was taken, trimmed to the cap's period on
  every write; `v` is the counter's version, which every write checks and moves (two deliveries
  cannot both take the last slot); `expiresAt` (the table's TTL) lets a counter of a person not
  reached again vanish once its last send has left the period. One item per person and channel:
  no hot key, and no personal data in the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import is_conditional_failure, n, s

RULES_KEY = {"pk": s("RULES#FREQUENCY"), "sk": s("RULES")}
COUNTER_SK = "F"
# A reservation that meets a counter moved meanwhile reads the new one (the failed write returns it)
# and tries again this many times before the recipient comes back later.
RESERVE_ATTEMPTS = 5


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------
def get_rules() -> tuple[dict[str, Any], str | None]:
    """The stored caps by channel (empty when none was ever set) and when they were set."""
    item = (
        aws.dynamodb()
        .get_item(TableName=get_settings().campaigns_table, Key=RULES_KEY, ConsistentRead=True)
        .get("Item")
    )
    if not item:
        return {}, None
    return json.loads(item["rules"]["S"]), item.get("updatedAt", {}).get("S")


def put_rules(rules: dict[str, Any], now: str) -> None:
    aws.dynamodb().put_item(
        TableName=get_settings().campaigns_table,
        Item={**RULES_KEY, "rules": s(json.dumps(rules, sort_keys=True)), "updatedAt": s(now)},
    )


# ---------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------
def counter_pk(channel: str, namespace: str, user_id: str) -> str:
    digest = hashlib.sha256(f"{namespace}\n{user_id}".encode()).hexdigest()
    return f"F#{channel}#{digest}"


def counter_key(channel: str, namespace: str, user_id: str) -> dict[str, Any]:
    return {"pk": s(counter_pk(channel, namespace, user_id)), "sk": s(COUNTER_SK)}


class Counter(msgspec.Struct, frozen=True):
    """A counter as read: its version (None: no counter yet) and its sends (token -> epoch second)."""

    version: int | None = None
    sends: dict[str, float] = msgspec.field(default_factory=dict)

    def recent(self, now: float, period_seconds: int) -> dict[str, float]:
        """The sends still inside the period that ends now."""
        since = now - period_seconds
        return {token: at for token, at in self.sends.items() if at > since}


def counter_from_item(item: dict[str, Any] | None) -> Counter:
    if not item:
        return Counter()
    sends = {token: float(value["N"]) for token, value in item.get("sends", {}).get("M", {}).items()}
    version = item.get("v", {}).get("N")
    return Counter(None if version is None else int(version), sends)


def reserve(
    key: dict[str, Any], seen: Counter, *, token: str, now: float, count: int, period_seconds: int
) -> bool | None:
    """Takes one slot on the counter at `key` for `token`, unless `count` sends are already inside the
    period: True when taken, False when the cap is reached, None when the counter kept moving (the
    caller tries later). `seen` is the counter as last read (screening's batched read)."""
    client = aws.dynamodb()
    table = get_settings().profiles_table
    for _ in range(RESERVE_ATTEMPTS):
        recent = seen.recent(now, period_seconds)
        if len(recent) >= count:
            return False
        recent[token] = now
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(v)"}
            if seen.version is None
            else {"ConditionExpression": "v = :seen", "ExpressionAttributeValues": {":seen": n(seen.version)}}
        )
        values = {
            ":sends": {"M": {t: n(at) for t, at in recent.items()}},
            ":v": n((seen.version or 0) + 1),
            ":expires": n(int(max(recent.values()) + period_seconds) + 1),
            **condition.pop("ExpressionAttributeValues", {}),
        }
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET sends = :sends, v = :v, expiresAt = :expires",
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition,
            )
            return True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old: Any = exc.response.get("Item")
            seen = counter_from_item(old)
    return None


def release(key: dict[str, Any], token: str) -> None:
    """Gives a slot back (the send certainly did not happen). Moves the version, so that a reservation
    written from a read that still held this slot fails and reads again."""
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().profiles_table,
            Key=key,
            UpdateExpression="REMOVE sends.#token ADD v :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#token": token},
            ExpressionAttributeValues={":one": n(1)},
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
