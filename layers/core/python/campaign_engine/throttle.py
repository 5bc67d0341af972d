"""Pacing: a campaign's `throttle.messagesPerSecond`, and the stack's share of SES's sending rate.

A budget is held in DynamoDB (the throttle table), so that every delivery run of every container
draws on the same one: per budget and per one-second window, a counter of the recipients asked for
(`T#<campaignId>#<second>#<shard>`; the stack's SES budget is `SES#<second>#<shard>`). A message asks
for all its recipients to send in one UpdateItem - an unconditional `ADD` that answers the window's
new total - and is granted what still fits under the window's limit: the first ones send now, the rest
are re-queued as a message of their own with DelaySeconds up to the window where their turn falls.

- Cost: nothing at all for a campaign without a throttle (and email without `SesMaxSendRate`): no
  read, no write. Otherwise one UpdateItem per message (up to 10 recipients) and budget, and, for a
  message not wholly granted, one SendMessage of its remaining recipients.
- Partial grants: a message of 10 recipients under a throttle of 5 a second could never be granted
  whole, so a message sends what fits and the rest wait.
- No herd: the window's total tells a refused message its place in the line (how many recipients
  were asked for before it beyond the window's limit), so it comes back in the window where its turn
  falls, not every second with every other refused message.
- No hot key: a budget's counter is spread over ceil(rate / 500) items, one chosen at random per
  message, each with its share of the rate (the shares add up to the rate): at most 500 grants a
  second per item, half DynamoDB's 1,000 writes a second per key, so refused asks fit too. A write
  DynamoDB throttles anyway (a burst of refused messages) is a refusal, retried a little later.
- The receive count: a refused message is not handed back to the queue (that would count a receive
  towards the dead-letter queue's maxReceiveCount of 12 at every wait, and a long backlog would end
  there); its recipients are sent again as a new message, and the record is done.
- The counter items expire by TTL two minutes after their window.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws, delivery_queue, queue_message
from campaign_engine.observability import logger
from campaign_engine.queue_message import QueuedRecipient, QueueMessage
from campaign_engine.settings import get_settings

# What one counter item grants at most per second (see the module's docstring).
GRANTS_PER_SHARD = 500
# How long a counter item outlives its window (DynamoDB's TTL deletes it within days; no reader
# looks at a past window anyway).
COUNTER_TTL_SECONDS = 120
# SQS's longest DelaySeconds: a message whose turn is further away comes back then and asks again.
MAX_WAIT_SECONDS = queue_message.MAX_DELAY_SECONDS
# A counter write DynamoDB throttled: the message comes back within this many seconds.
THROTTLED_WRITE_WAIT_SECONDS = 3
_THROTTLED_WRITE = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


class Budget(msgspec.Struct, frozen=True):
    key: str  # the counter's key prefix: "T#<campaignId>" or "SES"
    rate: int  # per second


class Grant(msgspec.Struct, frozen=True):
    granted: int  # how many of the asked-for recipients may be sent now
    wait_seconds: int  # when the others may ask again (0 when all were granted)


def budgets(campaign: dict[str, Any]) -> list[Budget]:
    """The budgets a message of this campaign draws on: none for most campaigns."""
    found: list[Budget] = []
    rate = (campaign.get("throttle") or {}).get("messagesPerSecond")
    if rate:
        found.append(Budget(f"T#{campaign['id']}", int(rate)))
    ses_rate = get_settings().ses_max_send_rate
    if ses_rate and campaign.get("channel") == "email":
        found.append(Budget("SES", ses_rate))
    return found


def shard_limit(rate: int, shard: int) -> int:
    """The share of `rate` of counter item `shard` (of ceil(rate / GRANTS_PER_SHARD)): they add up to `rate`."""
    shards = math.ceil(rate / GRANTS_PER_SHARD)
    return rate // shards + (1 if shard < rate % shards else 0)


def take(budget: Budget, wanted: int, now: float | None = None) -> Grant:
    """Asks `budget` for `wanted` sends in the current one-second window (one UpdateItem)."""
    now = time.time() if now is None else now
    window = int(now)
    # bandit B311: spreading, not security
    shard = random.randrange(math.ceil(budget.rate / GRANTS_PER_SHARD))  # noqa: S311  # nosec B311
    limit = shard_limit(budget.rate, shard)
    try:
        answer = aws.dynamodb().update_item(
            TableName=get_settings().throttle_table,
            Key={"pk": {"S": f"{budget.key}#{window}#{shard}"}},
            UpdateExpression="ADD asked :n SET expiresAt = if_not_exists(expiresAt, :expires)",
            ExpressionAttributeValues={":n": {"N": str(wanted)}, ":expires": {"N": str(window + COUNTER_TTL_SECONDS)}},
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _THROTTLED_WRITE:
            raise
        # bandit B311: jitter, not security
        return Grant(0, random.randint(1, THROTTLED_WRITE_WAIT_SECONDS))  # noqa: S311  # nosec B311
    before = int(answer["Attributes"]["asked"]["N"]) - wanted
    granted = max(0, min(wanted, limit - before))
    if granted == wanted:
        return Grant(granted, 0)
    # The first recipient left waits at this place in the line beyond the window's limit; each later
    # window serves `limit` of the line.
    place = before + granted + 1 - limit
    turn = window + math.ceil(place / limit)
    return Grant(granted, max(1, min(MAX_WAIT_SECONDS, math.ceil(turn - now))))


def admit(campaign: dict[str, Any], sending: Sequence[QueuedRecipient]) -> tuple[int, int]:
    """How many of `sending` (the message's recipients that would be sent, in order) may be sent now,
    and in how many seconds the others may ask again. No AWS request when the campaign has no budget."""
    wanted = len(sending)
    if not wanted:
        return 0, 0
    found = budgets(campaign)
    if not found:
        return wanted, 0
    wait = 0
    for budget in found:
        grant = take(budget, wanted)
        if grant.granted < wanted:
            wait = max(wait, grant.wait_seconds)
            wanted = grant.granted
        if not wanted:
            break
    return wanted, wait


def requeue(message: QueueMessage, waiting: list[QueuedRecipient], wait_seconds: int) -> None:
    """Sends the recipients that must wait again, as one message delayed `wait_seconds`: a new message,
    so that the wait counts no receive towards the dead-letter queue."""
    delivery_queue.enqueue(list(queue_message.pack_messages(message, waiting)), delay_seconds=wait_seconds)
    logger.debug(
        "throttled: recipients wait for a later window",
        execution_id=message.executionId,
        waiting=len(waiting),
        wait_seconds=wait_seconds,
    )
