"""What every table module of the store shares: attribute values in DynamoDB's wire format,
decoding the few types the store writes, the keys two modules build, and the one error code
the store acts on."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def n(value: int | float) -> dict[str, str]:
    """A number attribute value."""
    return {"N": str(value)}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """Decodes the few attribute types the store writes (S, N, BOOL, NULL, L of S)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "N":
            out[name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        elif kind == "L":
            out[name] = [v.get("S") for v in raw]
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = raw
    return out


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def execution_pk(execution_id: str) -> str:
    """The partition of one execution: its recipients (`R#<userId>`) and, once its requestId is
    used again, its replaced request record (`EXECUTION`)."""
    return f"EXEC#{execution_id}"


# DynamoDB's limit on a sort key, in UTF-8 bytes (moto enforces it too).
MAX_SORT_KEY_BYTES = 1024


def recipient_key(execution_id: str, user_id: str) -> dict[str, Any]:
    sort_key = f"R#{user_id}"
    # A userId may be 256 characters, up to 1,024 bytes: with its prefix it may not fit a sort
    # key, and the recipient's claim could then never be written (accepted, never sent). Such an
    # id is keyed by its digest (`R#sha256:<hex>`); every reader takes the userId from the item.
    if len(sort_key) * 4 > MAX_SORT_KEY_BYTES and len(sort_key.encode()) > MAX_SORT_KEY_BYTES:
        sort_key = "R#sha256:" + hashlib.sha256(user_id.encode()).hexdigest()
    return {"pk": s(execution_pk(execution_id)), "sk": s(sort_key)}


# BatchWriteItem's limit on items per request, and how often unprocessed ones are sent again.
BATCH_WRITE_ITEMS = 25
BATCH_WRITE_ROUNDS = 8


def batch_write(table: str, requests: Sequence[dict[str, Any]], *, writers: int = 8) -> None:
    """BatchWriteItem `requests` (PutRequest / DeleteRequest, any number) to `table`: 25 a request, up
    to `writers` requests side by side, unprocessed ones sent again with backoff."""
    from campaign_engine import aws  # the store's one client; imported here, as this module is also the keys'

    def write(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: chunk}
        for attempt in range(BATCH_WRITE_ROUNDS):
            pending = aws.dynamodb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off before asking again
        raise RuntimeError(f"DynamoDB left items of {table} unwritten after repeated BatchWriteItem calls")

    chunks = [list(requests[i : i + BATCH_WRITE_ITEMS]) for i in range(0, len(requests), BATCH_WRITE_ITEMS)]
    if len(chunks) <= 1:
        for chunk in chunks:
            write(chunk)
        return
    with ThreadPoolExecutor(max_workers=min(writers, len(chunks)), thread_name_prefix="store-write") as pool:
        list(pool.map(write, chunks))
