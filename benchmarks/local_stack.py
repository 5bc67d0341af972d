"""The local stack under load: latency from trigger to outbox, emails per second, and the emulator's own rate.

`local.Stack(port=0, moto_port=0)` runs in this process, as `make run` does. The sample campaign is
created and activated through its API; a separate process (loadgen.py) then triggers EMAILS calls
of one recipient each from 16 concurrent callers. A thread here watches what the emulator's SES
recorded (read in-process every 10 ms, not through /_local/outbox, which parses and joins every
message on each read): an email's latency runs from its trigger request being sent to its arrival.

The emulator's own rate: the AWS requests that the same emails cost (recorded at botocore's
parameter-build step while aws_requests.py ran the one-recipient mix through the fake - the trigger
calls, the event source mapping's receives and deletes, delivery's claims, sends and records) are
issued again, directly, against the same emulator with 16 threads, each invocation's requests in
order (a batch deletes what its own ReceiveMessage returned). local_throughput_ratio is the stack's
emails per second over that rate: what the gateway, the functions and the pollers add to the AWS work.
The two take turns (ROUNDS each, a share of the emails or of the requests per round): this machine's
speed drifts within minutes (the emulator's own rate read 26 and 46 emails/s in two runs back to back),
and both sides of the ratio should see the same drift.

The replay runs as chains, each a delivery invocation's requests right after its share of the trigger
calls, in one thread: an email's latency on the emulator alone is its own trigger call's requests plus
the delivery's up to its SendEmail (not the other calls of its chain, which in the stack come from other
callers at the same time).
local_latency_ratio.p95 is the stack's p95 over that p95: the absolute figures differ from one machine
to the next, the ratio says what the stack adds to the emulator's own time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from benchmarks import environment as env

Chunk = list[tuple[str, str, dict[str, Any]]]
REPLAY_QUEUE = "local-delivery-replay"
ROUNDS = 2


@dataclass
class LocalResult:
    emails: int
    concurrency: int
    received: int = 0
    rejected_calls: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    trigger_ms: list[float] = field(default_factory=list)
    emulator_emails: int = 0
    emulator_seconds: float = 0.0
    emulator_errors: int = 0
    emulator_latencies_ms: list[float] = field(default_factory=list)

    @property
    def emails_per_second(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def emulator_emails_per_second(self) -> float:
        return self.emulator_emails / self.emulator_seconds if self.emulator_seconds else 0.0

    @property
    def throughput_ratio(self) -> float:
        rate = self.emulator_emails_per_second
        return self.emails_per_second / rate if rate else float("nan")

    def latency_ratio(self, q: float) -> float:
        floor = self.percentile(self.emulator_latencies_ms, q)
        return self.percentile(self.latencies_ms, q) / floor if floor else float("nan")

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class _Watcher:
    """Records when each address first shows up among the emulator's sent emails."""

    def __init__(self, interval: float = 0.01) -> None:
        from moto.ses.models import ses_backends

        from local.template import ACCOUNT_ID, REGION

        self._sent: list[Any] = ses_backends[ACCOUNT_ID][REGION].sent_messages
        self.seen: dict[str, float] = {}
        self.duplicates = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-outbox-watcher", daemon=True)
        self._offset = 0

    def start(self) -> None:
        self._offset = len(self._sent)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            new = self._sent[self._offset :]
            self._offset += len(new)
            for message in new:
                destinations = getattr(message, "destinations", None) or []
                if isinstance(destinations, dict):
                    destinations = [a for addresses in destinations.values() for a in addresses]
                # moto lists a raw email's To header beside the destinations it was sent to: once per message.
                for address in set(destinations):
                    if address in self.seen:
                        self.duplicates += 1
                    else:
                        self.seen[address] = now


def _loadgen(stack: Any, campaign_id: str, run: str, emails: int, concurrency: int) -> list[dict[str, Any]]:
    arguments = [stack.base_url, stack.api_key, campaign_id, run, str(emails), str(concurrency)]
    done = env.run_python(
        ["-m", "benchmarks.loadgen", *arguments],
        what="loadgen",
        timeout=900,
        cwd=env.ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(env.ROOT), str(env.ROOT / "layers/core/python")])},
    )
    calls: list[dict[str, Any]] = json.loads(done.stdout)
    return calls


