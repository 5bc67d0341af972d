"""The throttle's arithmetic: shard shares, partial grants, and when a refused message asks again."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from campaign_engine import aws, throttle
from campaign_engine.throttle import Budget, Grant


class Counters:
    """Stands in for DynamoDB's UpdateItem on the counter items: ADD, answering the new total."""

    def __init__(self, error: str | None = None) -> None:
        self.asked: Counter[str] = Counter()
        self.error = error

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "slow down"}}, "UpdateItem")
        key = kwargs["Key"]["pk"]["S"]
        self.asked[key] += int(kwargs["ExpressionAttributeValues"][":n"]["N"])
        return {"Attributes": {"asked": {"N": str(self.asked[key])}}}


@pytest.fixture
def counters(monkeypatch: pytest.MonkeyPatch) -> Counters:
    fake = Counters()
    monkeypatch.setattr(aws, "dynamodb", lambda: fake)
    return fake


@pytest.mark.parametrize("rate", [1, 5, 499, 500, 501, 1000, 1001, 7777, 20_000])
def test_the_shards_shares_add_up_to_the_rate_and_none_grants_more_than_500(rate: int) -> None:
    shares = [throttle.shard_limit(rate, shard) for shard in range(math.ceil(rate / 500))]
    assert sum(shares) == rate
    assert max(shares) <= throttle.GRANTS_PER_SHARD
    assert min(shares) >= max(shares) - 1


def test_a_window_grants_its_rate_then_sends_each_refused_message_to_the_window_of_its_turn(
    counters: Counters,
) -> None:
    budget = Budget("T#c", 5)
    now = 1000.25
    grants = [throttle.take(budget, 10, now) for _ in range(3)]
    # 5 of the first message now, its other 5 next second; the second message's 10 start two seconds on
    # (after those 5), the third's four seconds on (after the second's 10)
    assert grants == [Grant(5, 1), Grant(0, 2), Grant(0, 4)]
    assert counters.asked == {"T#c#1000#0": 30}


def test_a_message_that_fits_waits_for_nothing(counters: Counters) -> None:
    assert throttle.take(Budget("T#c", 20), 10, 7.9) == Grant(10, 0)
    assert throttle.take(Budget("T#c", 20), 10, 7.9) == Grant(10, 0)
    assert throttle.take(Budget("T#c", 20), 1, 7.9) == Grant(0, 1)


def test_no_wait_is_longer_than_sqs_allows(counters: Counters) -> None:
    budget = Budget("T#slow", 1)
    for _ in range(200):
        grant = throttle.take(budget, 10, 50.0)
    assert grant == Grant(0, throttle.MAX_WAIT_SECONDS)


def test_a_counter_write_dynamodb_throttles_is_a_refusal_for_a_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "dynamodb", lambda: Counters(error="ProvisionedThroughputExceededException"))
    grant = throttle.take(Budget("T#c", 5), 3, 10.0)
    assert grant.granted == 0
    assert 1 <= grant.wait_seconds <= throttle.THROTTLED_WRITE_WAIT_SECONDS


def test_other_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "dynamodb", lambda: Counters(error="ResourceNotFoundException"))
    with pytest.raises(ClientError):
        throttle.take(Budget("T#c", 5), 3, 10.0)


def test_a_campaign_without_a_budget_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "dynamodb", lambda: pytest.fail("no request expected"))
    monkeypatch.setenv("SES_MAX_SEND_RATE", "0")
    from campaign_engine import settings

    settings.get_settings.cache_clear()
    assert throttle.admit({"id": "c", "channel": "email", "throttle": {}}, [object()] * 4) == (4, 0)  # type: ignore[list-item]
    settings.get_settings.cache_clear()
