"""The cost floor make bench reports beside the measured cost: the requests each guarantee needs, priced."""

from __future__ import annotations

import pytest

from benchmarks import cost
from benchmarks.aws_requests import Mix


def _mix(per_call: int, *, returning: bool = False, delivery_events: bool = True) -> Mix:
    emails = 1000
    return Mix(
        "m",
        per_call,
        returning=returning,
        emails=emails,
        trigger_calls=emails // per_call,
        delivery_invocations=emails // 10 if per_call == 1 else emails // 100,
        feedback_invocations=emails // 100,
        feedback_by_default=delivery_events,
    )


def test_one_per_call_pays_the_gateway_the_three_writes_and_both_queues() -> None:
    floor = cost.floor_per_million(_mix(1))

    assert floor["apigateway"] == pytest.approx(1.00)
    # the request record, the claim, a new person's profile and the move to delivered: four writes
    assert floor["request_record"] + floor["claim"] + floor["profile"] == pytest.approx(3 * 0.625)
    assert floor["delivery_event"] == pytest.approx(0.40 + 2 * 0.01 * 0.40 + 0.625)
    assert floor["total"] == pytest.approx(sum(v for k, v in floor.items() if k != "total"))
    assert floor["total"] > 3.50  # why the single target cannot hold with a Delivery event per email


def test_twenty_per_call_shares_what_is_per_call_but_not_the_claim_or_the_delivery_event() -> None:
    single, per20 = cost.floor_per_million(_mix(1)), cost.floor_per_million(_mix(20))

    assert per20["apigateway"] == pytest.approx(single["apigateway"] / 20)
    assert per20["request_record"] == pytest.approx(single["request_record"] / 20)
    assert per20["claim"] == single["claim"]
    assert per20["delivery_event"] == single["delivery_event"]
    assert per20["total"] > 1.20


def test_returning_people_and_no_delivery_events_leave_their_parts_out() -> None:
    floor = cost.floor_per_million(_mix(20, returning=True, delivery_events=False))

    assert floor["profile"] == 0.0
    assert floor["delivery_event"] == 0.0
    assert set(cost.FLOOR_PARTS) == set(floor) - {"total"}
    # asked for explicitly, the Delivery event is counted whatever the default
    assert cost.floor_per_million(_mix(20, delivery_events=False), with_feedback=True)["delivery_event"] > 1.0
