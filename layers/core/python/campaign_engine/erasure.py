"""Erasing a person (DELETE /profiles/{namespace}/{id}).

At once, in the API call (`start`):
- the address in clear is removed from the suppression entries of the profile's email, phone and
  push tokens, and of the id itself when the namespace is `email` or `phone`: each entry stays,
  keyed by the address's digest, so the address stays suppressed;
- an `erasure` job is queued, then the profile is deleted (in that order, so that a call that
  fails halfway can be repeated with everything still known).

Then, in the jobs function (`erasure_step`), in checkpointed steps:
1. a Scan of the executions table, page by page, for the records that hold one of the person's ids
   (the profile's id, and its email and phone, which serve as userIds in the `email` and `phone`
   namespaces): each such id is replaced by a pseudonym, `erased:` and 12 hex digits of a SHA-256
   salted with a random value drawn for this erasure (so nobody can confirm a guessed address
   from it); the same pseudonym everywhere, so an execution's status still adds up:
   - a recipient item `EXEC#<executionId>` / `R#<userId>` moves to `R#<pseudonym>` (its key held
     the id), with email addresses and phone numbers in its `detail` blanked;
   - a request record's `verdicts` (its answer, replayed for a repeated requestId);
   - a delivery run's outcome batch (`OUTCOMES#<n>`), keyed by `<executionId>|<userId>`;
   - any other item whose `userId` attribute holds the id;
2. a Scan of the audiences table deleting the person's static memberships (`<namespace>#<id>`,
   and `email#<email>`, `phone#<phone>` of the profile).

Each step works while time is left (at least one page), then returns its continuation with the
Scan's cursor; a step that fails is redelivered and resumes from the cursor it was given. Every
change is idempotent: a record already pseudonymised no longer matches."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from campaign_engine import aws, jobs
from campaign_engine.observability import logger
from campaign_engine.settings import get_settings
from campaign_engine.store import people
from campaign_engine.store._dynamodb import is_conditional_failure, s

PSEUDONYM_PREFIX = "erased:"
# Items read per Scan page (before the filter): a page is the unit of a checkpoint.
SCAN_PAGE = 500
# A record changed between the Scan and its rewrite is read again and rewritten, this many times.
REWRITE_ROUNDS = 3
# Email addresses and E.164 numbers in a stored detail (a provider's message may quote them).
_ADDRESSES = re.compile(r"<?[^\s<>()\[\];:,\"']+@[^\s<>()\[\];:,\"']+>?|\+\d{7,15}")


def pseudonym(salt: str, user_id: str) -> str:
    return PSEUDONYM_PREFIX + hashlib.sha256(f"{salt}\n{user_id}".encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------
# Starting: the API call
# ---------------------------------------------------------------------------
def _identities(namespace: str, profile_id: str, stored: dict[str, Any] | None) -> list[str]:
    """The ids the person may hold in execution records."""
    ids = [profile_id]
    if stored:
        email, phone = stored.get("email"), stored.get("phone")
        if isinstance(email, str) and email:
            ids += [email, email.lower()]
        if isinstance(phone, str) and phone:
            ids.append(phone)
    if namespace == "email":
        ids.append(profile_id.lower())
    return list(dict.fromkeys(ids))


def _members(namespace: str, profile_id: str, stored: dict[str, Any] | None) -> list[str]:
    """The person's static audience memberships, as their sort keys."""
    members = [f"{namespace}#{profile_id}"]
    if stored and isinstance(stored.get("email"), str):
        members.append(f"email#{stored['email']}")
    if stored and isinstance(stored.get("phone"), str):
        members.append(f"phone#{stored['phone']}")
    return list(dict.fromkeys(members))


