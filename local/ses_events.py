"""SES's mailbox simulator and event publishing to EventBridge, locally.

In AWS, a message sent with a configuration set that has an EventBridge event destination makes
SES publish "Email Delivered", "Email Bounced", ... events to the default bus, where rules invoke
their functions. Moto records sends but publishes nothing, so this module does it for the
mailbox simulator's addresses (a `+label` is allowed, as in SES):

- success@simulator.amazonses.com: Delivery
- bounce@: a permanent (hard) Bounce, sub-type General
- complaint@: Delivery, then Complaint
- suppressionlist@: a permanent Bounce, sub-type Suppressed (the address is on SES's suppression list)
- ooto@: Delivery (the out-of-office answer goes to the sender; SES publishes no event for it)

Any other address gets no event locally (in AWS it would get its real delivery events).

Everything comes from template.yaml: which configuration sets publish which event types to the
default bus (AWS::SES::ConfigurationSetEventDestination), and which rules match each event: an
AWS::Events::Rule whose target is one of the template's queues (the feedback queue: the event is put in
it, and the queue's event source mapping hands it on; a put that keeps failing goes to the target's
DeadLetterConfig queue), or a function's EventBridgeRule or CloudWatchEvent event. Functions are
invoked as Lambda invokes them for EventBridge, asynchronously: an invocation that fails is retried
(MaximumRetryAttempts of the function's EventInvokeConfig, 2 by default) after 1 s and 2 s instead of
Lambda's 1 and 2 minutes. An event that still fails goes where the function's EventInvokeConfig
DestinationConfig.OnFailure says (an SQS queue), as the record Lambda writes there; without one it is
dropped, as Lambda drops it.
"""

from __future__ import annotations

import base64
import copy
import email
import email.policy
import fnmatch
import heapq
import itertools
import json
import logging
import operator
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, cast

from local.functions import LocalFunction
from local.template import ACCOUNT_ID, REGION, Template, TemplateError

