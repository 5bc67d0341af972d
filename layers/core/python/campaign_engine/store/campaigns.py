"""The campaigns table: a campaign's head item, its immutable versions, and the list of heads.

`CAMPAIGN#<id>` / `HEAD` holds the campaign as the API shows it (`doc`), its pending draft of a
live campaign (`draft`) and the snapshot triggers use (`live`); `CAMPAIGN#<id>` / `V#000001` are
immutable version snapshots that delivery caches forever.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import is_conditional_failure, n, plain, s
from campaign_engine.store.errors import BadPageToken, ConcurrentModification
from campaign_engine.store.page_tokens import decode_token, encode_token

HEAD = "HEAD"


class CampaignHead(msgspec.Struct):
    """The head item of a campaign: documents are JSON, so nested content round-trips exactly."""

    campaign_id: str
    doc: dict[str, Any]
    revision: int
    draft: dict[str, Any] | None = None
    live: dict[str, Any] | None = None


def _campaign_pk(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def _campaign_page_start(token: str | None) -> dict[str, Any] | None:
    """The head key a campaigns page token names. DynamoDB is never handed a forged key: it
    would refuse it (a 500), or start the scan where the caller chose."""
    start = decode_token(token)
    if start is None:
        return None
    pk, sk = start.get("pk"), start.get("sk")
    if (
        set(start) != {"pk", "sk"}
        or sk != s(HEAD)
        or not isinstance(pk, dict)
        or set(pk) != {"S"}
        or not isinstance(pk["S"], str)
        or not pk["S"].startswith(_campaign_pk(""))
    ):
        raise BadPageToken
    return start


def _head_from_item(item: dict[str, Any]) -> CampaignHead:
    values = plain(item)
    return CampaignHead(
        campaign_id=values["id"],
        doc=json.loads(values["doc"]),
        revision=int(values["revision"]),
        draft=json.loads(values["draft"]) if values.get("draft") else None,
        live=json.loads(values["live"]) if values.get("live") else None,
    )


def get_campaign_head(campaign_id: str, *, consistent: bool = False) -> CampaignHead | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": s(_campaign_pk(campaign_id)), "sk": s(HEAD)},
        ConsistentRead=consistent,
    )
    item = response.get("Item")
    return _head_from_item(item) if item else None


LiveSnapshot = tuple[str, dict[str, Any] | None, list[str]]


def get_live_snapshot(campaign_id: str) -> LiveSnapshot | None:
    """What a trigger needs, in one read: the status, the live version's document, and the
    campaign's access labels (checked before anything about the campaign is said)."""
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": s(_campaign_pk(campaign_id)), "sk": s(HEAD)},
        ProjectionExpression="#status, live, labels",
        ExpressionAttributeNames={"#status": "status"},
    )
    item = response.get("Item")
    if not item:
        return None
    status = item["status"]["S"]
    live = json.loads(item["live"]["S"]) if "live" in item else None
    if "labels" in item:
        labels = [label["S"] for label in item["labels"]["L"]]
    elif live is not None:  # a head written before labels had an attribute: the live version's are the same
        labels = live.get("labels") or []
    else:  # ... and not live: the document says (a read only such a campaign's triggers pay, and refused anyway)
        head = get_campaign_head(campaign_id)
        labels = (head.doc.get("labels") or []) if head else []
    return status, live, labels


def _head_item(head: CampaignHead) -> dict[str, Any]:
    doc = head.doc
    item: dict[str, Any] = {
        "pk": s(_campaign_pk(head.campaign_id)),
        "sk": s(HEAD),
        "id": s(head.campaign_id),
        "status": s(doc["status"]),
        "channel": s(doc["channel"]),
        "type": s(doc["type"]),
        "createdAt": s(doc["createdAt"]),
        "revision": n(head.revision),
        "doc": s(json.dumps(doc, separators=(",", ":"))),
    }
    if doc.get("tags"):
        item["tags"] = {"L": [s(t) for t in doc["tags"]]}
    # Always present (empty too), so that the trigger's one read of the head has them.
    item["labels"] = {"L": [s(label) for label in doc.get("labels") or []]}
    if head.draft is not None:
        item["draft"] = s(json.dumps(head.draft, separators=(",", ":")))
    if head.live is not None:
        item["live"] = s(json.dumps(head.live, separators=(",", ":")))
    return item