def _addresses(namespace: str, profile_id: str, stored: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(channel, address) of every suppression entry that may hold the person's address in clear."""
    found: list[tuple[str, Any]] = []
    if namespace == "email":
        found.append(("email", profile_id))
    elif namespace == "phone":
        found.append(("sms", profile_id))
    if stored:
        if isinstance(stored.get("email"), str):
            found.append(("email", stored["email"]))
        if isinstance(stored.get("phone"), str):
            found.append(("sms", stored["phone"]))
        for token in stored.get("pushTokens") or []:
            if isinstance(token, dict) and token.get("token"):
                found.append(("push", token["token"]))
    return found


def start(namespace: str, profile_id: str) -> bool:
    """Erases what can be erased at once and queues the rest; True when a profile was stored."""
    stored = people.get_profile(namespace, profile_id)
    scrubbed = sum(
        people.scrub_suppression_address(channel, address)
        for channel, address in _addresses(namespace, profile_id, stored)
    )
    jobs.submit(
        {
            "kind": "erasure",
            "userIds": _identities(namespace, profile_id, stored),
            "members": _members(namespace, profile_id, stored),
            "salt": secrets.token_hex(16),
            "phase": "executions",
            "cursor": None,
        }
    )
    if stored is not None:
        people.delete_profile(namespace, profile_id)
        # The same person known by their address: a trigger with createProfiles on keys the profile it
        # creates by the recipient's identity, often the address itself (namespace email or phone).
        for channel in ("email", "phone"):
            address = stored.get(channel)
            if isinstance(address, str) and (channel, address) != (namespace, profile_id):
                people.delete_profile(channel, address)
    logger.info("erasure started", profile_found=stored is not None, suppression_entries_scrubbed=scrubbed)
    return stored is not None


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------
def erasure_step(job: dict[str, Any], time_left_ms: Callable[[], int]) -> dict[str, Any] | None:
    """Pages through the executions table, then the audiences table, while time is left (at least
    one page); returns the continuation (phase and Scan cursor) or None when the person is erased."""
    phase, cursor = str(job.get("phase") or "executions"), job.get("cursor")
    changed = 0
    while True:
        if phase == "executions":
            cursor, count = _executions_page(job, cursor)
            if cursor is None:
                phase = "audiences"
        else:
            cursor, count = _audiences_page(job, cursor)
            if cursor is None:
                logger.info("erasure step done: the person is erased", records_changed=changed + count)
                return None
        changed += count
        if time_left_ms() <= 0:
            logger.info("erasure step stops for time", phase=phase, records_changed=changed)
            return {**job, "phase": phase, "cursor": cursor}


def _scan(table: str, cursor: Any, **arguments: Any) -> tuple[list[dict[str, Any]], Any]:
    if cursor:
        arguments["ExclusiveStartKey"] = cursor
    response = aws.dynamodb().scan(TableName=table, Limit=SCAN_PAGE, **arguments)
    return response.get("Items", []), response.get("LastEvaluatedKey")


def _executions_page(job: dict[str, Any], cursor: Any) -> tuple[Any, int]:
    ids: list[str] = list(job["userIds"])
    values: dict[str, Any] = {}
    tests = []
    for index, user_id in enumerate(ids):
        values[f":u{index}"] = s(user_id)
        values[f":v{index}"] = s("[" + json.dumps(user_id) + ",")  # a verdict's first element
        values[f":o{index}"] = s("|" + json.dumps(user_id)[1:] + ":")  # an outcome's "<executionId>|<userId>" key
        tests += [f"#userId = :u{index}", f"contains(#verdicts, :v{index})", f"contains(#outcomes, :o{index})"]
    items, last = _scan(
        get_settings().executions_table,
        cursor,
        FilterExpression=" OR ".join(tests),
        ExpressionAttributeNames={"#userId": "userId", "#verdicts": "verdicts", "#outcomes": "outcomes"},
        ExpressionAttributeValues=values,
    )
    wanted, salt = set(ids), str(job["salt"])
    return last, sum(_erase_record(item, wanted, salt) for item in items)


def _audiences_page(job: dict[str, Any], cursor: Any) -> tuple[Any, int]:
    members: list[str] = list(job["members"])
    values = {f":m{index}": s(member) for index, member in enumerate(members)}
    table = get_settings().audiences_table
    items, last = _scan(
        table,
        cursor,
        FilterExpression=f"#sk IN ({', '.join(values)})",
        ExpressionAttributeNames={"#sk": "sk"},
        ExpressionAttributeValues=values,
        ProjectionExpression="pk, sk",
    )
    for item in items:
        aws.dynamodb().delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    return last, len(items)


# ---------------------------------------------------------------------------
# One record of the executions table
# ---------------------------------------------------------------------------
def _erase_record(item: dict[str, Any], ids: set[str], salt: str) -> int:
    """Rewrites one record without the person's ids; returns 1 when it changed."""
    for _ in range(REWRITE_ROUNDS):
        try:
            return int(_rewrite(item, ids, salt))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if not is_conditional_failure(exc) and code != "TransactionCanceledException":
                raise
        # Changed meanwhile (feedback moved the recipient, say): read it again.
        fresh = aws.dynamodb().get_item(
            TableName=get_settings().executions_table, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True
        )
        if "Item" not in fresh:
            return 0
        item = fresh["Item"]
    raise RuntimeError("an execution record kept changing while it was being erased; the step is retried")


def _rewrite(item: dict[str, Any], ids: set[str], salt: str) -> bool:
    user_id = item.get("userId", {}).get("S")
    if user_id in ids and item["sk"]["S"].startswith("R#") and item["pk"]["S"].startswith("EXEC#"):
        _move_recipient(item, pseudonym(salt, user_id))
        return True
    updates: dict[str, str] = {}
    if user_id in ids:
        updates["userId"] = pseudonym(salt, user_id)
    if "verdicts" in item:
        verdicts = _erased_verdicts(item["verdicts"]["S"], ids, salt)
        if verdicts is not None:
            updates["verdicts"] = verdicts
    if "outcomes" in item:
        outcomes = _erased_outcomes(item["outcomes"]["S"], ids, salt)
        if outcomes is not None:
            updates["outcomes"] = outcomes
    if not updates:
        return False
    names = {f"#a{i}": name for i, name in enumerate(updates)}
    values = {f":new{i}": s(value) for i, value in enumerate(updates.values())}
    # Still the record as read: the same execution (a requestId's record is replaced when the id is
    # used again) and the same recipient. Verdicts and outcome batches are otherwise never rewritten.
    conditions = ["attribute_exists(pk)"]
    for name in ("executionId", "userId"):
        if name in item:
            names[f"#{name}"] = name
            values[f":was_{name}"] = item[name]
            conditions.append(f"#{name} = :was_{name}")
    aws.dynamodb().update_item(
        TableName=get_settings().executions_table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :new{i}" for i in range(len(updates))),
        ConditionExpression=" AND ".join(conditions),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    return True


def _move_recipient(item: dict[str, Any], alias: str) -> None:
    """The recipient item under its pseudonym, in one transaction: the new item written, the old one
    deleted only if it is still as read."""
    moved = {**item, "sk": s("R#" + alias), "userId": s(alias)}
    if "detail" in item:
        moved["detail"] = s(_ADDRESSES.sub("<address>", item["detail"]["S"]))
    table = get_settings().executions_table
    condition = "userId = :user AND " + ("#state = :state" if "state" in item else "attribute_not_exists(#state)")
    values = {":user": item["userId"], **({":state": item["state"]} if "state" in item else {})}
    aws.dynamodb().transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": moved}},
            {
                "Delete": {
                    "TableName": table,
                    "Key": {"pk": item["pk"], "sk": item["sk"]},
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": values,
                }
            },
        ]
    )


