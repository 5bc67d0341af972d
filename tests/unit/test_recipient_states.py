"""The recipient states' rules, as executable documentation: who moves a recipient where, what
never moves back, and what callers and reports are shown for each state."""

from __future__ import annotations

from typing import get_args

import pytest

from campaign_engine import recipient_states as rs
from campaign_engine.models import RecipientStatus

EVENT_TARGETS = sorted(rs.EVENT_FROM)
# How far along a recipient is, as callers see it: a move may stay at its rank or go further.
PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "opened": 3, "clicked": 4}
ENDS = {"bounced", "complained", "failed", "excluded"}


def test_bounced_complained_failed_and_excluded_are_final() -> None:
    assert {rs.BOUNCED, rs.COMPLAINED, rs.FAILED, rs.EXCLUDED} == rs.FINAL
    assert not [move for move in rs.moves() if move[0] in rs.FINAL]


@pytest.mark.parametrize(("source", "target"), sorted(rs.moves()))
def test_no_move_goes_back_as_callers_see_it(source: str, target: str) -> None:
    before, after = rs.PUBLIC_STATUS[source], rs.PUBLIC_STATUS[target]
    if before in ENDS:
        pytest.fail(f"{source} is final")
    assert after in ENDS or PROGRESS[after] >= PROGRESS[before]


def test_only_delivery_claims_and_records_an_attempt_and_only_events_go_past_sent() -> None:
    assert rs.moves("delivery") == {
        (rs.QUEUED, rs.SENDING),  # the claim
        (rs.QUEUED, rs.FAILED),  # a render error, before any claim
        (rs.QUEUED, rs.EXCLUDED),  # no content for the language
        (rs.SENDING, rs.QUEUED),  # the claim given back: the send certainly did not happen
        (rs.SENDING, rs.SENT),
        (rs.SENDING, rs.FAILED),
        (rs.SENDING, rs.EXCLUDED),  # the campaign stopped or ended
    }
    assert {target for _, target in rs.moves("event")} == {
        rs.SENT,  # a delivery delay: the recipient stays sent
        rs.DELIVERED,
        rs.OPENED,
        rs.CLICKED,
        rs.BOUNCED,
        rs.COMPLAINED,
        rs.FAILED,  # SES rejected the message
    }


@pytest.mark.parametrize(
    ("state", "target", "moves"),
    [
        ("sent", "delivered", True),
        ("sending", "delivered", True),  # the claim's outcome not written yet: the event is about its message
        ("delivered", "bounced", True),
        ("opened", "bounced", False),
        ("clicked", "complained", True),
        ("clicked", "opened", False),
        ("delivered", "delivered", False),  # a duplicated event changes nothing
        ("sent", "sent", True),  # a delivery delay, kept as the detail
        ("bounced", "delivered", False),
        ("excluded", "sent", False),
        ("failed", "delivered", False),
    ],
)
def test_what_an_event_moves(state: str, target: str, moves: bool) -> None:
    assert rs.event_may_move(state, None, target) is moves


@pytest.mark.parametrize("target", EVENT_TARGETS)
def test_an_unconfirmed_send_takes_the_state_of_its_first_event(target: str) -> None:
    # SES had the message after all: the recipient is not failed
    assert rs.event_may_move(rs.FAILED, rs.UNCONFIRMED, target)
    assert not rs.event_may_move(rs.FAILED, "send_failed", target)


def test_every_state_is_shown_as_a_status_of_the_contract() -> None:
    contract = set(get_args(RecipientStatus))
    assert set(rs.PUBLIC_STATUS) == set(rs.STATES)
    assert set(rs.PUBLIC_STATUS.values()) == contract
    assert rs.PUBLIC_STATUS[rs.SENDING] == "queued"  # a claim without an outcome is still queued


def test_every_recorded_state_has_a_report_counter() -> None:
    # Nothing is counted before its outcome is recorded; a claim an event finds was counted as sent.
    assert rs.QUEUED not in rs.REPORT_STATUS
    assert set(rs.REPORT_STATUS) == set(rs.STATES) - {rs.QUEUED}
    assert rs.REPORT_STATUS[rs.SENDING] == rs.SENT
    assert all(rs.REPORT_STATUS[state] == state for state in rs.STATES if state not in (rs.QUEUED, rs.SENDING))


def test_results_that_record_nothing_are_no_state() -> None:
    assert not rs.NOT_RECORDED & set(rs.STATES)
