"""AWS requests per email, end to end: trigger calls, the event source mapping, delivery, SES's events.

Every request goes through the fake and is counted by service and operation, with the units it is
billed in, and by phase: `trigger` (the trigger calls), `delivery` (the SQS event source mapping's
own ReceiveMessage and DeleteMessageBatch - workload.py gathers batches as Lambda's pollers do - and
the delivery function), `feedback` (when the stack has a feedback function: one "Email Delivered"
EventBridge event per email, events/feedback/email_delivered.json filled in with what SES was
handed, put in the feedback queue as the rule does - one SendMessage each - and handed to the
function in batches of its BatchSize, with the mapping's ReceiveMessage and DeleteMessageBatch).
The figures follow template.yaml's defaults: the feedback phase counts only when its configuration
set publishes Delivery events by default (DeliveryEvents=all); it is measured either way and
reported apart. SES's SendEmail is reported apart, as the one request per email that is
the product itself.

A second, smaller run answers every request after a typical in-region latency and records how long
each invocation waited on AWS with nothing else to do: the I/O share of billed duration (cost.py).
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from benchmarks.workload import Workload
from local import harness

# Billed per request, and not the product itself (SES's SendEmail is: one per email, whatever we do).
BILLED_SERVICES = ("dynamodb", "sqs", "sns")
PHASES = ("trigger", "delivery", "feedback")
# Lambda writes START, END and REPORT lines per invocation besides what the function prints.
PLATFORM_LOG_BYTES_PER_INVOCATION = 350
# DynamoDB bills storage per item as its size plus 100 bytes of overhead.
DYNAMODB_ITEM_OVERHEAD = 100


@dataclass
class Mix:
    """One way of calling: `per_call` recipients per trigger call."""

    name: str
    per_call: int
    # Recipients who already have a profile (sent to once before, uncounted): no profile is created for them.
    returning: bool = False
    emails: int = 0
    trigger_calls: int = 0
    delivery_invocations: int = 0
    feedback_invocations: int = 0
    feedback_error: str | None = None
    feedback_by_default: bool = False  # SES publishes a Delivery event per email with the template's defaults
    messages: int = 0
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_phase: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    units: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    units_phase: dict[str, dict[str, float]] = field(default_factory=dict)
    log_bytes: int = 0
    log_bytes_by_phase: dict[str, int] = field(default_factory=dict)
    stored_bytes: int = 0
    body_bytes: int = 0
    capture: list[list[tuple[str, str, dict[str, Any]]]] = field(default_factory=list)
    feedback_cpu_ms: float = 0.0  # per invocation (measured in this run, the fake counting)
    # From the latency run, per invocation: milliseconds waiting on AWS with nothing else to do
    trigger_io_ms: float = 0.0
    delivery_io_ms: float = 0.0
    feedback_io_ms: float = 0.0
    delivery_emails_per_invocation: float = 0.0

    def per_email(self, value: float) -> float:
        return value / self.emails if self.emails else 0.0

    def default_phases(self) -> tuple[str, ...]:
        return PHASES if self.feedback_by_default else ("trigger", "delivery")

    def requests_per_email(self, phases: tuple[str, ...] | None = None) -> dict[str, float]:
        phases = self.default_phases() if phases is None else phases
        by_service: Counter[str] = Counter()
        for phase in phases:
            for (service, _), n in self.by_phase.get(phase, Counter()).items():
                if service in BILLED_SERVICES:
                    by_service[service] += n
        out = {service: self.per_email(by_service[service]) for service in BILLED_SERVICES}
        out["total"] = sum(out.values())
        return out

    def units_by_phase(self, phases: tuple[str, ...]) -> defaultdict[str, float]:
        out: defaultdict[str, float] = defaultdict(float)
        for phase in phases:
            for unit, value in self.units_phase.get(phase, {}).items():
                out[unit] += value
        return out

    def operations_per_email(self) -> dict[str, dict[str, float]]:
        return {
            phase: {f"{s}.{op}": self.per_email(n) for (s, op), n in sorted(counts.items())}
            for phase, counts in self.by_phase.items()
        }


def _phase(work: Workload, mix: Mix, name: str) -> None:
    """Files what the fake counted (requests, units, log bytes) since the last phase under `name`."""
    counts = Counter(work.fake.requests)
    mix.by_phase[name] = counts - mix.requests
    mix.requests = counts
    units = dict(work.fake.units)
    mix.units_phase[name] = {u: v - mix.units.get(u, 0.0) for u, v in units.items() if v - mix.units.get(u, 0.0)}
    mix.units = defaultdict(float, units)
    log_bytes = work.log_bytes()
    mix.log_bytes_by_phase[name] = log_bytes - mix.log_bytes
    mix.log_bytes = log_bytes


def _people(mix: Mix, call: int) -> str | None:
    return f"{mix.name}-people-{call}" if mix.returning else None


def _meet(work: Workload, mix: Mix, calls: int) -> None:
    """For returning recipients: one earlier send to each, its delivery and events, before the counting."""
    for call in range(calls):
        work.trigger(work.trigger_event(mix.per_call, mix.name + "-first", _people(mix, call)))
    work.drain()
    if work.feedback_module is not None:
        work.publish_feedback(work.feedback_events())
        work.drain_feedback()


def _run(work: Workload, mix: Mix, calls: int, *, capture: bool) -> None:
    fake = work.fake
    if mix.returning:
        _meet(work, mix, calls)
    fake.reset_counts()
    fake.capture = [] if capture else None
    executions_before = set(fake.tables.get(_executions_table(), {}))
    mix.log_bytes = work.log_bytes()
    try:
        for call in range(calls):
            fake.start_capture_chunk("trigger")
            event = work.trigger_event(mix.per_call, mix.name, _people(mix, call))
            mix.body_bytes += len(event["body"].encode())
            work.trigger(event)
            mix.trigger_calls += 1
        _phase(work, mix, "trigger")
        stats = work.drain()
        _phase(work, mix, "delivery")
    finally:
        if capture and fake.capture is not None:
            mix.capture = fake.capture
        fake.capture = None
    mix.delivery_invocations += stats.invocations
    mix.messages += stats.messages
    mix.emails += int(fake.units["ses.recipients"])
    if stats.failed:
        raise RuntimeError(f"{mix.name}: delivery reported {stats.failed} failed records")
    if work.feedback_module is not None:
        events = work.feedback_events()
        start = time.process_time()
        try:
            work.publish_feedback(events)
            feedback = work.drain_feedback()
            mix.feedback_invocations += feedback.invocations
            if feedback.failed:
                raise RuntimeError(f"the feedback function reported {feedback.failed} failed records")
        except Exception as error:  # report, do not lose the rest of the run
            mix.feedback_error = f"{type(error).__name__}: {error}"[:300]
            print(f"[bench] feedback left out: {mix.feedback_error}", file=sys.stderr)
        if mix.feedback_invocations:
            mix.feedback_cpu_ms = (time.process_time() - start) * 1000 / mix.feedback_invocations
        _phase(work, mix, "feedback")
    mix.log_bytes = sum(mix.log_bytes_by_phase.values())
    table = fake.tables.get(_executions_table(), {})
    mix.stored_bytes += sum(_stored_size(item) for key, item in table.items() if key not in executions_before)


def _stored_size(item: dict[str, Any]) -> int:
    from benchmarks.fake_aws import item_size

    return item_size(item) + DYNAMODB_ITEM_OVERHEAD


def _executions_table() -> str:
    from campaign_engine.settings import get_settings

    return get_settings().executions_table


def idle_wait_ms(waits: list[tuple[float, float, float, float]]) -> float:
    """Milliseconds during which at least one request was waiting and the process computed nothing.

    Waits are merged into the periods when some request was outstanding; the CPU the process used
    meanwhile (other threads of delivery's pool rendering, say) is taken off, so that computing and
    waiting at the same time is billed once, as CPU."""
    total = 0.0
    merged: list[float] | None = None  # [start, end, cpu at start, cpu at end]
    for start, end, cpu_start, cpu_end in sorted(waits):
        if merged is None or start > merged[1]:
            if merged is not None:
                total += max(0.0, (merged[1] - merged[0]) - (merged[3] - merged[2]))
            merged = [start, end, cpu_start, cpu_end]
        elif end > merged[1]:
            merged[1], merged[3] = end, cpu_end
    if merged is not None:
        total += max(0.0, (merged[1] - merged[0]) - (merged[3] - merged[2]))
    return total * 1000


def _latency_run(work: Workload, mix: Mix, calls: int) -> None:
    """I/O wait per invocation, with every request answered after a typical in-region latency."""
    from benchmarks.fake_aws import DEFAULT_LATENCY_SECONDS

    fake = work.fake
    fake.latency = dict(DEFAULT_LATENCY_SECONDS)
    fake.reset_counts()
    try:
        trigger_waits = []
        for _ in range(calls):
            event = work.trigger_event(mix.per_call, mix.name + "-io")
            fake.waits.clear()
            work.trigger(event)
            trigger_waits.append(idle_wait_ms(fake.waits))
        delivery_waits, emails = [], []
        while fake.queue_depth(work.queue_url):
            batch = work.receive_batch()
            event = work.delivery_event(batch)
            fake.waits.clear()
            before = fake.units["ses.recipients"]
            result = work.deliver(event)
            delivery_waits.append(idle_wait_ms(fake.waits))
            emails.append(fake.units["ses.recipients"] - before)
            work.delete(batch, result)
        feedback_waits = []
        if work.feedback_module is not None and mix.feedback_error is None:
            work.publish_feedback(work.feedback_events())
            while fake.queue_depth(work.feedback_queue_url):
                batch = work.receive_batch(work.feedback_queue_url, work.feedback_batch_size)
                fake.waits.clear()
                result = work.feedback(harness.sqs_event(batch, work.feedback_queue_arn))
                feedback_waits.append(idle_wait_ms(fake.waits))
                work.delete(batch, result, work.feedback_queue_url)
    finally:
        fake.latency = {}
    mix.feedback_io_ms = sum(feedback_waits) / len(feedback_waits) if feedback_waits else 0.0
    mix.trigger_io_ms = sum(trigger_waits) / len(trigger_waits)
    mix.delivery_io_ms = sum(delivery_waits) / len(delivery_waits)
    mix.delivery_emails_per_invocation = sum(emails) / len(emails)


def run(work: Workload, *, quick: bool = False) -> dict[str, Mix]:
    """`single`: one recipient per call; `per20`: twenty per call (every recipient new: a profile is created
    for each); the same to people who already have a profile (`*_returning`, details only). Counts, then
    I/O waits."""
    mixes = {
        "single": Mix("single", 1),
        "per20": Mix("per20", 20),
        "single_returning": Mix("single_returning", 1, returning=True),
        "per20_returning": Mix("per20_returning", 20, returning=True),
    }
    for mix in mixes.values():
        mix.feedback_by_default = work.delivery_events_published()
    emails = 100 if quick else 1000
    for mix in mixes.values():
        _run(work, mix, max(1, emails // mix.per_call), capture=mix.name == "single")
    for mix in mixes.values():
        calls = work.batch_size * 2 if mix.per_call == 1 else max(1, 2 * work.batch_size * 10 // mix.per_call)
        _latency_run(work, mix, calls)
    return mixes
