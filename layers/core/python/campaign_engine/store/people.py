"""The profiles table: profiles by identity and the suppression list by address.

- a profile: `P#<namespace>#<id>` / `P`, its fields as native DynamoDB attributes (so that a
  rule-based audience's scan can filter on them in DynamoDB), see `profile_item`;
- a suppression entry: `S#<channel>#<sha256 of the normalised address>` / `S`, with the reason,
  when it was added, and the address in clear (removed when the person is erased: the digest
  keeps the address suppressed).

Reads for many people are one BatchGetItem per 100 keys (`batch_get`), never a request each."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import batch_write, is_conditional_failure, s

PROFILE_SK = "P"
SUPPRESSION_SK = "S"
# BatchGetItem's limit on keys per request.
BATCH_GET_KEYS = 100
# Unprocessed keys (throttling) are asked again this many times before the read fails.
BATCH_GET_ROUNDS = 8

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------
def profile_pk(namespace: str, profile_id: str) -> str:
    return f"P#{namespace}#{profile_id}"


def profile_key(namespace: str, profile_id: str) -> dict[str, Any]:
    return {"pk": s(profile_pk(namespace, profile_id)), "sk": s(PROFILE_SK)}


def normalise_address(channel: str, address: Any) -> str:
    """The form an address is suppressed under: emails without case or spaces, phone numbers as
    given (E.164 by then), push by device token."""
    if channel == "push":
        return str(address.get("token") if isinstance(address, dict) else address).strip()
    text = str(address).strip()
    return text.lower() if channel == "email" else text


def address_digest(channel: str, address: Any) -> str:
    return hashlib.sha256(f"{channel}\n{normalise_address(channel, address)}".encode()).hexdigest()


def suppression_pk(channel: str, address: Any) -> str:
    return f"S#{channel}#{address_digest(channel, address)}"


def suppression_key(channel: str, address: Any) -> dict[str, Any]:
    return {"pk": s(suppression_pk(channel, address)), "sk": s(SUPPRESSION_SK)}


# ---------------------------------------------------------------------------
# Values: plain Python <-> DynamoDB attribute values
# ---------------------------------------------------------------------------
def to_attribute(value: Any) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (floats through Decimal, as DynamoDB needs)."""
    serialized: dict[str, Any] = _serializer.serialize(_decimals(value))  # type: ignore[assignment]
    return serialized


def from_attribute(value: dict[str, Any]) -> Any:
    return _plain_numbers(_deserializer.deserialize(value))  # type: ignore[arg-type]


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: from_attribute(value) for name, value in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    if isinstance(value, set):  # string and number sets are never written; read them as lists
        return sorted(_plain_numbers(v) for v in value)
    return value


# ---------------------------------------------------------------------------
# Batched reads
# ---------------------------------------------------------------------------
def batch_get(keys: Sequence[dict[str, Any]], *, consistent: bool = False) -> dict[str, dict[str, Any]]:
    """The items found for `keys` (any number, duplicates allowed), by their pk, as stored
    (attribute values). Chunks of 100 keys are read side by side."""
    unique = list({key["pk"]["S"] + "\n" + key["sk"]["S"]: key for key in keys}.values())
    chunks = [unique[i : i + BATCH_GET_KEYS] for i in range(0, len(unique), BATCH_GET_KEYS)]
    found: dict[str, dict[str, Any]] = {}
    if len(chunks) <= 1:
        for chunk in chunks:
            found.update(_get_chunk(chunk, consistent))
        return found
    with ThreadPoolExecutor(max_workers=min(8, len(chunks)), thread_name_prefix="people-read") as pool:
        for part in pool.map(lambda chunk: _get_chunk(chunk, consistent), chunks):
            found.update(part)
    return found


def _get_chunk(keys: list[dict[str, Any]], consistent: bool) -> dict[str, dict[str, Any]]:
    table = get_settings().profiles_table
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": consistent}}
    found: dict[str, dict[str, Any]] = {}
    for _ in range(BATCH_GET_ROUNDS):
        response = aws.dynamodb().batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, []):
            found[item["pk"]["S"]] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
    raise RuntimeError("DynamoDB left keys unprocessed after repeated BatchGetItem calls")


