"""Trigger -> deliver -> SES's delivery events -> status and report, through the real handlers.

The events are the files in events/feedback/ (as SES publishes them to EventBridge), pointed at
the messages delivery really sent in moto: their message ids and the tags the send carried."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from campaign_engine import ses_tags
from tests.conftest import Api, Queue, invoke, load_event, trigger_body
from tests.integration.conftest import Fault, FaultySes

ADA, BRUNA, CARL = "ada@example.com", "bruna@example.com", "carl@example.com"


def recipients(*user_ids: str) -> list[dict[str, Any]]:
    return [{"userId": u, "namespace": "email", "context": {"orderId": "1", "total": "$1"}} for u in user_ids]


class Sent:
    """One execution that delivery sent: its ids, and SES's events for each recipient's message."""

    def __init__(self, api: Api, execution_id: str, campaign_id: str, message_ids: dict[str, str]) -> None:
        self.api = api
        self.execution_id = execution_id
        self.campaign_id = campaign_id
        self.message_ids = message_ids

    def event(self, name: str, user_id: str, *, message_id: str | None = None) -> dict[str, Any]:
        """events/feedback/<name>.json about this recipient's message, tagged as delivery tags it."""
        event = load_event(f"feedback/{name}.json")
        mail = event["detail"]["mail"]
        mail["messageId"] = mail["commonHeaders"]["messageId"] = message_id or self.message_ids[user_id]
        mail["destination"] = mail["commonHeaders"]["to"] = [user_id]
        tags = mail["tags"]
        tags["ses:configuration-set"] = [os.environ["SES_CONFIGURATION_SET"]]
        tags["campaignId"], tags["executionId"] = [self.campaign_id], [self.execution_id]
        tag = ses_tags.recipient_tag(user_id)
        if tag:
            tags["recipient"] = [tag]
        else:
            del tags["recipient"]
        return event

    def status(self) -> dict[str, dict[str, Any]]:
        answer = self.api.execution(self.execution_id, limit="1000")
        assert answer.status == 200, answer.body
        return {r["userId"]: r for r in answer.body["recipients"]}

    def counts(self) -> dict[str, int]:
        return self.api.execution(self.execution_id).body["counts"]

    def report(self) -> dict[str, Any]:
        event = load_event("api/get_campaign.json")
        event["routeKey"] = event["requestContext"]["routeKey"] = "GET /campaigns/{campaignId}/report"
        answer = self.api.call_event("api", event, {"campaignId": self.campaign_id})
        assert answer.status == 200, answer.body
        return answer.body


def send(api: Api, queue: Queue, *user_ids: str, namespace: str = "email") -> Sent:
    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], recipients(*user_ids), context=None)
    if namespace != "email":
        for r in body["recipients"]:
            r["namespace"] = namespace
            r["channelData"] = {"emailAddress": "long-id@example.com"}
    answer = api.trigger(body)
    assert answer.status == 202, answer.body
    queue.drain()
    sent = Sent(api, answer.body["executionId"], campaign["id"], {})
    sent.message_ids = {u: r["messageId"] for u, r in sent.status().items() if r.get("messageId")}
    return sent


def on_event(event: dict[str, Any]) -> dict[str, Any]:
    """What the EventBridge rule does: invoke the feedback function with the event."""
    return invoke("feedback", copy.deepcopy(event))


def with_type(event: dict[str, Any], detail_type: str, event_type: str, section: dict[str, Any]) -> dict[str, Any]:
    """Another kind of SES event about the same message (Open, Click, Reject, DeliveryDelay)."""
    changed = copy.deepcopy(event)
    changed["detail-type"] = detail_type
    detail = changed["detail"]
    for key in ("delivery", "bounce", "complaint"):
        detail.pop(key, None)
    detail["eventType"] = event_type
    detail.update(section)
    return changed


# ---------------------------------------------------------------------------
# Each event sets its status
# ---------------------------------------------------------------------------


def test_delivery_bounce_and_complaint_events_set_each_recipients_status(api: Api, queue: Queue) -> None:
    # Given three recipients that delivery sent
    sent = send(api, queue, ADA, BRUNA, CARL)
    assert sent.counts() == {"total": 3, "sent": 3}

    # When SES reports Ada's delivery, Bruna's bounce, and Carl's delivery then complaint
    assert on_event(sent.event("email_delivered", ADA))["outcome"] == "applied"
    assert on_event(sent.event("email_bounced", BRUNA))["outcome"] == "applied"
    assert on_event(sent.event("email_delivered", CARL))["outcome"] == "applied"
    assert on_event(sent.event("email_complaint", CARL))["outcome"] == "applied"

    # Then each recipient shows it, with the bounce or complaint type as reason and detail
    status = sent.status()
    assert (status[ADA]["status"], status[ADA].get("reason")) == ("delivered", None)
    assert (status[BRUNA]["status"], status[BRUNA]["reason"]) == ("bounced", "hard_bounce")
    assert status[BRUNA]["detail"] == "Permanent/General: smtp; 550 5.1.1 user unknown"
    assert (status[CARL]["status"], status[CARL]["reason"], status[CARL]["detail"]) == (
        "complained",
        "complaint",
        "abuse",
    )
    assert status[ADA]["messageId"] == sent.message_ids[ADA], "the message id stays"
    assert status[ADA]["updatedAt"] == "2026-12-01T09:00:02.104000Z", "when SES delivered it"
    assert sent.counts() == {"total": 3, "bounced": 1, "complained": 1, "delivered": 1}

    # And the campaign report counts each recipient once, in its latest status
    report = sent.report()
    assert report["byStatus"] == {"bounced": 1, "complained": 1, "delivered": 1}
    assert report["byReason"] == {"complaint": 1, "hard_bounce": 1}
    assert report["total"] == 3


