"""CPU per trigger call and per delivered email, against what the work cannot go below.

Measured with `time.process_time()` (every thread of the process, so delivery's send pool counts)
around warm handler invocations, AWS answered by the in-process fake so that no emulator work is
counted. Logs and metrics go where Lambda sends them, to standard output (here /dev/null).

Floors, built from the same building blocks through the same fake:
- trigger: `json.loads` of the body, then the very AWS calls the trigger made for that call
  (recorded at botocore's parameter-build step and replayed with the same clients), nothing else;
- delivery, per email: one Jinja render of the subject and the HTML (compiled once, as the
  product does), one MIME message (multipart/alternative, the library's SMTP policy), one
  serialised SendEmail with the same arguments. The text alternative is derived outside the floor.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name

from benchmarks.workload import Workload

Call = tuple[str, str, dict[str, Any]]


@dataclass
class Figure:
    ms: float
    floor_ms: float
    samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.ms / self.floor_ms if self.floor_ms else float("nan")


@dataclass
class CpuResults:
    trigger: dict[int, Figure]
    delivery: dict[str, Figure]  # per email, by mix: "single" (1 recipient per call), "per20"


def _interleaved(
    product: Callable[[], tuple[float, int]], floor: Callable[[], tuple[float, int]], rounds: int
) -> tuple[tuple[float, list[float]], tuple[float, list[float]]]:
    """Median CPU milliseconds per unit of the product and of its floor over `rounds` rounds each
    (a run does one round: CPU seconds, units), their rounds alternating: on a shared machine the
    speed drifts over seconds, and alternating exposes both to the same drift."""
    product_samples: list[float] = []
    floor_samples: list[float] = []
    for _ in range(rounds):
        for run, samples in ((product, product_samples), (floor, floor_samples)):
            seconds, units = run()
            samples.append(seconds * 1000 / units)
    return (
        (statistics.median(product_samples), product_samples),
        (statistics.median(floor_samples), floor_samples),
    )


def _timed(action: Callable[[], int]) -> tuple[float, int]:
    """CPU seconds of `action` (which returns how many units it did), after a collection."""
    gc.collect()
    start = time.process_time()
    units = action()
    return time.process_time() - start, units


def client(service: str) -> Any:
    """The product's client for a service (campaign_engine.aws), else a plain boto3 one."""
    import boto3

    from campaign_engine import aws

    factory = getattr(aws, service, None)
    make: Any = boto3.client
    return factory() if callable(factory) else make(service)


def _record(work: Workload, action: Callable[[], Any]) -> list[Call]:
    work.fake.capture = [[]]
    try:
        action()
        return [c for chunk in work.fake.capture for c in chunk if c[0] != "label"]
    finally:
        work.fake.capture = None


# ---------------------------------------------------------------------------
# Trigger
# ---------------------------------------------------------------------------
def trigger_figure(work: Workload, recipients: int, iterations: int, rounds: int) -> Figure:
    with work.frozen():
        work.trigger(work.trigger_event(recipients, "warm"))  # lazy imports, compiled validators
        sample_event = work.trigger_event(recipients, "floor")
        calls = _record(work, lambda: work.trigger(sample_event))
        body = sample_event["body"]
        bound = [(getattr(client(s), xform_name(op)), params) for s, op, params in calls]

        def product() -> tuple[float, int]:
            events = [work.trigger_event(recipients, f"cpu{recipients}") for _ in range(iterations)]

            def invoke() -> int:
                for event in events:
                    work.trigger(event)
                return iterations

            return _timed(invoke)

        def floor() -> int:
            for _ in range(iterations):
                json.loads(body)
                for method, params in bound:
                    method(**params)
            return iterations

        (ms, samples), (floor_ms, _) = _interleaved(product, lambda: _timed(floor), rounds)
    work.fake.queues.clear()
    return Figure(ms, floor_ms, samples)


# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------
def _delivery_events(work: Workload, per_call: int, invocations: int) -> list[dict[str, Any]]:
    """Invocations as the event source mapping builds them from what real trigger calls queued."""
    events = []
    emails_per_invocation = work.batch_size * min(per_call, _recipients_per_message())
    calls = max(1, emails_per_invocation // per_call)
    for _ in range(invocations):
        for _ in range(calls):
            work.trigger(work.trigger_event(per_call, f"d{per_call}"))
        events.append(work.delivery_event(work.receive_batch()))
    work.fake.queues.clear()
    return events


def _recipients_per_message() -> int:
    from campaign_engine import queue_message

    return queue_message.RECIPIENTS_PER_MESSAGE


def _emails(event: dict[str, Any]) -> int:
    return sum(len(json.loads(r["body"]).get("recipients", [])) for r in event["Records"])


def delivery_figure(work: Workload, per_call: int, invocations: int, rounds: int) -> Figure:
    with work.frozen():
        warm = _delivery_events(work, per_call, 1)[0]
        work.deliver(warm)

        def product() -> tuple[float, int]:
            events = _delivery_events(work, per_call, invocations)
            emails = sum(_emails(e) for e in events)

            def invoke() -> int:
                for event in events:
                    result = work.deliver(event)
                    if result.get("batchItemFailures"):
                        raise RuntimeError(f"delivery reported failures: {result}")
                return emails

            return _timed(invoke)

        floor = _delivery_floor(work, warm)
        (ms, samples), (floor_ms, _) = _interleaved(product, lambda: _timed(lambda: floor(invocations)), rounds)
    return Figure(ms, floor_ms, samples)


def _delivery_floor(work: Workload, event: dict[str, Any]) -> Callable[[int], int]:
    """One render, one MIME message, one serialised SendEmail per recipient of `event`."""
    from email import policy
    from email.message import EmailMessage

    import jinja2

    from campaign_engine import aws
    from campaign_engine.channels.email.html_text import html_to_text

    campaign = _live_campaign(work)
    sender = campaign["sender"]
    # bandit B701: plain-text subjects, as the app renders them
    text_env = jinja2.Environment(autoescape=False)  # subjects are not HTML  # nosec B701
    html_env = jinja2.Environment(autoescape=True)
    templates = {
        locale: (text_env.from_string(parts["subject"]), html_env.from_string(parts["html"]))
        for locale, parts in campaign["content"]["locales"].items()
    }
    smtp = policy.SMTP.clone(cte_type="7bit")
    ses = aws.sesv2()
    recipients = []
    for record in event["Records"]:
        message = json.loads(record["body"])
        for recipient in message["recipients"]:
            profile = recipient.get("profile") or {}
            locale = profile.get("preferredLanguage") if profile.get("preferredLanguage") in templates else "en-US"
            scope = {
                "profile": profile,
                "context": recipient.get("context") or {},
                "campaign": {k: campaign.get(k) for k in ("id", "name", "version", "type", "channel")},
                "locale": locale,
            }
            text = html_to_text(templates[locale][1].render(scope))
            tags = [
                {"Name": "campaignId", "Value": message["campaignId"]},
                {"Name": "executionId", "Value": message["executionId"]},
            ]
            recipients.append((recipient["address"], locale, scope, text, tags))

    def one_round(invocations: int) -> int:
        for _ in range(invocations):
            for address, locale, scope, text, tags in recipients:
                subject_t, html_t = templates[locale]
                subject, html = subject_t.render(scope), html_t.render(scope)
                mime = EmailMessage(policy=smtp)
                mime["From"] = f"{sender.get('fromName')} <{sender['fromEmail']}>"
                mime["To"] = address
                mime["Subject"] = subject
                mime.set_content(text)
                mime.add_alternative(html, subtype="html")
                ses.send_email(
                    FromEmailAddress=sender["fromEmail"],
                    Destination={"ToAddresses": [address]},
                    Content={"Raw": {"Data": mime.as_bytes()}},
                    EmailTags=tags,
                )
        return invocations * len(recipients)

    return one_round


def _live_campaign(work: Workload) -> dict[str, Any]:
    from campaign_engine import store

    doc = store.get_campaign_version(work.campaign_id, 1)
    assert doc is not None  # nosec B101  # a benchmark's precondition
    return doc


def run(work: Workload, *, quick: bool = False) -> CpuResults:
    rounds = 3 if quick else 7
    trigger_plan = {1: 20, 20: 6, 1000: 1} if quick else {1: 150, 20: 40, 1000: 4}
    trigger = {n: trigger_figure(work, n, iterations, rounds) for n, iterations in trigger_plan.items()}
    invocations = 2 if quick else 8
    delivery = {
        "single": delivery_figure(work, 1, invocations, rounds),
        "per20": delivery_figure(work, 20, max(1, invocations // 4), rounds),
    }
    return CpuResults(trigger, delivery)