# A head item holds up to three copies of a campaign (its view, a pending draft and the live
# version) and its tags once more, within DynamoDB's 400 KB per item: each document is held to
# a quarter of that, as stored, so that no later edit or activation can fail to be written.
MAX_CAMPAIGN_DOCUMENT_BYTES = 96 * 1024


def campaign_document_bytes(doc: dict[str, Any]) -> int:
    """A campaign document's size as the head item stores it (ASCII JSON: characters are bytes)."""
    return len(json.dumps(doc, separators=(",", ":")))


def put_campaign_head(head: CampaignHead, *, expected_revision: int | None) -> CampaignHead:
    """Writes the head with optimistic locking: two concurrent edits cannot both win."""
    new = CampaignHead(head.campaign_id, head.doc, (expected_revision or 0) + 1, head.draft, head.live)
    condition: dict[str, Any]
    if expected_revision is None:
        condition = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "revision = :rev",
            "ExpressionAttributeValues": {":rev": n(expected_revision)},
        }
    try:
        aws.dynamodb().put_item(TableName=get_settings().campaigns_table, Item=_head_item(new), **condition)
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise ConcurrentModification from exc
        raise
    return new


def put_campaign_version(campaign_id: str, version: int, doc: dict[str, Any]) -> None:
    aws.dynamodb().put_item(
        TableName=get_settings().campaigns_table,
        Item={
            "pk": s(_campaign_pk(campaign_id)),
            "sk": s(f"V#{version:06d}"),
            "doc": s(json.dumps(doc, separators=(",", ":"))),
        },
        ConditionExpression="attribute_not_exists(pk)",
    )


def get_campaign_version(campaign_id: str, version: int) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": s(_campaign_pk(campaign_id)), "sk": s(f"V#{version:06d}")},
    )
    item = response.get("Item")
    return json.loads(item["doc"]["S"]) if item else None


def delete_campaign(campaign_id: str, expected_revision: int) -> None:
    client = aws.dynamodb()
    table = get_settings().campaigns_table
    try:
        client.delete_item(
            TableName=table,
            Key={"pk": s(_campaign_pk(campaign_id)), "sk": s(HEAD)},
            ConditionExpression="revision = :rev",
            ExpressionAttributeValues={":rev": n(expected_revision)},
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise ConcurrentModification from exc
        raise


def list_campaign_heads(
    *,
    status: str | None,
    channel: str | None,
    tag: str | None,
    limit: int,
    next_token: str | None,
    visible: Callable[[CampaignHead], bool] | None = None,
) -> tuple[list[CampaignHead], str | None]:
    """A filtered scan over head items, paged: campaigns are few, so a scan beats an index's write cost.
    `visible` filters too (the caller's access labels), while the page is filled."""
    filters = ["sk = :head"]
    values: dict[str, Any] = {":head": s(HEAD)}
    names: dict[str, str] = {}
    if status:
        filters.append("#status = :status")
        values[":status"] = s(status)
        names["#status"] = "status"
    if channel:
        filters.append("channel = :channel")
        values[":channel"] = s(channel)
    if tag:
        filters.append("contains(tags, :tag)")
        values[":tag"] = s(tag)
    kwargs: dict[str, Any] = {
        "TableName": get_settings().campaigns_table,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeValues": values,
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    start = _campaign_page_start(next_token)
    heads: list[CampaignHead] = []
    while True:
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = aws.dynamodb().scan(**kwargs, Limit=max(limit * 4, 50))
        for item in response.get("Items", []):
            head = _head_from_item(item)
            if visible is not None and not visible(head):
                continue
            heads.append(head)
            if len(heads) == limit:
                last = heads[-1].campaign_id
                return heads, encode_token({"pk": s(_campaign_pk(last)), "sk": s(HEAD)})
        start = response.get("LastEvaluatedKey")
        if not start:
            return heads, None