log = logging.getLogger("local.ses_events")

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SES_LATENCY_SECONDS = 0.3  # from the send to each of its events
RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0)
DEFAULT_BUS = "default"
RULE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")
DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "DeliveryDelay": "Email Delivery Delayed",
    "RenderingFailure": "Email Rendering Failed",
    "Open": "Email Opened",
    "Click": "Email Clicked",
}
# What each simulator mailbox answers: the SES event types it produces, in order.
SIMULATOR: dict[str, tuple[str, ...]] = {
    "success": ("Delivery",),
    "bounce": ("Bounce",),
    "complaint": ("Delivery", "Complaint"),
    "suppressionlist": ("Bounce",),
    "ooto": ("Delivery",),
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATORS = {"prefix", "suffix", "anything-but", "exists", "equals-ignore-case", "numeric", "wildcard"}


@dataclass(frozen=True)
class Subscriber:
    """A rule on the default bus and its target: a function (a function's EventBridgeRule event, invoked
    asynchronously) or a queue (an AWS::Events::Rule whose target is one of the template's queues)."""

    function: LocalFunction | None
    rule: str  # Function.EventName, or Rule.TargetId
    pattern: dict[str, Any]
    max_retries: int
    on_failure: str | None = None  # the URL of the queue a failed event (or, for a function, its record) goes to
    queue_url: str | None = None  # the target queue's URL, for a rule that puts events in a queue


def failure_record(event: dict[str, Any], function_arn: str, attempts: int, error: BaseException) -> dict[str, Any]:
    """What Lambda sends an asynchronous invocation's on-failure destination once its retries are exhausted."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error)[:1000], "errorType": type(error).__name__},
    }


@dataclass(frozen=True)
class Sent:
    """What SES knows of one SendEmail call."""

    message_id: str
    source: str
    destinations: list[str]
    configuration_set: str | None
    tags: dict[str, str]
    raw: str | None
    at: datetime


class SesEventPublisher:
    """Publishes SES's events for every message the emulator accepts, to the template's subscribers."""

    def __init__(self, publishing: dict[str, set[str]], subscribers: list[Subscriber], sqs: Any = None) -> None:
        self.publishing = publishing  # configuration set -> event types it publishes to the default bus
        self.subscribers = subscribers
        self.sqs = sqs  # sends failed events to their on-failure queue
        self._queue: list[tuple[float, int, dict[str, Any], Subscriber, int]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="ses-events", daemon=True)
        self._unpatch: Callable[[], None] | None = None

    @classmethod
    def from_template(
        cls, template: Template, functions: dict[str, LocalFunction], sqs: Any = None
    ) -> SesEventPublisher:
        return cls(_publishing(template), _subscribers(template, functions), sqs)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._unpatch = _intercept_sends(self.sent)
        self._thread.start()

    def stop(self) -> None:
        """Stops intercepting sends; events not yet published are dropped."""
        if self._unpatch is not None:
            self._unpatch()
            self._unpatch = None
        with self._condition:
            self._stopping = True
            self._queue.clear()
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # -- events ----------------------------------------------------------------

    def sent(self, message: Sent) -> None:
        """Called for each message the emulator accepted: schedules the events SES would publish."""
        published = self.publishing.get(message.configuration_set or "", set())
        if not published or not self.subscribers:
            return
        due = time.monotonic()
        if "Send" in published:
            due += SES_LATENCY_SECONDS
            self._publish(due, _event("Send", message, message.destinations))
        for address in message.destinations:
            for event_type in simulated_events(address):
                if event_type in published:
                    due += SES_LATENCY_SECONDS
                    self._publish(due, _event(event_type, message, [address]))

    def _publish(self, due: float, event: dict[str, Any]) -> None:
        """EventBridge: every matching rule's function gets the event, asynchronously."""
        with self._condition:
            for subscriber in self.subscribers:
                if matches(subscriber.pattern, event):
                    # Each target gets its own copy, as each Lambda invocation gets its own payload.
                    heapq.heappush(self._queue, (due, next(self._sequence), copy.deepcopy(event), subscriber, 0))
            self._condition.notify_all()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._condition.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
                if self._stopping:
                    return
                _, _, event, subscriber, attempt = heapq.heappop(self._queue)
            self._invoke(event, subscriber, attempt)

    def _invoke(self, event: dict[str, Any], subscriber: Subscriber, attempt: int) -> None:
        try:
            if subscriber.queue_url is not None:
                if self.sqs is None:
                    raise RuntimeError("no SQS client to put the event in its target queue")
                self.sqs.send_message(QueueUrl=subscriber.queue_url, MessageBody=json.dumps(event))
            elif subscriber.function is not None:
                subscriber.function.invoke(event)
        except Exception as error:
            if attempt < subscriber.max_retries:
                log.info("%s failed on %s; retried", subscriber.rule, event["detail-type"], exc_info=True)
                delay = RETRY_DELAYS_SECONDS[min(attempt, len(RETRY_DELAYS_SECONDS) - 1)]
                with self._condition:
                    heapq.heappush(
                        self._queue, (time.monotonic() + delay, next(self._sequence), event, subscriber, attempt + 1)
                    )
                    self._condition.notify_all()
            elif subscriber.on_failure and self.sqs is not None:
                # A rule's dead-letter queue keeps the event itself; Lambda's on-failure destination, a record of it.
                function = subscriber.function
                kept = event if function is None else failure_record(event, function.arn, attempt + 1, error)
                self.sqs.send_message(QueueUrl=subscriber.on_failure, MessageBody=json.dumps(kept))
                log.warning(
                    "%s failed on %s %d times; kept in its on-failure queue", subscriber.rule, event["id"], attempt + 1
                )
            else:
                log.exception(
                    "%s failed on %s %d times; the event is dropped", subscriber.rule, event["id"], attempt + 1
                )


def simulated_events(address: str) -> tuple[str, ...]:
    """The SES event types a mailbox-simulator address produces (none for any other address)."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return ()
    return SIMULATOR.get(local.split("+", 1)[0], ())


# ---------------------------------------------------------------------------
# The events, shaped as SES publishes them to EventBridge
# ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(event_type: str, message: Sent, recipients: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    detail: dict[str, Any] = {"eventType": event_type, "mail": _mail(message)}
    detail.update(_details(event_type, recipients, now, message))
    resources = []
    if message.configuration_set:
        resources.append(f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:configuration-set/{message.configuration_set}")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPES[event_type],
        "source": "aws.ses",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def _mail(message: Sent) -> dict[str, Any]:
    sender = getaddresses([message.source])[0][1] or message.source
    domain = sender.rpartition("@")[2]
    tags: dict[str, list[str]] = {
        "ses:operation": ["SendEmail"],
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [domain],
        "ses:caller-identity": ["local"],
    }
    if message.configuration_set:
        tags["ses:configuration-set"] = [message.configuration_set]
    tags.update({name: [value] for name, value in message.tags.items()})
    mail: dict[str, Any] = {
        "timestamp": _iso(message.at),
        "source": message.source,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{domain}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": message.message_id,
        "destination": list(message.destinations),
        "headersTruncated": False,
        "tags": tags,
    }
    if message.raw:
        mime = cast(EmailMessage, email.message_from_string(message.raw, policy=email.policy.default))
        mail["headers"] = [{"name": name, "value": str(value)} for name, value in mime.items()]
        common: dict[str, Any] = {"messageId": message.message_id}
        for header, key in (("from", "from"), ("to", "to"), ("reply-to", "replyTo")):
            if mime.get(header):
                common[key] = [str(mime[header])]
        for header, key in (("date", "date"), ("subject", "subject")):
            if mime.get(header):
                common[key] = str(mime[header])
        mail["commonHeaders"] = common
    return mail


def _details(event_type: str, recipients: list[str], now: datetime, message: Sent) -> dict[str, Any]:
    feedback_id = f"{uuid.uuid4().hex}-000000"
    address = recipients[0] if recipients else ""
    local = address.lower().rpartition("@")[0].split("+", 1)[0]
    if event_type == "Send":
        return {"send": {}}
    if event_type == "Delivery":
        return {
            "delivery": {
                "timestamp": _iso(now),
                "processingTimeMillis": max(0, int((now - message.at).total_seconds() * 1000)),
                "recipients": recipients,
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
                "remoteMtaIp": "127.0.0.1",
            }
        }
    if event_type == "Bounce":
        suppressed = local == "suppressionlist"
        return {
            "bounce": {
                "feedbackId": feedback_id,
                "bounceType": "Permanent",
                "bounceSubType": "Suppressed" if suppressed else "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": address,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "Amazon SES has suppressed sending to this address because it has a "
                        "recent history of bouncing as an invalid address."
                        if suppressed
                        else "smtp; 550 5.1.1 user unknown",
                    }
                ],
                "timestamp": _iso(now),
                "reportingMTA": "dns; amazonses.com" if suppressed else "dsn; a8-70.smtp-out.amazonses.com",
            }
        }
    if event_type == "Complaint":
        return {
            "complaint": {
                "feedbackId": feedback_id,
                "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": address}],
                "timestamp": _iso(now),
                "userAgent": "Amazon SES Mailbox Simulator",
                "complaintFeedbackType": "abuse",
                "arrivalDate": _iso(now),
            }
        }
    raise ValueError(f"the local mailbox simulator does not produce {event_type} events")


# ---------------------------------------------------------------------------
# Sends, as the emulator accepts them
# ---------------------------------------------------------------------------


def _intercept_sends(on_sent: Callable[[Sent], None]) -> Callable[[], None]:
    """Wraps moto's SES v2 SendEmail (it keeps no tags or configuration set); returns the undo."""
    from moto.sesv2.responses import SESV2Response

    original = SESV2Response.send_email

    def send_email(self: Any) -> str:
        answer = original(self)
        try:
            request = json.loads(self.body)
            destination = request.get("Destination") or {}
            content = request.get("Content") or {}
            raw = None
            if "Raw" in content:
                raw = base64.b64decode(content["Raw"]["Data"]).decode("utf-8", errors="replace")
            on_sent(
                Sent(
                    message_id=json.loads(answer)["MessageId"],
                    source=str(request.get("FromEmailAddress") or ""),
                    destinations=[
                        *destination.get("ToAddresses", []),
                        *destination.get("CcAddresses", []),
                        *destination.get("BccAddresses", []),
                    ],
                    configuration_set=request.get("ConfigurationSetName"),
                    tags={tag["Name"]: tag["Value"] for tag in request.get("EmailTags") or []},
                    raw=raw,
                    at=datetime.now(UTC),
                )
            )
        except Exception:  # the send itself succeeded; never fail it because of its events
            log.exception("could not publish the SES events of a send")
        return cast(str, answer)

    SESV2Response.send_email = send_email  # type: ignore[method-assign]

    def undo() -> None:
        SESV2Response.send_email = original  # type: ignore[method-assign]

    return undo


# ---------------------------------------------------------------------------
# The template: event destinations and rules
# ---------------------------------------------------------------------------


def _normalise_event_type(name: str) -> str:
    return name.replace("_", "").replace(" ", "").lower()


def _publishing(template: Template) -> dict[str, set[str]]:
    """Configuration set -> SES event types (Delivery, Bounce, ...) it publishes to the default bus."""
    by_name = {_normalise_event_type(event_type): event_type for event_type in DETAIL_TYPES}
    publishing: dict[str, set[str]] = {}
    for resource in template.resources.values():
        if resource["Type"] != "AWS::SES::ConfigurationSetEventDestination":
            continue
        properties = template.resolve(resource.get("Properties") or {})
        destination = properties.get("EventDestination") or {}
        bus = str((destination.get("EventBridgeDestination") or {}).get("EventBusArn") or "")
        if not destination.get("Enabled") or not bus.endswith(f":event-bus/{DEFAULT_BUS}"):
            continue
        types = {
            by_name[t] for t in map(_normalise_event_type, destination.get("MatchingEventTypes", [])) if t in by_name
        }
        publishing.setdefault(str(properties["ConfigurationSetName"]), set()).update(types)
    return publishing


def _subscribers(template: Template, functions: dict[str, LocalFunction]) -> list[Subscriber]:
    globals_ = template.document.get("Globals", {}).get("Function", {})
    subscribers = []
    for logical_id, resource in template.resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        invoke_config = template.resolve(properties.get("EventInvokeConfig") or globals_.get("EventInvokeConfig") or {})
        for name, event in (properties.get("Events") or {}).items():
            if event.get("Type") not in RULE_EVENT_TYPES:
                continue
            spec = template.resolve(event.get("Properties") or {})
            where = f"{logical_id}.{name}"
            if "Pattern" not in spec:
                continue  # a schedule written as a CloudWatchEvent
            if spec.get("EventBusName", DEFAULT_BUS) != DEFAULT_BUS or spec.get("State", "ENABLED") != "ENABLED":
                continue  # SES publishes to the default bus only; a disabled rule gets nothing
            if {"Input", "InputPath", "InputTransformer"} & set(spec):
                raise TemplateError(f"{where}: Input, InputPath and InputTransformer are not emulated")
            _check_pattern(spec["Pattern"], where)
            subscribers.append(
                Subscriber(
                    function=functions[logical_id],
                    rule=where,
                    pattern=spec["Pattern"],
                    max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
                    on_failure=_on_failure_queue(template, invoke_config),
                )
            )
    return subscribers + _rule_subscribers(template)


def _queue_url(template: Template, arn: Any) -> str | None:
    for queue in template.queues():
        if template.get_att(queue.logical_id, "Arn") == arn:
            return str(template.get_att(queue.logical_id, "QueueUrl"))
    return None


def _rule_subscribers(template: Template) -> list[Subscriber]:
    """AWS::Events::Rule resources on the default bus whose targets are queues of the template."""
    subscribers = []
    for logical_id, resource in template.resources.items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        properties = template.resolve(resource.get("Properties") or {})
        bus = str(properties.get("EventBusName", DEFAULT_BUS))
        if "EventPattern" not in properties or properties.get("State", "ENABLED") != "ENABLED":
            continue  # a schedule, or a disabled rule
        if bus != DEFAULT_BUS and not bus.endswith(f":event-bus/{DEFAULT_BUS}"):
            continue  # SES publishes to the default bus only
        _check_pattern(properties["EventPattern"], logical_id)
        for target in properties.get("Targets") or []:
            where = f"{logical_id}.{target.get('Id')}"
            if {"Input", "InputPath", "InputTransformer"} & set(target):
                raise TemplateError(f"{where}: Input, InputPath and InputTransformer are not emulated")
            queue_url = _queue_url(template, target.get("Arn"))
            if queue_url is None:
                raise TemplateError(f"{where}: only targets that are queues of the template are emulated")
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            subscribers.append(
                Subscriber(
                    function=None,
                    rule=where,
                    pattern=properties["EventPattern"],
                    max_retries=int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185)),
                    on_failure=_queue_url(template, dead_letter) if dead_letter else None,
                    queue_url=queue_url,
                )
            )
    return subscribers


