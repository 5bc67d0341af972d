"""Report counters: `STATS#<campaignId>` / `H#<bucket>` in the executions table, one item per
campaign and time bucket, its counters added to atomically."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import n, s


def add_report_counts(campaign_id: str, bucket: str, counts: Mapping[str, int]) -> None:
    names = {f"#c{i}": name for i, name in enumerate(counts)}
    values = {f":c{i}": n(counts[name]) for i, name in enumerate(counts)}
    aws.dynamodb().update_item(
        TableName=get_settings().executions_table,
        Key={"pk": s(f"STATS#{campaign_id}"), "sk": s(f"H#{bucket}")},
        UpdateExpression="ADD " + ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def iter_report_counts(campaign_id: str, from_bucket: str | None) -> Iterator[dict[str, int]]:
    condition = "pk = :pk AND sk >= :from" if from_bucket else "pk = :pk"
    values = {":pk": s(f"STATS#{campaign_id}")}
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
            yield {k: int(v["N"]) for k, v in item.items() if ":" in k and "N" in v}
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
