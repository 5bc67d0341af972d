"""Report counters in the executions table: one item per campaign, time bucket and shard, its counters
added to atomically.

Keys: `STATS#<campaignId>` (shard 0) or `STATS#<campaignId>#<shard>` (shards 1 to SHARDS - 1) / `H#<bucket>`.
Each write picks a shard at random, so a campaign sending thousands of emails a second (and getting as
many SES events) spreads its counter writes over SHARDS partition keys instead of one hot key; a report
reads every shard and sums. Shard 0 is the key used before counters were sharded, so older counts are read
as they are. The feedback function's counters are items of their own in the same partitions
(`H#<bucket>#feedback`, written only in its transactions: store/feedback_attempts.py), read with the others."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import n, s

# A partition key takes about 1,000 writes a second: 8 shards leave room for 8,000 counter writes a second
# per campaign (delivery writes once per run, feedback once per SES event), for 8 queries per report.
SHARDS = 8


def report_partition(campaign_id: str, shard: int) -> str:
    return f"STATS#{campaign_id}" if shard == 0 else f"STATS#{campaign_id}#{shard}"


def add_report_counts(campaign_id: str, bucket: str, counts: Mapping[str, int], shard: int | None = None) -> None:
    aws.dynamodb().update_item(**counter_update(campaign_id, bucket, counts, shard))


def counter_update(
    campaign_id: str, bucket: str, counts: Mapping[str, int], shard: int | None = None, part: str | None = None
) -> dict[str, Any]:
    """The UpdateItem (or transaction Update) adding `counts` to a shard of the campaign's hour. `part` names an
    item of the hour's own (`H#<bucket>#<part>`, read and summed with the others): the feedback function's
    transactions write theirs, so that no transaction holds an item other writers add to."""
    names = {f"#c{i}": name for i, name in enumerate(counts)}
    values = {f":c{i}": n(counts[name]) for i, name in enumerate(counts)}
    chosen = random.randrange(SHARDS) if shard is None else shard  # noqa: S311 # nosec B311  # spreads writes over shards, no secret
    return {
        "TableName": get_settings().executions_table,
        "Key": {
            "pk": s(report_partition(campaign_id, chosen)),
            "sk": s(f"H#{bucket}#{part}" if part else f"H#{bucket}"),
        },
        "UpdateExpression": "ADD " + ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True)),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def iter_report_counts(campaign_id: str, from_bucket: str | None) -> Iterator[tuple[str, dict[str, int]]]:
    """(bucket, counters) of every shard's items from `from_bucket` on; a bucket appears once per shard."""
    for shard in range(SHARDS):
        yield from _shard_counts(report_partition(campaign_id, shard), from_bucket)


def _shard_counts(partition: str, from_bucket: str | None) -> Iterator[tuple[str, dict[str, int]]]:
    condition = "pk = :pk AND sk >= :from" if from_bucket else "pk = :pk"
    values = {":pk": s(partition)}
    if from_bucket:
        values[":from"] = s(f"H#{from_bucket}")
    kwargs: dict[str, Any] = {
        "TableName": get_settings().executions_table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    while True:
        response = aws.dynamodb().query(**kwargs)
        for item in response.get("Items", []):
            bucket = item["sk"]["S"].removeprefix("H#").partition("#")[0]  # H#<bucket> and H#<bucket>#<part>
            yield bucket, {k: int(v["N"]) for k, v in item.items() if ":" in k and "N" in v}
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
