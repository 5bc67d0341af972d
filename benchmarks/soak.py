"""Soak test on the local stack: many recipients, concurrent callers, retried requests.

`make soak` (or `python -m benchmarks.soak --recipients 10000 --concurrency 16`) starts the
local stack, triggers every recipient through HTTP from concurrent callers - replaying a share
of the calls with the same requestId, as a client would after a timeout - waits for the outbox,
and prints what was sent and received: lost, duplicated and 5xx must all be 0."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from local import Stack

SOAK_CAMPAIGN = {
    "name": "Soak",
    "type": "transactional",
    "channel": "email",
    "sender": {"fromEmail": "soak@example.com", "fromName": "Soak"},
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "subject": "Code {{ context.code }}",
                "html": "<p>Hello {{ profile.firstName | default('there') }}, your code is {{ context.code }}</p>",
            }
        },
    },
}


@dataclass
class SoakResult:
    recipients: int
    calls: int
    replays: int
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: int = 0
    received: int = 0
    duplicated: int = 0
    lost: int = 0
    # Why the lost ones were not received: their recorded state, and what the queues still hold.
    lost_states: Counter[str] = field(default_factory=Counter)
    queues: dict[str, int] = field(default_factory=dict)
    trigger_seconds: float = 0.0
    drain_seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.server_errors == 0 and self.accepted == self.recipients

    def summary(self) -> str:
        return (
            f"soak: sent {self.recipients} recipients in {self.calls} calls (+{self.replays} replays) "
            f"at {self.trigger_seconds:.1f}s; accepted {self.accepted}; received {self.received} "
            f"after {self.drain_seconds:.1f}s; lost {self.lost}; duplicated {self.duplicated}; "
            f"5xx {self.server_errors}; answers {dict(sorted(self.statuses.items()))}"
            + (f"; lost by recorded state {dict(self.lost_states)}; queues {self.queues}" if self.lost else "")
        )


def run_soak(
    stack: Stack,
    *,
    recipients: int = 10_000,
    concurrency: int = 16,
    per_call: int = 25,
    replay_share: float = 0.1,
    stall_seconds: float = 120.0,
    seed: int = 7,
) -> SoakResult:
    """Waits for the emails as long as the stack moves: until all arrived, or nothing (emails
    received, queues' contents) changed for `stall_seconds` - what is missing then is lost. Longer
    than the pauses the design makes: a record meeting another run's claim returns 30 s later."""
    status, _, created = stack.request("POST", "/campaigns", SOAK_CAMPAIGN)
    assert status == 201, created  # nosec B101  # the soak stops on a failed setup
    campaign_id = created["id"]
    status, _, activated = stack.request("POST", f"/campaigns/{campaign_id}/activate")
    assert status == 200, activated  # nosec B101  # the soak stops on a failed setup
    stack.request("DELETE", "/_local/outbox")

    run = f"{time.time_ns():x}"
    addresses = [f"soak-{run}-{i}@example.com" for i in range(recipients)]
    calls = _trigger_calls(run, campaign_id, addresses, per_call)
    rng = random.Random(seed)  # nosec B311  # a seeded draw of which calls to replay
    replays = [c for c in calls if rng.random() < replay_share]
    work = calls + replays
    rng.shuffle(work)
    result = SoakResult(recipients=recipients, calls=len(calls), replays=len(replays))

    started = time.monotonic()
    accepted = _trigger_all(stack, work, concurrency, result)
    result.trigger_seconds = time.monotonic() - started
    result.accepted = len(accepted)

    expected = set(addresses)
    sqs = stack.emulator.client("sqs")
    received = _drain(stack, expected, sqs, stall_seconds)
    result.drain_seconds = time.monotonic() - started - result.trigger_seconds
    result.received = sum(received.values())
    result.duplicated = sum(n - 1 for n in received.values() if n > 1)
    lost = expected - set(received)
    result.lost = len(lost)
    if lost:
        result.lost_states = _recorded_states(stack, {u: accepted[u] for u in lost if u in accepted})
        result.queues = _queue_depths(sqs)
    return result


def _trigger_calls(run: str, campaign_id: str, addresses: list[str], per_call: int) -> list[dict[str, Any]]:
    """One trigger body per `per_call` addresses, each recipient with its own profile and context."""
    return [
        {
            "requestId": f"soak-{run}-{number}",
            "campaignId": campaign_id,
            "recipients": [
                {
                    "type": "aep",
                    "userId": a,
                    "namespace": "email",
                    "profile": {"firstName": f"N{i}"},
                    "context": {"code": f"{i:06d}"},
                }
                for i, a in enumerate(addresses[start : start + per_call], start)
            ],
        }
        for number, start in enumerate(range(0, len(addresses), per_call))
    ]


def _trigger_all(stack: Stack, work: list[dict[str, Any]], concurrency: int, result: SoakResult) -> dict[str, str]:
    """Sends every body from `concurrency` callers, counting the answers; userId -> executionId accepted."""

    def call(body: dict[str, Any]) -> tuple[int, Any]:
        answer_status, _, answer = stack.request("POST", "/im/executions/unitary", body)
        return answer_status, answer

    accepted: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for answer_status, answer in pool.map(call, work):
            result.statuses[answer_status] += 1
            if answer_status == 202:
                accepted.update(
                    (r["userId"], answer["executionId"]) for r in answer["recipients"] if r["status"] == "accepted"
                )
    return accepted


def _drain(stack: Stack, expected: set[str], sqs: Any, stall_seconds: float) -> Counter[str]:
    """Emails per address once all arrived or nothing moved for `stall_seconds`."""
    last_seen: tuple[int, dict[str, Any]] | None = None
    moved_at = time.monotonic()
    while True:
        received = _received(stack, expected)
        if len(received) >= len(expected):
            break
        seen = (sum(received.values()), _queue_depths(sqs, detail=True))
        if seen != last_seen:
            last_seen, moved_at = seen, time.monotonic()
        elif time.monotonic() - moved_at > stall_seconds:
            break  # nothing moved: what is missing is lost
        time.sleep(2)
    time.sleep(1)  # let any late duplicate land before counting
    return _received(stack, expected)


def _received(stack: Stack, expected: set[str]) -> Counter[str]:
    """Emails per address, as the emulator recorded the sends: what GET /_local/outbox lists, read
    in-process. The HTTP outbox also joins every item with the executions table, a full scan that
    at 10,000 recipients loaded the emulator more than the delivery being measured."""
    assert stack.outbox is not None  # nosec B101  # narrows a type
    return Counter(
        item["to"] for channel in stack.outbox.channels for item in channel.messages() if item["to"] in expected
    )


def _recorded_states(stack: Stack, executions: dict[str, str]) -> Counter[str]:
    """`status/reason` of each recipient as GET /im/executions/{id} reports it."""
    states: Counter[str] = Counter()
    for execution_id in set(executions.values()):
        _, _, status = stack.request("GET", f"/im/executions/{execution_id}?limit=1000")
        for item in status.get("recipients", []):
            if executions.get(item["userId"]) == execution_id:
                states[f"{item['status']}/{item.get('reason') or '-'}"] += 1
    return states


def _queue_depths(sqs: Any, *, detail: bool = False) -> dict[str, Any]:
    """Messages in each queue; with `detail`, (visible, in flight, delayed) apart."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    if detail:
        names.append("ApproximateNumberOfMessagesDelayed")
    depths: dict[str, Any] = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        counts = tuple(int(attributes.get(name, 0)) for name in names)
        depths[url.rsplit("/", 1)[-1]] = counts if detail else sum(counts)
    return depths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--per-call", type=int, default=25)
    args = parser.parse_args(argv)
    with Stack(port=0, moto_port=0) as stack:
        result = run_soak(stack, recipients=args.recipients, concurrency=args.concurrency, per_call=args.per_call)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
