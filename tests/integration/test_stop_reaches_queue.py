"""A stop, an archive, a completion or the end of the window reaches messages already queued.

Recipients accepted before the campaign stopped (or its window ended) are sent nothing: each is
`excluded` with `campaign_stopped` or `campaign_ended`, in GET /im/executions/{id} and in the
campaign's report. A record redelivered after the stop keeps the outcomes it already has."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaign_engine import campaign_gate, minute_tick, store
from local.harness import api_event
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import Clock, emails_per_recipient, invoke_delivery, statuses

SAMPLE = {"ada@example.com", "bruna@example.com"}


def _route(route_key: str) -> dict[str, Any]:
    return api_event("api/get_campaign.json", route_key=route_key)


def _stop(api: Api, campaign_id: str) -> None:
    answer = api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign_id})
    assert answer.body["status"] == "stopped", answer.body


def _archive(api: Api, campaign_id: str) -> None:
    answer = api.call_event("api", _route("POST /campaigns/{campaignId}/archive"), {"campaignId": campaign_id})
    assert answer.body["status"] == "archived", answer.body


def _report(api: Api, campaign_id: str) -> dict[str, Any]:
    answer = api.call_event("api", _route("GET /campaigns/{campaignId}/report"), {"campaignId": campaign_id})
    assert answer.status == 200, answer.body
    return answer.body


@pytest.mark.parametrize(
    "end_it", [_stop, lambda api, cid: (_stop(api, cid), _archive(api, cid))], ids=["stop", "archive"]
)
def test_messages_queued_before_a_stop_are_not_sent(api: Api, queue: Queue, outbox, end_it: Any) -> None:
    # Given an execution whose recipients are accepted and queued
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))
    assert answer.status == 202, answer.body

    # When the campaign is stopped (or stopped and archived) before delivery runs
    end_it(api, campaign["id"])
    queue.drain()

    # Then nothing is sent, and every recipient is excluded as campaign_stopped, in the status and the report
    assert outbox() == []
    assert statuses(api, answer.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_stopped"))
    assert api.execution(answer.body["executionId"]).body["status"] == "completed"
    report = _report(api, campaign["id"])
    assert report["byStatus"] == {"excluded": 2}
    assert report["byReason"] == {"campaign_stopped": 2}
    assert queue.depth() == 0


def test_messages_queued_before_the_window_ends_are_not_sent_after_it(
    api: Api, queue: Queue, outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a live campaign whose window ends in a minute, and an execution queued within it
    monkeypatch.setattr(campaign_gate, "time", clock)
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    campaign = api.live_campaign(schedule={"end": end})
    answer = api.trigger(trigger_body(campaign["id"]))
    assert answer.status == 202, answer.body

    # When delivery runs after the end (the scheduler has not marked it completed yet)
    clock.advance(120)
    queue.drain()

    # Then nothing is sent, and every recipient is excluded as campaign_ended
    assert outbox() == []
    assert statuses(api, answer.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_ended"))
    assert _report(api, campaign["id"])["byReason"] == {"campaign_ended": 2}


def test_messages_of_a_completed_campaign_are_not_sent(api: Api, queue: Queue, outbox) -> None:
    # Given an execution queued while the window was open
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    campaign = api.live_campaign(schedule={"end": end})
    answer = api.trigger(trigger_body(campaign["id"]))

    # When the scheduled function completes the campaign before delivery runs
    assert (campaign["id"], "completed") in minute_tick.advance_schedules(datetime.now(UTC) + timedelta(minutes=2))
    queue.drain()

    # Then nothing is sent
    assert outbox() == []
    assert statuses(api, answer.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_ended"))


def test_the_campaign_state_is_read_now_not_latched_a_campaign_live_again_sends(api: Api, queue: Queue, outbox) -> None:
    # Given two executions queued, then the campaign stopped
    campaign = api.live_campaign()
    first = api.trigger(trigger_body(campaign["id"], requestId="first"))
    second = api.trigger(trigger_body(campaign["id"], requestId="second"))
    [first_message] = [m for m in queue.receive(visibility=0) if first.body["executionId"] in m["Body"]]
    _stop(api, campaign["id"])

    # When the first is delivered while stopped, and the second once the campaign is live again
    # (no route reactivates a stopped campaign today; its head is written back as such a route would)
    assert invoke_delivery(queue, [first_message]).failed == set()
    head = store.get_campaign_head(campaign["id"], consistent=True)
    assert head is not None
    assert head.live is not None
    head.doc, head.live = {**head.doc, "status": "live"}, {**head.live, "status": "live"}
    store.put_campaign_head(head, expected_revision=head.revision)
    queue.drain()

    # Then the first execution's recipients are excluded and the second's are sent
    assert statuses(api, first.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_stopped"))
    assert statuses(api, second.body["executionId"]) == dict.fromkeys(SAMPLE, ("sent", None))
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)


def test_a_stop_reaches_warm_delivery_containers_within_the_campaign_cache_time(
    api: Api, queue: Queue, outbox, snapshot_reads: Callable[[float], list[str]]
) -> None:
    # Given delivery containers that read a campaign's state at most every 0.5 s
    reads = snapshot_reads(0.5)
    campaign = api.live_campaign()
    for n in range(3):
        api.trigger(trigger_body(campaign["id"], requestId=f"warm-{n}"))
    reads.clear()  # the trigger's own reads
    queue.drain()
    assert len(outbox()) == 6
    assert len(reads) <= 1, "one read serves every message of the cache time"

    # When the campaign stops, and delivery runs once the cached state is older than the cache time
    stopped = api.trigger(trigger_body(campaign["id"], requestId="before-stop"))
    _stop(api, campaign["id"])
    time.sleep(0.6)
    queue.drain()

    # Then the stop has reached it
    assert len(outbox()) == 6
    assert statuses(api, stopped.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_stopped"))


def test_a_record_redelivered_after_the_stop_keeps_what_was_sent_and_sends_nothing(
    api: Api, queue: Queue, outbox
) -> None:
    # Given a record delivered once (both recipients sent) that SQS still holds, and a second
    # execution queued but not delivered yet
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"], requestId="first"))
    messages = queue.receive(visibility=0)
    assert invoke_delivery(queue, messages, delete=False).failed == set()
    sent = {e["to"][0]: e["id"] for e in outbox()}
    assert set(sent) == SAMPLE
    later = api.trigger(trigger_body(campaign["id"], requestId="second"))
    assert later.status == 202, later.body

    # When the campaign is stopped and both records are delivered (the first one again)
    _stop(api, campaign["id"])
    queue.drain()

    # Then the first execution keeps its sends (not rewritten as excluded) and nobody got a
    # second email; the second execution's recipients are excluded
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    recorded = {r["userId"]: r for r in api.execution(answer.body["executionId"]).body["recipients"]}
    assert {u: (r["status"], r["messageId"]) for u, r in recorded.items()} == {u: ("sent", sent[u]) for u in SAMPLE}
    assert statuses(api, later.body["executionId"]) == dict.fromkeys(SAMPLE, ("excluded", "campaign_stopped"))
    assert queue.depth() == 0