def _wait_for(watcher: _Watcher, addresses: set[str], stall_seconds: float = 60.0) -> None:
    last, since = -1, time.monotonic()
    while True:
        count = len(addresses & watcher.seen.keys())
        if count >= len(addresses):
            return
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > stall_seconds:
            return
        time.sleep(0.05)


def env_quiet() -> Any:
    """The functions' logs (as Lambda would ship them) are not part of any report."""
    return env.quiet_stdout()


def measure_stack(stack: Any, emails: int, concurrency: int, warmup: int = 32) -> LocalResult:
    campaign_id = stack.seed_demo(env.campaign_body())
    run = f"local{time.time_ns():x}"
    watcher = _Watcher()
    watcher.start()
    try:
        # Warm: lazy imports, compiled templates, cached campaign versions and authorizer answers.
        warm = _loadgen(stack, campaign_id, run + "w", warmup, concurrency)
        _wait_for(watcher, {c["address"] for c in warm if c["status"] == 202}, stall_seconds=30)
        calls = _loadgen(stack, campaign_id, run, emails, concurrency)
        accepted = {c["address"]: c for c in calls if c["status"] == 202}
        _wait_for(watcher, set(accepted))
    finally:
        watcher.stop()
    result = LocalResult(emails=emails, concurrency=concurrency)
    result.rejected_calls = len(calls) - len(accepted)
    arrivals = {a: watcher.seen[a] for a in accepted if a in watcher.seen}
    result.received = len(arrivals)
    result.latencies_ms = [(arrivals[a] - accepted[a]["sent"]) * 1000 for a in arrivals]
    result.trigger_ms = [(c["answered"] - c["sent"]) * 1000 for c in accepted.values()]
    if arrivals:
        result.seconds = max(arrivals.values()) - min(c["sent"] for c in calls)
    return result


# ---------------------------------------------------------------------------
# The emulator alone, with the same requests
# ---------------------------------------------------------------------------
def _rewrite(params: dict[str, Any], queue_urls: dict[str, str]) -> dict[str, Any]:
    if params.get("QueueUrl") in queue_urls:
        return {**params, "QueueUrl": queue_urls[params["QueueUrl"]]}
    return params