def _on_failure_queue(template: Template, invoke_config: dict[str, Any]) -> str | None:
    """The URL of the SQS queue an EventInvokeConfig sends failed events to, if it names one."""
    on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
    if not on_failure:
        return None
    if on_failure.get("Type") != "SQS":
        raise TemplateError(f"an on-failure destination of type {on_failure.get('Type')} is not emulated")
    for queue in template.queues():
        if template.get_att(queue.logical_id, "Arn") == on_failure.get("Destination"):
            return str(template.get_att(queue.logical_id, "QueueUrl"))
    raise TemplateError(f"the on-failure destination {on_failure.get('Destination')} is no queue of the template")


def _check_pattern(pattern: Any, where: str) -> None:
    if not isinstance(pattern, dict):
        raise TemplateError(f"{where}: an event pattern is an object")
    for key, rule in pattern.items():
        if key == "$or":
            for alternative in rule:
                _check_pattern(alternative, where)
        elif isinstance(rule, dict):
            _check_pattern(rule, where)
        elif isinstance(rule, list):
            for matcher in rule:
                if isinstance(matcher, dict) and (len(matcher) != 1 or not set(matcher) <= _OPERATORS):
                    raise TemplateError(f"{where}: the pattern operator {matcher} is not emulated")
        else:
            raise TemplateError(f"{where}: {key} must hold a list of values or an object")