def test_every_send_carries_the_tags_that_find_its_recipient(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.channels import email as email_channel

    tags: list[dict[str, str]] = []
    real_send = email_channel.send

    def spy(**kwargs: Any) -> str:
        tags.append(dict(kwargs["tags"]))
        return real_send(**kwargs)

    monkeypatch.setattr(email_channel, "send", spy)
    sent = send(api, queue, ADA)
    assert tags == [
        {"campaignId": sent.campaign_id, "executionId": sent.execution_id, "recipient": "YWRhQGV4YW1wbGUuY29t"}
    ]
    assert ses_tags.user_id_from_tag("YWRhQGV4YW1wbGUuY29t") == ADA


@pytest.mark.parametrize(
    ("bounce_type", "sub_type", "reason"),
    [
        ("Permanent", "General", "hard_bounce"),
        ("Permanent", "NoEmail", "hard_bounce"),
        ("Permanent", "Suppressed", "suppressed"),
        ("Permanent", "OnAccountSuppressionList", "suppressed"),
        ("Transient", "MailboxFull", "soft_bounce"),
        ("Undetermined", "Undetermined", "soft_bounce"),
    ],
)
def test_bounce_types_become_reasons(api: Api, queue: Queue, bounce_type: str, sub_type: str, reason: str) -> None:
    sent = send(api, queue, ADA)
    event = sent.event("email_bounced", ADA)
    event["detail"]["bounce"].update(bounceType=bounce_type, bounceSubType=sub_type)
    on_event(event)
    outcome = sent.status()[ADA]
    assert (outcome["status"], outcome["reason"]) == ("bounced", reason)
    assert outcome["detail"].startswith(f"{bounce_type}/{sub_type}")


def test_opens_and_clicks_move_forward_and_a_late_delivery_does_not_undo_them(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA)
    delivered = sent.event("email_delivered", ADA)
    opened = with_type(delivered, "Email Opened", "Open", {"open": {"timestamp": "2026-12-01T09:05:00.000Z"}})
    clicked = with_type(delivered, "Email Clicked", "Click", {"click": {"timestamp": "2026-12-01T09:05:09.000Z"}})

    assert on_event(opened)["status"] == "opened", "an open proves the delivery"
    assert on_event(clicked)["status"] == "clicked"
    assert on_event(delivered) == {
        "outcome": "ignored",
        "why": "not_forward",
        "status": "clicked",
        "event": "delivered",
    }
    assert on_event(opened)["outcome"] == "ignored"
    assert sent.status()[ADA]["status"] == "clicked"
    assert sent.report()["byStatus"] == {"clicked": 1}


def test_a_delay_is_shown_on_a_sent_recipient_and_a_rejection_fails_it(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA, BRUNA)
    delayed = with_type(
        sent.event("email_delivered", ADA),
        "Email Delivery Delayed",
        "DeliveryDelay",
        {"deliveryDelay": {"timestamp": "2026-12-01T09:10:00.000Z", "delayType": "MailboxFull"}},
    )
    rejected = with_type(
        sent.event("email_delivered", BRUNA), "Email Rejected", "Reject", {"reject": {"reason": "Bad content"}}
    )

    on_event(delayed)
    on_event(rejected)

    status = sent.status()
    assert (status[ADA]["status"], status[ADA]["detail"]) == ("sent", "delivery delayed: MailboxFull")
    assert (status[BRUNA]["status"], status[BRUNA]["reason"]) == ("failed", "send_failed")
    assert status[BRUNA]["detail"] == "rejected by SES: Bad content"
    on_event(sent.event("email_delivered", ADA))
    assert (sent.status()[ADA]["status"], sent.status()[ADA].get("detail")) == ("delivered", None)
    assert sent.report()["byStatus"] == {"delivered": 1, "failed": 1}


# ---------------------------------------------------------------------------
# Out of order, twice, or not ours: harmless
# ---------------------------------------------------------------------------


def test_a_delivery_after_the_complaint_does_not_move_the_recipient_back(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA)
    on_event(sent.event("email_complaint", ADA))
    late = on_event(sent.event("email_delivered", ADA))
    assert late["outcome"] == "ignored"
    outcome = sent.status()[ADA]
    assert (outcome["status"], outcome["reason"]) == ("complained", "complaint")
    assert sent.report()["byStatus"] == {"complained": 1}


def test_a_bounce_is_final(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA)
    on_event(sent.event("email_bounced", ADA))
    for later in ("email_delivered", "email_complaint"):
        assert on_event(sent.event(later, ADA))["outcome"] == "ignored"
    assert sent.status()[ADA]["status"] == "bounced"


def test_duplicate_events_change_nothing_and_count_once(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA, BRUNA)
    for _ in range(3):
        on_event(sent.event("email_delivered", ADA))
        on_event(sent.event("email_bounced", BRUNA))
    assert sent.counts() == {"total": 2, "bounced": 1, "delivered": 1}
    report = sent.report()
    assert report["byStatus"] == {"bounced": 1, "delivered": 1}
    assert report["byReason"] == {"hard_bounce": 1}


def test_events_for_unknown_or_other_messages_are_dropped(api: Api, queue: Queue) -> None:
    sent = send(api, queue, ADA)

    # A message of another execution (or one whose items expired), and a message sent without our tags
    unknown = sent.event("email_delivered", ADA)
    unknown["detail"]["mail"]["tags"]["executionId"] = ["0" * 32]
    assert on_event(unknown) == {"outcome": "unknown", "why": "no_recipient"}
    untagged = sent.event("email_delivered", ADA)
    for name in ("executionId", "recipient", "campaignId"):
        del untagged["detail"]["mail"]["tags"][name]
    assert on_event(untagged) == {"outcome": "unknown", "why": "no_tags"}

    # The right recipient, but not the message it was sent
    other = sent.event("email_bounced", ADA, message_id="0100019300000000-other-message-000000")
    assert on_event(other) == {"outcome": "unknown", "why": "message_id"}

    # Events that say nothing about the recipient
    sending = with_type(sent.event("email_delivered", ADA), "Email Sent", "Send", {"send": {}})
    assert on_event(sending) == {"outcome": "ignored", "why": "event_type"}

    assert sent.status()[ADA]["status"] == "sent"
    assert sent.report()["byStatus"] == {"sent": 1}


def test_the_sample_event_files_alone_find_nothing_and_fail_nothing(api: Api) -> None:
    """What `sam local invoke FeedbackFunction -e events/feedback/...` does against an empty table."""
    for name in ("email_delivered", "email_bounced", "email_complaint"):
        assert on_event(load_event(f"feedback/{name}.json"))["outcome"] == "unknown"


# ---------------------------------------------------------------------------
# Races with delivery, and the ambiguous send
# ---------------------------------------------------------------------------


def test_an_event_before_delivery_recorded_the_outcome_still_moves_the_recipient(api: Api, queue: Queue) -> None:
    from campaign_engine import store

    sent = send(api, queue, ADA)
    event = sent.event("email_delivered", ADA)
    # The same recipient as it was between the send and its record: claimed, no outcome yet
    store.claim_recipient(
        store.Claim(
            execution_id="f" * 32,
            user_id=ADA,
            campaign_id=sent.campaign_id,
            request_id="r",
            attempt_id="a",
            expires_at=2_000_000_000,
            outcome_ref="OUT#not-written-yet",
        )
    )
    event["detail"]["mail"]["tags"]["executionId"] = ["f" * 32]
    # The send guard allows one message per (execution, recipient): the event is about that one
    assert on_event(event)["outcome"] == "applied"
    [state] = store.recipient_states("f" * 32)
    assert (state.state, state.message_id) == ("delivered", event["detail"]["mail"]["messageId"])


def test_an_unconfirmed_send_is_resolved_by_its_delivery_event(
    api: Api, queue: Queue, faulty_ses: Any, outbox: Any
) -> None:
    # Given a send SES accepted but whose answer was lost: delivery records failed / send_unconfirmed
    def lost(to: str, attempt: int) -> Fault:
        return Fault(ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), after_send=True)

    ses: FaultySes = faulty_ses(lost)
    sent = send(api, queue, ADA)
    assert ses.faulted() == {ADA}
    assert (sent.status()[ADA]["status"], sent.status()[ADA]["reason"]) == ("failed", "send_unconfirmed")
    (email,) = outbox()

    # When SES reports its delivery
    assert on_event(sent.event("email_delivered", ADA, message_id=email["id"]))["previous"] == "failed"

    # Then the recipient is delivered, with the message id, and counted once
    outcome = sent.status()[ADA]
    assert (outcome["status"], outcome.get("reason"), outcome["messageId"]) == ("delivered", None, email["id"])
    report = sent.report()
    assert report["byStatus"] == {"delivered": 1}
    assert report["byReason"] == {}


def test_a_user_id_too_long_for_a_tag_is_found_by_its_message_id(api: Api, queue: Queue) -> None:
    long_id = "crm-" + "x" * 250
    assert ses_tags.recipient_tag(long_id) == "", "over 256 characters once encoded: no tag"
    assert len(ses_tags.recipient_tag("y" * 192)) == 256, "192 bytes still fit"
    sent = send(api, queue, long_id, namespace="crmId")
    assert on_event(sent.event("email_delivered", long_id))["status"] == "delivered"
    assert sent.status()[long_id]["status"] == "delivered"
