"""The trigger's side of the profiles table: the recipients' stored profiles in one batched read,
and the profiles it creates for unknown recipients (a campaign's `audience.createProfiles`).

Both sit on the trigger's hot path, so values are converted here by hand (a few type tests per
value) rather than through boto3's TypeSerializer / TypeDeserializer, several times slower.
The item format is store.people's: the same keys, the same native attributes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store import people
from campaign_engine.store._dynamodb import batch_write, is_conditional_failure

# BatchWriteItem requests side by side: a 1,000-recipient call's 40 writes take about a tenth of a
# second; more threads would mostly contend for the interpreter (each request is serialised in Python).
WRITE_THREADS = 4
# DynamoDB's limits on a number (38 significant digits, magnitude 1E-130 to 1E+126) and on nesting.
_MAX_DIGITS = 38
_MAX_NESTING = 32


class Unstorable(ValueError):
    """A value DynamoDB would refuse (nested too deep, a number out of its range)."""


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def read_profiles(identities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, id) -> the stored profile's values (as store.people.from_item gives them), for
    those that exist. One BatchGetItem per 100 identities, side by side; strongly consistent, so a
    profile written just before the trigger (PUT then trigger, a common integration) is seen."""
    wanted = list(dict.fromkeys(identities))
    if not wanted:
        return {}
    found = people.batch_get([people.profile_key(ns, pid) for ns, pid in wanted], consistent=True)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for namespace, profile_id in wanted:
        item = found.get(people.profile_pk(namespace, profile_id))
        if item is not None:
            out[(namespace, profile_id)] = {name: plain(value) for name, value in item.items()}
    return out


def plain(value: dict[str, Any]) -> Any:
    """One attribute value as plain JSON (numbers as int or float), as people.from_attribute gives it."""
    ((kind, raw),) = value.items()
    if kind in ("S", "BOOL"):
        return raw
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    if kind == "M":
        return {k: plain(v) for k, v in raw.items()}
    if kind == "L":
        return [plain(v) for v in raw]
    if kind == "NULL":
        return None
    return people.from_attribute(value)  # sets and binary: never written, read the slow way


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def attribute(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value; Unstorable when DynamoDB would refuse it."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": _number(value)}
    if value is None:
        return {"NULL": True}
    if depth >= _MAX_NESTING:
        raise Unstorable(f"nested deeper than {_MAX_NESTING} levels")
    if isinstance(value, dict):
        return {"M": {str(k): attribute(v, depth + 1) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [attribute(v, depth + 1) for v in value]}
    raise Unstorable(f"{type(value).__name__} is not a JSON value")


def _number(value: int | float) -> str:
    if isinstance(value, int):
        text = str(value)
        if len(text.lstrip("-").rstrip("0")) > _MAX_DIGITS or len(text) > 127:
            raise Unstorable("a number has more digits than DynamoDB keeps")
        return text
    if not math.isfinite(value) or (value != 0 and not 1e-130 <= abs(value) < 1e126):
        raise Unstorable("a number is out of DynamoDB's range")
    return repr(value)


def create_profiles(items: Sequence[dict[str, Any]]) -> None:
    """Writes new profile items (attribute values, keys included). One item is a conditional put,
    so a profile created meanwhile (by PUT /profiles, or a concurrent trigger) is kept as it is;
    more are BatchWriteItem requests of 25, side by side: BatchWriteItem has no conditions, so a
    profile written by someone else in the few milliseconds since the trigger read it would be
    replaced by the trigger's (documented)."""
    if not items:
        return
    table = get_settings().profiles_table
    if len(items) == 1:
        try:
            aws.dynamodb().put_item(TableName=table, Item=items[0], ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        return
    batch_write(table, [{"PutRequest": {"Item": item}} for item in items], writers=WRITE_THREADS)
