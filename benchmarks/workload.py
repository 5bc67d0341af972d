"""One process, set up once: the environment, the fake AWS with the sample campaign live, the handlers.

`Workload` triggers (the trigger function with API Gateway events) and drains the delivery queue
the way the SQS event source mapping does: ReceiveMessage of up to 10 messages until BatchSize
(template.yaml) is reached or the queue is empty, one invocation per batch, then DeleteMessageBatch
for every record not reported as failed. With the queue holding enough messages, batches are full:
the steady state of a busy stack (MaximumBatchingWindowInSeconds only matters below that).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks import environment as env
from benchmarks.fake_aws import FakeAws
from local import harness

FEEDBACK_EVENT = "feedback/email_delivered.json"

warnings.filterwarnings("ignore", message="No application metrics to publish")


@dataclass
class DrainStats:
    invocations: int = 0
    messages: int = 0
    failed: int = 0


class Workload:
    def __init__(self) -> None:
        self.template = env.template()
        env.prepare_process(self.template)
        schemas = {t["TableName"]: tuple(k["AttributeName"] for k in t["KeySchema"]) for t in self.template.tables()}
        self.fake = FakeAws(schemas)
        sources = {source.function: source for source in self.template.sqs_sources()}
        source = sources["DeliveryFunction"]
        self.batch_size = source.batch_size
        self.queue_url = str(self.template.get_att(source.queue, "QueueUrl"))
        self.queue_arn = str(self.template.get_att(source.queue, "Arn"))
        # SES's events: the EventBridge rule puts each in the feedback queue, whose mapping batches them.
        feedback = sources.get("FeedbackFunction")
        self.feedback_batch_size = feedback.batch_size if feedback else 1
        self.feedback_queue_url = str(self.template.get_att(feedback.queue, "QueueUrl")) if feedback else ""
        self.feedback_queue_arn = str(self.template.get_att(feedback.queue, "Arn")) if feedback else ""
        self.memory_mb = {
            folder: env.function_spec(self.template, folder).memory_mb for folder in env.function_folders()
        }
        self.timeout_seconds = {
            folder: env.function_spec(self.template, folder).timeout_seconds for folder in env.function_folders()
        }
        self.campaign_id = ""
        self._sequence = 0
        self._sqs: Any = None
        self._contexts = ExitStack()
        # What the functions print (Powertools logs, EMF metrics) goes to a file, as Lambda ships it to
        # CloudWatch Logs: out of the way of the report, and measurable (cost.py prices its volume).
        handle, self.log_path = tempfile.mkstemp(prefix="bench-logs-", suffix=".jsonl")
        os.close(handle)

    def log_bytes(self) -> int:
        return os.path.getsize(self.log_path)

    def __enter__(self) -> Workload:
        self._contexts.enter_context(self.fake.installed())
        self._contexts.enter_context(env.quiet_stdout(self.log_path))
        harness.reset_containers()
        self.campaign_id = env.create_live_campaign()
        self.trigger_module = harness.load_function("trigger")
        self.delivery_module = harness.load_function("delivery")
        self.feedback_module = harness.load_function("feedback") if self.has_feedback() else None
        import boto3

        self._sqs = boto3.client("sqs")  # the event source mapping's own client, through the same fake
        self.fake.reset_counts()
        return self

    def __exit__(self, *exc: object) -> None:
        self._contexts.close()
        harness.reset_containers()
        os.unlink(self.log_path)

    def _context(self, folder: str) -> harness.LambdaContext:
        """A fresh invocation's context with the function's template memory and timeout."""
        return harness.lambda_context(folder, self.timeout_seconds.get(folder, 30), self.memory_mb.get(folder, 256))

    # -- trigger -------------------------------------------------------------------

    def next_request_id(self, label: str) -> str:
        self._sequence += 1
        return f"bench-{label}-{self._sequence}"

    def trigger_event(self, recipients: int, label: str = "t", people: str | None = None) -> dict[str, Any]:
        return env.trigger_event(self.campaign_id, self.next_request_id(label), recipients, people)

    def trigger(self, event: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.trigger_module.handler(event, self._context("trigger"))
        if answer["statusCode"] != 202:
            raise RuntimeError(f"trigger answered {answer['statusCode']}: {answer.get('body')}")
        return answer

    # -- the event source mapping and delivery ---------------------------------------

    def receive_batch(self, queue_url: str | None = None, batch_size: int | None = None) -> list[dict[str, Any]]:
        """What one poller gathers for one invocation: ReceiveMessage (10 at most) until BatchSize."""
        queue_url, batch_size = queue_url or self.queue_url, batch_size or self.batch_size
        batch: list[dict[str, Any]] = []
        while len(batch) < batch_size and self.fake.queue_depth(queue_url):
            answer = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, batch_size - len(batch)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch += answer.get("Messages", [])
        return batch

    def delivery_event(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        return harness.sqs_event(batch, self.queue_arn)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.delivery_module.handler(event, self._context("delivery"))
        return result

    def delete(self, batch: list[dict[str, Any]], result: dict[str, Any], queue_url: str | None = None) -> int:
        failed = harness.kept_in_queue(result, batch)
        harness.delete_processed(self._sqs, queue_url or self.queue_url, batch, failed)
        return len(failed)

    def drain(self) -> DrainStats:
        stats = DrainStats()
        while self.fake.queue_depth(self.queue_url):
            self.fake.start_capture_chunk("delivery")
            batch = self.receive_batch()
            result = self.deliver(self.delivery_event(batch))
            stats.failed += self.delete(batch, result)
            stats.invocations += 1
            stats.messages += len(batch)
        return stats

    # -- SES's delivery events (the feedback function, when the stack has one) -------------

    @staticmethod
    def has_feedback() -> bool:
        return (harness.FUNCTIONS / "feedback" / "app.py").is_file() and (harness.EVENTS / FEEDBACK_EVENT).is_file()

    def delivery_events_published(self) -> bool:
        """Whether, with template.yaml's defaults, SES publishes a Delivery event for every email."""
        for resource in self.template.resources.values():
            if resource["Type"] == "AWS::SES::ConfigurationSetEventDestination":
                destination = self.template.resolve(resource.get("Properties") or {}).get("EventDestination") or {}
                if destination.get("Enabled", True) and "delivery" in (destination.get("MatchingEventTypes") or []):
                    return True
        return False

    def feedback_events(self) -> list[dict[str, Any]]:
        """An "Email Delivered" EventBridge event (events/feedback/) for every email SES was handed."""
        sample = harness.load_event(FEEDBACK_EVENT)
        events = []
        for sent in self.fake.sent_emails:
            event = copy.deepcopy(sample)
            mail = event["detail"]["mail"]
            mail["messageId"] = sent["MessageId"]
            mail["source"] = sent["FromEmailAddress"]
            mail["destination"] = list((sent.get("Destination") or {}).get("ToAddresses") or [])
            tags = {t["Name"]: [t["Value"]] for t in sent.get("EmailTags") or []}
            if sent.get("ConfigurationSetName"):
                tags["ses:configuration-set"] = [sent["ConfigurationSetName"]]
            mail["tags"] = {**mail.get("tags", {}), **tags}
            event["detail"].get("delivery", {})["recipients"] = mail["destination"]
            events.append(event)
        return events

    def feedback(self, event: dict[str, Any]) -> Any:
        assert self.feedback_module is not None  # nosec B101  # narrows a type
        return self.feedback_module.handler(event, self._context("feedback"))

    def publish_feedback(self, events: list[dict[str, Any]]) -> None:
        """What the EventBridge rule does with each event: one SendMessage to the feedback queue."""
        for event in events:
            self._sqs.send_message(QueueUrl=self.feedback_queue_url, MessageBody=json.dumps(event))

    def drain_feedback(self) -> DrainStats:
        """The feedback queue's event source mapping: batches of BatchSize, one invocation each."""
        stats = DrainStats()
        while self.fake.queue_depth(self.feedback_queue_url):
            batch = self.receive_batch(self.feedback_queue_url, self.feedback_batch_size)
            result = self.feedback(harness.sqs_event(batch, self.feedback_queue_arn))
            stats.failed += self.delete(batch, result, self.feedback_queue_url)
            stats.invocations += 1
            stats.messages += len(batch)
        return stats

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Writes are answered but not kept: repeated work costs the same every time."""
        self.fake.frozen = True
        try:
            yield
        finally:
            self.fake.frozen = False
