"""A recipient's states within an execution: what they are, who moves a recipient between them,
and how each is shown to the API's callers and counted in the reports.

    trigger    accepted: queued (no item yet); rejected: excluded at once (its verdict is recorded)
    delivery   queued -> sending (the claim: the send guard) -> sent | failed | excluded
               queued -> failed | excluded (render error, no content for the language: no claim)
               sending -> queued (the claim given back: the send certainly did not happen)
    SES events sent -> delivered -> opened -> clicked; bounced and complained are final

A recipient only moves forward; bounced, complained, failed and excluded are final. One exception:
`failed` with reason `send_unconfirmed` (SES may have accepted the message, its answer was lost)
takes the state of the first event SES publishes for it, since SES had the message. Nothing is
ever sent again because of it. tests/unit/test_recipient_states.py holds these rules as tests.
"""

from __future__ import annotations

from typing import Final, Literal

QUEUED: Final = "queued"  # accepted, not claimed yet: the recipient has no item
SENDING: Final = "sending"  # claimed by a delivery run, its outcome not recorded yet
SENT: Final = "sent"
DELIVERED: Final = "delivered"
OPENED: Final = "opened"
CLICKED: Final = "clicked"
BOUNCED: Final = "bounced"
COMPLAINED: Final = "complained"
FAILED: Final = "failed"
EXCLUDED: Final = "excluded"
STATES = (QUEUED, SENDING, SENT, DELIVERED, OPENED, CLICKED, BOUNCED, COMPLAINED, FAILED, EXCLUDED)

# The reason of a send that may have been accepted while its answer was lost (see above).
UNCONFIRMED: Final = "send_unconfirmed"

Mover = Literal["delivery", "event"]

# Every allowed move: from each state, who may move a recipient, and to which states. `sent` ->
# `sent` is a delivery delay: the recipient stays sent, with the delay as its detail. An event may
# find a claim before its run has recorded the outcome: the send guard allows one message per
# execution and recipient, so the event can only be about that message.
MOVES: Final[dict[str, dict[Mover, tuple[str, ...]]]] = {
    QUEUED: {"delivery": (SENDING, FAILED, EXCLUDED)},
    SENDING: {
        "delivery": (QUEUED, SENT, FAILED, EXCLUDED),
        "event": (SENT, DELIVERED, OPENED, CLICKED, BOUNCED, COMPLAINED, FAILED),
    },
    SENT: {"event": (SENT, DELIVERED, OPENED, CLICKED, BOUNCED, COMPLAINED, FAILED)},
    DELIVERED: {"event": (OPENED, CLICKED, BOUNCED, COMPLAINED)},
    OPENED: {"event": (CLICKED, COMPLAINED)},
    CLICKED: {"event": (COMPLAINED,)},
    BOUNCED: {},
    COMPLAINED: {},
    FAILED: {},
    EXCLUDED: {},
}
FINAL = frozenset(state for state, movers in MOVES.items() if not movers)


def moves(mover: Mover | None = None) -> set[tuple[str, str]]:
    """Every (from, to) move, or those `mover` makes."""
    return {
        (source, target)
        for source, movers in MOVES.items()
        for who, targets in movers.items()
        if mover in (None, who)
        for target in targets
    }


# The states an SES event may move a recipient to, and from which (the store's conditional update
# checks the same list, so a late or duplicated event changes nothing).
EVENT_FROM: Final[dict[str, tuple[str, ...]]] = {
    target: tuple(source for source in STATES if target in MOVES[source].get("event", ()))
    for target in STATES
    if any(target in MOVES[source].get("event", ()) for source in STATES)
}


def event_may_move(state: str, reason: str | None, target: str) -> bool:
    """Whether an SES event leading to `target` moves a recipient in `state` (with `reason`)."""
    return state in EVENT_FROM[target] or (state == FAILED and reason == UNCONFIRMED)


# Results of a delivery attempt that record nothing now: retry (the send certainly did not happen),
# wait (another run holds the claim), duplicate (an outcome is already recorded).
NOT_RECORDED: Final = frozenset({"retry", "wait", "duplicate"})

# The contract's per-recipient status of each state: a claim without an outcome yet is still
# queued from the caller's point of view.
PUBLIC_STATUS: Final[dict[str, str]] = {
    QUEUED: "queued",
    SENDING: "queued",
    SENT: "sent",
    DELIVERED: "delivered",
    OPENED: "opened",
    CLICKED: "clicked",
    BOUNCED: "bounced",
    COMPLAINED: "complained",
    FAILED: "failed",
    EXCLUDED: "excluded",
}

# The reports' status counter (`status:<name>`) a recipient in each state is counted under. A
# recipient is counted when its outcome is recorded (sent, failed or excluded) and moved between
# counters by each event after; a claim an event finds was counted as sent by its run.
REPORT_STATUS: Final[dict[str, str]] = {
    SENDING: SENT,
    SENT: SENT,
    DELIVERED: DELIVERED,
    OPENED: OPENED,
    CLICKED: CLICKED,
    BOUNCED: BOUNCED,
    COMPLAINED: COMPLAINED,
    FAILED: FAILED,
    EXCLUDED: EXCLUDED,
}
