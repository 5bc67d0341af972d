"""Background jobs: work too long for one request (an audience's fan-out, erasing a person from
execution records), done in steps from the jobs queue.

A job message is `{"kind": ..., ...}`. Its step function pages through the work while time is
left, saves a checkpoint in the store, and returns the job to continue with (or None when done);
the continuation is queued as a new message, so no run sleeps and a run that dies is simply
redelivered and resumes from the last checkpoint. Steps must therefore be safe to repeat: a
redelivered step redoes at most the page it had not checkpointed, and whatever that page sends
is deduplicated by delivery's per-recipient send guard."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine import aws
from campaign_engine.observability import logger
from campaign_engine.settings import get_settings

Step = Callable[[dict[str, Any], Callable[[], int]], dict[str, Any] | None]

# kind -> "module:function", imported when a job of that kind first runs.
STEPS: dict[str, str] = {
    "audience_fanout": "campaign_engine.audience_executions:fanout_step",
    "erasure": "campaign_engine.erasure:erasure_step",
}
# A step starts no new page once less than this is left of the function's time.
STOP_MARGIN_MS = 60_000


def submit(job: dict[str, Any], *, delay_seconds: int = 0) -> None:
    """Queues a job (or a job's continuation)."""
    if job.get("kind") not in STEPS:
        raise ValueError(f"unknown job kind {job.get('kind')!r}")
    aws.sqs().send_message(
        QueueUrl=get_settings().jobs_queue_url,
        MessageBody=json.dumps(job, separators=(",", ":")),
        DelaySeconds=delay_seconds,
    )


def _step(kind: str) -> Step:
    module_name, _, function = STEPS[kind].partition(":")
    step: Step = getattr(importlib.import_module(module_name), function)
    return step


def run_job(job: dict[str, Any], time_left_ms: Callable[[], int]) -> None:
    """Runs one step of `job` and queues its continuation, if any."""
    kind = job.get("kind")
    if kind not in STEPS:
        # Never half-understood: a job of an unknown kind fails and reaches the jobs DLQ intact.
        raise ValueError(f"unknown job kind {kind!r}")
    continuation = _step(str(kind))(job, time_left_ms)
    if continuation is not None:
        submit(continuation)
        logger.info("job continues in a new step", kind=kind)


def run_jobs(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """The jobs function: each SQS record is one step. A step that raises comes back (partial batch
    response) and resumes from its last checkpoint."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def time_left_ms() -> int:
        return (remaining() if remaining else 900_000) - STOP_MARGIN_MS

    failures = []
    for record in event.get("Records", []):
        try:
            run_job(json.loads(record["body"]), time_left_ms)
        except Exception as error:
            logger.exception("job step failed", message_id=record.get("messageId"), error=type(error).__name__)
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