class Replayer:
    """Issues recorded requests again against the emulator, counting those it refuses."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients
        self.errors = 0
        self._lock = threading.Lock()

    def issue(self, service: str, operation: str, params: dict[str, Any]) -> list[str]:
        """Issues one request; returns the receipt handles a ReceiveMessage answered (else none)."""
        try:
            answer = getattr(self.clients[service], xform_name(operation))(**params)
        except ClientError:
            with self._lock:
                self.errors += 1
            return []
        return [m["ReceiptHandle"] for m in answer.get("Messages", [])] if operation == "ReceiveMessage" else []


def _chains(triggers: list[Chunk], deliveries: list[Chunk]) -> list[list[Chunk]]:
    """Each delivery invocation after its share of the trigger calls (the calls spread evenly)."""
    per = len(triggers) / len(deliveries)
    return [[*triggers[round(i * per) : round((i + 1) * per)], deliveries[i]] for i in range(len(deliveries))]


def replay_on_emulator(
    stack: Any,
    chunks: list[Chunk],
    setup_items: dict[str, list[dict[str, Any]]],
    fake_queue_url: str,
    threads: int,
    share: float = 1.0,
    part: tuple[int, int] = (0, 1),
) -> tuple[int, float, int, list[float]]:
    """(emails, seconds, errors, latencies in ms) for issuing the recorded invocations' requests against
    the emulator, as chains (module docstring).

    `share` replays that fraction of the trigger calls and of the delivery invocations (the first ones);
    `part` (k, n) the k-th of n equal slices of those."""
    from local.emulator import aws_client

    clients = {s: aws_client(s, stack.moto_url) for s in ("dynamodb", "sqs", "sesv2", "sns")}
    template = env.template()
    source = next(s for s in template.sqs_sources() if s.function == "DeliveryFunction")
    attributes = next(q.attributes for q in template.queues() if q.logical_id == source.queue)
    replay_url = clients["sqs"].create_queue(QueueName=REPLAY_QUEUE, Attributes=attributes)["QueueUrl"]
    for table, items in setup_items.items():
        for item in items:
            clients["dynamodb"].put_item(TableName=table, Item=item)
    queue_urls = {fake_queue_url: replay_url}
    triggers = [c for c in chunks if c and c[0][:2] == ("label", "trigger")]
    deliveries = [c for c in chunks if c and c[0][:2] == ("label", "delivery")]
    triggers = _slice(triggers[: max(1, round(len(triggers) * share))], part)
    deliveries = _slice(deliveries[: max(1, round(len(deliveries) * share))], part)
    emails = sum(1 for chunk in deliveries for call in chunk if call[:2] == ("sesv2", "SendEmail"))
    replayer = Replayer(clients)
    latencies: list[float] = []

    def invoke(chunk: Chunk, trigger_ms: list[float]) -> None:
        """Issues one invocation's requests. In a delivery invocation, each SendEmail's latency is its
        email's own trigger call (`trigger_ms`, in order) plus the delivery's requests up to it."""
        handles: list[str] = []
        started = time.monotonic()
        for service, operation, recorded in chunk:
            if service == "label":
                continue
            params = _rewrite(recorded, queue_urls)
            if operation == "DeleteMessageBatch":
                if not handles:
                    continue
                params = {
                    **params,
                    "Entries": [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(handles[:10])],
                }
                handles = handles[10:]
            handles += replayer.issue(service, operation, params)
            if operation == "SendEmail":
                own = trigger_ms.pop(0) if len(trigger_ms) > 1 else (trigger_ms[0] if trigger_ms else 0.0)
                latencies.append(own + (time.monotonic() - started) * 1000)  # list.append: atomic

    def invoke_chain(chain: list[Chunk]) -> None:
        trigger_ms: list[float] = []
        for chunk in chain[:-1]:
            started = time.monotonic()
            invoke(chunk, [])
            trigger_ms.append((time.monotonic() - started) * 1000)
        invoke(chain[-1], trigger_ms)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(invoke_chain, _chains(triggers, deliveries)))
    return emails, time.monotonic() - start, replayer.errors, latencies


def _slice(items: list[Chunk], part: tuple[int, int]) -> list[Chunk]:
    k, n = part
    return items[round(k * len(items) / n) : round((k + 1) * len(items) / n)] or items[:1]


def _add(total: LocalResult | None, result: LocalResult, replayed: tuple[int, float, int, list[float]]) -> LocalResult:
    """A round's stack and emulator figures added to the run's."""
    emails, seconds, errors, latencies = replayed
    if total is None:
        total = LocalResult(emails=0, concurrency=result.concurrency)
    total.emails += result.emails
    total.received += result.received
    total.rejected_calls += result.rejected_calls
    total.seconds += result.seconds
    total.latencies_ms += result.latencies_ms
    total.trigger_ms += result.trigger_ms
    total.emulator_emails += emails
    total.emulator_seconds += seconds
    total.emulator_errors += errors
    total.emulator_latencies_ms += latencies
    return total


def run(
    chunks: list[Chunk],
    setup_items: dict[str, list[dict[str, Any]]],
    fake_queue_url: str,
    *,
    emails: int = 5000,
    concurrency: int = 16,
    replay_share: float = 1.0,
) -> LocalResult:
    from local import Stack

    # The functions' logs (as Lambda would ship them) are not part of the report.
    # Pollers: the local stack's default (16; LOCAL_MAX_POLLERS). Many more only wait: every message
    # sent wakes each waiting poller, and the emulator scans the whole queue for each of them.
    # The stack and the emulator alternate (ROUNDS each, half the emails or requests at a time): this
    # machine's speed drifts by a third within minutes, and both sides of the ratio should see the same.
    total: LocalResult | None = None
    with env.quiet_stdout(), Stack(port=0, moto_port=0) as stack:
        for k in range(ROUNDS):
            result = measure_stack(stack, emails // ROUNDS, concurrency)
            replayed = replay_on_emulator(
                stack, chunks, setup_items, fake_queue_url, concurrency, replay_share, part=(k, ROUNDS)
            )
            total = _add(total, result, replayed)
    assert total is not None  # nosec B101  # ROUNDS >= 1
    return total