def _erased_verdicts(text: str, ids: set[str], salt: str) -> str | None:
    """A request record's verdicts [[userId, status, ...], ...] with the person's ids replaced; None if none."""
    try:
        verdicts = json.loads(text)
    except ValueError:  # not written by this code: left as it is rather than failing the job forever
        return None
    if not isinstance(verdicts, list):
        return None
    changed = False
    for verdict in verdicts:
        if isinstance(verdict, list) and verdict and verdict[0] in ids:
            verdict[0] = pseudonym(salt, verdict[0])
            changed = True
    return json.dumps(verdicts, separators=(",", ":")) if changed else None


def _erased_outcomes(text: str, ids: set[str], salt: str) -> str | None:
    """An outcome batch {"<executionId>|<userId>": [state, reason, detail, ...]} with the person's
    entries under their pseudonym (their detail without addresses); None if none."""
    try:
        outcomes = json.loads(text)
    except ValueError:
        return None
    if not isinstance(outcomes, dict):
        return None
    erased: dict[str, Any] = {}
    changed = False
    for key, entry in outcomes.items():
        execution_id, _, user_id = key.partition("|")
        if user_id not in ids:
            erased[key] = entry
            continue
        changed = True
        if isinstance(entry, list) and len(entry) > 2 and isinstance(entry[2], str):
            erased[f"{execution_id}|{pseudonym(salt, user_id)}"] = [
                *entry[:2],
                _ADDRESSES.sub("<address>", entry[2]),
                *entry[3:],
            ]
        else:
            erased[f"{execution_id}|{pseudonym(salt, user_id)}"] = entry
    return json.dumps(erased, separators=(",", ":")) if changed else None