def get_profiles(identities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, id) -> the stored profile item's values (see from_item), for those that exist."""
    wanted = list(dict.fromkeys(identities))
    found = batch_get([profile_key(namespace, profile_id) for namespace, profile_id in wanted])
    out = {}
    for namespace, profile_id in wanted:
        item = found.get(profile_pk(namespace, profile_id))
        if item is not None:
            out[(namespace, profile_id)] = from_item(item)
    return out


def get_suppressions(channel: str, addresses: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """address digest -> the suppression entry's values, for the addresses on the list."""
    keys = [suppression_key(channel, address) for address in addresses]
    return {item["pk"]["S"].rpartition("#")[2]: from_item(item) for item in batch_get(keys).values()}


# ---------------------------------------------------------------------------
# One profile
# ---------------------------------------------------------------------------
# The profile's own fields and its attributes: a PUT that leaves one out removes it.
REPLACED_FIELDS = ("email", "phone", "pushTokens", "preferredLanguage", "timezone", "consents", "attributes")


def replace_profile(values: dict[str, Any], *, now: str) -> dict[str, Any]:
    """Writes a whole profile (profiles.item_values) in one UpdateItem: what `values` holds is set,
    the fields it lacks are removed, `createdAt` is kept from a profile already there. Returns the
    stored profile's values. Raises ClientError ValidationException for an item DynamoDB refuses."""
    namespace, profile_id = values["namespace"], values["id"]
    names: dict[str, str] = {}
    attribute_values: dict[str, Any] = {":now": s(now)}
    assignments = ["#createdAt = if_not_exists(#createdAt, :now)"]
    names["#createdAt"] = "createdAt"
    for index, (name, value) in enumerate(sorted(values.items())):
        if value is None:
            continue
        names[f"#f{index}"] = name
        attribute_values[f":f{index}"] = to_attribute(value)
        assignments.append(f"#f{index} = :f{index}")
    removals = []
    for index, name in enumerate(REPLACED_FIELDS):
        if values.get(name) is None:
            names[f"#r{index}"] = name
            removals.append(f"#r{index}")
    update = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
    answer = aws.dynamodb().update_item(
        TableName=get_settings().profiles_table,
        Key=profile_key(namespace, profile_id),
        UpdateExpression=update,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=attribute_values,
        ReturnValues="ALL_NEW",
    )
    return _without_keys(from_item(answer.get("Attributes") or {}))


def get_profile(namespace: str, profile_id: str) -> dict[str, Any] | None:
    """The stored profile's values (strongly consistent), or None."""
    answer = aws.dynamodb().get_item(
        TableName=get_settings().profiles_table, Key=profile_key(namespace, profile_id), ConsistentRead=True
    )
    item = answer.get("Item")
    return _without_keys(from_item(item)) if item else None


def delete_profile(namespace: str, profile_id: str) -> dict[str, Any] | None:
    """Deletes the profile; returns the values it had, or None when there was none."""
    answer = aws.dynamodb().delete_item(
        TableName=get_settings().profiles_table, Key=profile_key(namespace, profile_id), ReturnValues="ALL_OLD"
    )
    item = answer.get("Attributes")
    return _without_keys(from_item(item)) if item else None


def _without_keys(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name not in ("pk", "sk")}


# ---------------------------------------------------------------------------
# The suppression list
# ---------------------------------------------------------------------------


def suppression_values(channel: str, address: str, *, reason: str, source: str, added_at: str) -> dict[str, Any]:
    return {"channel": channel, "address": address, "reason": reason, "source": source, "addedAt": added_at}


def put_suppressions(entries: Sequence[dict[str, Any]]) -> int:
    """Adds entries (suppression_values) that are not on the list yet; an address already listed
    keeps its entry (its first reason and date). Returns how many were added. One BatchGetItem per
    100 addresses, one BatchWriteItem per 25 new entries."""
    by_pk: dict[str, dict[str, Any]] = {}
    for entry in entries:
        by_pk.setdefault(suppression_pk(entry["channel"], entry["address"]), entry)
    listed = batch_get([{"pk": s(pk), "sk": s(SUPPRESSION_SK)} for pk in by_pk], consistent=True)
    new = [(pk, entry) for pk, entry in by_pk.items() if pk not in listed]
    requests = [{"PutRequest": {"Item": {"pk": s(pk), "sk": s(SUPPRESSION_SK), **to_item(entry)}}} for pk, entry in new]
    batch_write(get_settings().profiles_table, requests)
    return len(new)


def add_suppression(channel: str, address: str, *, reason: str, source: str, at: str) -> None:
    """One address on the list in one UpdateItem (SES feedback): the reason and source are the
    latest cause, `addedAt` stays the first time it was listed."""
    aws.dynamodb().update_item(
        TableName=get_settings().profiles_table,
        Key=suppression_key(channel, address),
        UpdateExpression=(
            "SET #channel = :channel, #address = :address, #reason = :reason, #source = :source, "
            "#addedAt = if_not_exists(#addedAt, :at)"
        ),
        ExpressionAttributeNames={
            "#channel": "channel",
            "#address": "address",
            "#reason": "reason",
            "#source": "source",
            "#addedAt": "addedAt",
        },
        ExpressionAttributeValues={
            ":channel": s(channel),
            ":address": s(address),
            ":reason": s(reason),
            ":source": s(source),
            ":at": s(at),
        },
    )


def get_suppression(channel: str, address: str) -> dict[str, Any] | None:
    answer = aws.dynamodb().get_item(
        TableName=get_settings().profiles_table, Key=suppression_key(channel, address), ConsistentRead=True
    )
    item = answer.get("Item")
    return _without_keys(from_item(item)) if item else None


def delete_suppression(channel: str, address: str) -> bool:
    """Takes the address off the list; False when it was not on it."""
    answer = aws.dynamodb().delete_item(
        TableName=get_settings().profiles_table, Key=suppression_key(channel, address), ReturnValues="ALL_OLD"
    )
    return bool(answer.get("Attributes"))


def scrub_suppression_address(channel: str, address: Any) -> bool:
    """Removes the address in clear from its entry, which stays (keyed by the digest, the address
    stays suppressed). False when the address is not on the list."""
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().profiles_table,
            Key=suppression_key(channel, address),
            UpdateExpression="REMOVE #address",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#address": "address"},
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def suppress_unless_listed(channel: str, address: str, *, reason: str, source: str, at: str) -> bool:
    """Puts the address on the list in one conditional PutItem, unless it is listed already (its entry,
    maybe a hard bounce's, is kept as it was). True when it was added."""
    item = {
        **suppression_key(channel, address),
        **to_item(suppression_values(channel, address, reason=reason, source=source, added_at=at)),
    }
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().profiles_table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def set_consent(namespace: str, profile_id: str, channel: str, value: str, *, at: str) -> bool:
    """Sets a stored profile's consent for `channel` (one UpdateItem; a second when the profile has no
    consents yet). False when there is no such profile: none is created."""
    client, table, key = aws.dynamodb(), get_settings().profiles_table, profile_key(namespace, profile_id)
    names = {"#consents": "consents", "#updatedAt": "updatedAt"}
    attempts = (
        ("SET #consents.#channel = :value, #updatedAt = :at", "attribute_exists(pk) AND attribute_exists(#consents)",
         {**names, "#channel": channel}, {":value": s(value), ":at": s(at)}),
        ("SET #consents = :consents, #updatedAt = :at", "attribute_exists(pk) AND attribute_not_exists(#consents)",
         names, {":consents": {"M": {channel: s(value)}}, ":at": s(at)}),
    )  # fmt: skip
    for update, condition, attribute_names, values in attempts:
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
    return False
