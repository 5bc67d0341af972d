"""Event sources Lambda would drive: SQS event source mappings and schedules.

Moto stores these but never fires them, so the local stack does what the Lambda service does:
long-poll the queue, invoke with real-shaped records, delete what succeeded; and run
scheduled functions at their rate (or at once on POST /_local/tick).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from local.functions import LocalFunction
from local.harness import delete_processed, kept_in_queue, sqs_event
from local.template import ACCOUNT_ID, REGION, Schedule, SqsSource, rate_seconds

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("local.event_sources")

# Threads per event source mapping, at most its MaximumConcurrency. All run in this one process
# with the emulator, and each waiting poller is woken by every message sent (the emulator then
# scans the queue for it): 16 gave the best latency and throughput under make bench's load
# (50: throughput fell by a quarter; 8: p95 latency up by half).
MAX_POLLERS = 16
LONG_POLL_SECONDS = 2  # short enough that stop() never waits long for a poller
ERROR_BACKOFF_SECONDS = 1.0
# Lambda gives every invocation a CPU of its own; here the mapping's runs share this process (and
# its GIL) with the emulator and one another, so a run lasts about (recipients in flight in every
# run) / (what this machine delivers per second): 16 runs of 100 recipients took 25-40 s each on
# one shared core, past the delivery function's 30 s. So, as Lambda's pollers do, a mapping starts
# with a few batches at once and takes one more after each run that took under a sixth of the
# function's timeout (up to the pollers' number); a run over a third of it cuts the number in
# proportion.
# As Lambda's pollers, a mapping scales up only while messages wait: a quick run adds a batch only if
# its batch came back full (more were queued), and a batch that came back short (the queue drained)
# gives one back, down to START_BATCHES. Adding batches whatever the backlog kept all 16 pollers
# waiting on a queue that a trigger call at a time fills: each took one or two messages, so delivery
# paid its per-run requests (receive, delete, the campaign read, the report counters) for every
# one or two emails, and every message sent woke all 16: 9.4 AWS requests per email under make
# bench's load against 7.4 now (6.5 with full batches).
# Lambda starts a mapping with five batches at once and keeps five pollers however quiet the queue: a
# floor of 2 made a throttled campaign's re-queued recipients (DelaySeconds) come back to too few runs,
# in bursts and gaps (50/s measured 0.76 and 0.89 of its rate; 0.99 with five).
START_BATCHES = 5
SLOW_SHARE_OF_TIMEOUT = 1 / 3
FAST_SHARE_OF_TIMEOUT = 1 / 6


class Concurrency:
    """How many batches of one event source mapping are being processed at once, sized to the
    machine by how long its runs take (see SLOW_SHARE_OF_TIMEOUT)."""

    def __init__(self, cap: int, timeout_seconds: float, name: str = "") -> None:
        self.cap = max(1, cap)
        self.limit = min(self.cap, START_BATCHES)
        self.name = name
        self._slow = timeout_seconds * SLOW_SHARE_OF_TIMEOUT
        self._fast = timeout_seconds * FAST_SHARE_OF_TIMEOUT
        self._active = 0
        self._resized_at = time.monotonic()
        self._condition = threading.Condition()

    def acquire(self, stopping: threading.Event) -> float | None:
        """Waits for a free slot; its start time, or None once `stopping` is set."""
        with self._condition:
            while self._active >= self.limit:
                if stopping.is_set():
                    return None
                self._condition.wait(0.5)
            self._active += 1
            return time.monotonic()

    def release(self, started: float, ran_seconds: float | None = None, backlog: bool = False) -> None:
        """Frees the slot; `ran_seconds` is how long the function ran, if it was invoked; `backlog`, whether
        its batch came back full (messages were waiting). A short or empty batch: the queue is drained."""
        with self._condition:
            self._active -= 1
            if ran_seconds is not None and ran_seconds > self._slow:
                # Only a run that started after the last resize speaks for the current limit.
                if self.limit > 1 and started >= self._resized_at:
                    self.limit = max(1, min(self.limit - 1, int(self.limit * self._slow / ran_seconds)))
                    self._resized_at = time.monotonic()
                    log.info("%s: a run took %.1f s; %d batches at once from now", self.name, ran_seconds, self.limit)
            elif backlog and ran_seconds is not None and ran_seconds < self._fast and self.limit < self.cap:
                self.limit += 1
            elif not backlog and self.limit > min(self.cap, START_BATCHES):
                self.limit -= 1
            self._condition.notify_all()


class SqsPoller:
    """One SQS event source mapping: several pollers gather batches and invoke the function."""

    def __init__(self, source: SqsSource, function: LocalFunction, sqs: SQSClient, queue_url: str, queue_arn: str):
        self.source = source
        self.function = function
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._stopping = threading.Event()
        cap = int(os.environ.get("LOCAL_MAX_POLLERS") or MAX_POLLERS)
        workers = min(source.max_concurrency or cap, cap)
        self.concurrency = Concurrency(workers, function.timeout_seconds, name=function.logical_id)
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{function.logical_id}-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():  # never started when the stack failed to start
                thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            # A slot first: a poller over the limit must not hold messages it cannot process yet.
            started = self.concurrency.acquire(self._stopping)
            if started is None:
                return
            ran: float | None = None
            full = False
            try:
                batch = self._gather()
                full = len(batch) >= self.source.batch_size
                if batch:
                    ran = self.process(batch)
            except Exception:
                # The emulator may be going away or being reset; keep polling like Lambda would.
                if not self._stopping.is_set():
                    log.exception("polling %s for %s failed", self._queue_url, self.function.logical_id)
                self._stopping.wait(ERROR_BACKOFF_SECONDS)
            finally:
                self.concurrency.release(started, ran, backlog=full)

    def _gather(self) -> list[MessageTypeDef]:
        """Up to BatchSize messages: long-poll for the first, then fill within the batching window."""
        size = self.source.batch_size
        batch = self._receive(LONG_POLL_SECONDS, size)
        deadline = time.monotonic() + self.source.batching_window_seconds
        while batch and len(batch) < size and time.monotonic() < deadline:
            more = self._receive(0, size - len(batch))
            batch += more
            if not more:
                self._stopping.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return batch

    def _receive(self, wait_seconds: int, limit: int) -> list[MessageTypeDef]:
        if self._stopping.is_set():
            return []
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(10, limit),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def process(self, batch: list[MessageTypeDef]) -> float:
        """Invoke once, then delete every record except those reported as failed; how long it ran."""
        event = sqs_event(batch, self._queue_arn)
        started = time.monotonic()
        try:
            result = self.function.invoke(event)
        except Exception:
            # A failed invocation deletes nothing: every message comes back after its visibility timeout.
            log.exception("%s failed on a batch of %d", self.function.logical_id, len(batch))
            return time.monotonic() - started
        ran = time.monotonic() - started
        if ran > self.function.timeout_seconds:
            # Lambda would have stopped it and discarded its answer: the batch failed as a whole.
            # A thread cannot be stopped, so the run did finish here; its records still come back.
            log.error(
                "%s: Task timed out after %.2f seconds (Timeout %d s); its %d records come back after the "
                "queue's visibility timeout",
                self.function.logical_id,
                ran,
                self.function.timeout_seconds,
                len(batch),
            )
            return ran
        kept = kept_in_queue(result, batch) if self.source.report_batch_item_failures else set()
        if undeleted := delete_processed(self._sqs, self._queue_url, batch, kept):
            log.warning("%s: could not delete %s", self.function.logical_id, undeleted)
        return ran


class Ticker:
    """Runs Schedule and ScheduleV2 functions at their rate; `tick()` runs them all now."""

    def __init__(self, schedules: list[tuple[Schedule, LocalFunction]]) -> None:
        self.schedules = schedules
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> None:
        for schedule, _ in self.schedules:
            if rate_seconds(schedule.expression) is None:
                log.warning("%s: %s runs only on POST /_local/tick", schedule.function, schedule.expression)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def tick(self) -> tuple[list[str], list[str]]:
        """Run every scheduled function once: (those that ran, those that failed)."""
        ran: list[str] = []
        failed: list[str] = []
        for schedule, function in self.schedules:
            (ran if self._invoke(schedule, function) else failed).append(function.logical_id)
        return ran, failed

    def _run(self) -> None:
        # Like EventBridge, the first run comes one period after the schedule is created.
        due = {
            index: time.monotonic() + period
            for index, (schedule, _) in enumerate(self.schedules)
            if (period := rate_seconds(schedule.expression))
        }
        while due and not self._stopping.wait(max(0.0, min(due.values()) - time.monotonic())):
            for index, when in list(due.items()):
                if when <= time.monotonic():
                    schedule, function = self.schedules[index]
                    self._invoke(schedule, function)
                    due[index] = when + (rate_seconds(schedule.expression) or 0)

    @staticmethod
    def _invoke(schedule: Schedule, function: LocalFunction) -> bool:
        event = schedule.input
        if event is None:
            rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{function.name}-{schedule.event}"
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": [rule],
                "detail": {},
            }
        try:
            function.invoke(event)
        except Exception:
            log.exception("scheduled %s failed", function.logical_id)
            return False
        return True