# ---------------------------------------------------------------------------
# EventBridge's pattern matching (the operators rules commonly use)
# ---------------------------------------------------------------------------


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches an EventBridge event pattern."""
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in rule):
                return False
            continue
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_matches_one(matcher, present, v) for matcher in rule for v in values or [None]):
            return False
    return True


def _matches_one(matcher: Any, present: bool, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return present and value == matcher
    ((name, argument),) = matcher.items()
    if name == "exists":
        return present == bool(argument)
    if not present:
        return False
    if name == "anything-but":
        if isinstance(argument, dict):
            return not _matches_one(argument, present, value)
        return value not in (argument if isinstance(argument, list) else [argument])
    if name == "numeric":
        return _numeric_matches(argument, value)
    text_operator = _TEXT_OPERATORS.get(name)
    return isinstance(value, str) and text_operator is not None and text_operator(value, argument)


def _numeric_matches(argument: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    pairs = zip(argument[::2], argument[1::2], strict=True)
    return all(_COMPARISONS[op](value, bound) for op, bound in pairs)


# The operators that only ever match a string value: (the value, the pattern's argument).
_TEXT_OPERATORS: dict[str, Callable[[str, Any], bool]] = {
    "prefix": lambda value, argument: isinstance(argument, str) and value.startswith(argument),
    "suffix": lambda value, argument: isinstance(argument, str) and value.endswith(argument),
    "equals-ignore-case": lambda value, argument: value.lower() == str(argument).lower(),
    "wildcard": lambda value, argument: fnmatch.fnmatchcase(value, str(argument).replace("[", "[[]")),
}
