"""AWS answered in-process at botocore's HTTP layer, with every request counted.

A `before-send` handler on boto3's default session receives each request once botocore has
serialised and signed it, and returns an `AWSResponse` instead of letting it go over the wire
(https://docs.aws.amazon.com/botocore/latest/topics/events.html#before-send). Everything the
client does - parameter validation, serialisation, SigV4, parsing the answer, raising modeled
errors - therefore runs as it does against AWS, and nothing else does.

The answers are minimal but valid: DynamoDB keeps items in dicts and evaluates condition
expressions (benchmarks.conditions) but not update expressions, SQS keeps queues in deques, SES
and SNS answer with fresh message ids. Every request is counted by service and operation, with the units AWS
bills it in: DynamoDB read and write request units from the item sizes, SQS requests per 64 KB
chunk of payload, SES recipients.

Two optional instruments: `latency` makes each request wait as long as the service typically
answers in-region (for the I/O share of billed Lambda duration), and `capture` records the
parameters of every call so a workload can be replayed elsewhere (local_stack.py).

Why a fake rather than moto in-process with a request-counting hook: the CPU figures (cpu.py)
must be the functions' own cost, and moto's cannot be taken out of them reliably. On one trigger
call of one recipient, moto spends about 6 ms of the 8 ms the process uses; taking off the CPU
measured inside its before-send handler still leaves about a quarter more than the same call
costs here (its allocations trigger collections during the handler, its patches run outside the
send), so the figure would move with moto's version rather than with ours. The fake costs about
0.2 ms per call, spent in the product and its floor alike. The benchmarks also need what an
emulator does not offer: writes that are answered but not kept (`frozen`), so that repeated work
and the floors' replay of the very requests recorded (conditional writes included) cost the same
every round; the units AWS bills each request in; injected latency; and the capture that
local_stack.py replays.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape  # nosec B406  # escapes the XML it writes, parses none

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from benchmarks import conditions

Json = dict[str, Any]
HOOK_ID = "benchmarks-fake-aws"
SQS_CHUNK = 64 * 1024
# Typical in-region answer times (assumptions, see cost.py): used only when latency is switched on.
DEFAULT_LATENCY_SECONDS = {"dynamodb": 0.005, "sqs": 0.010, "sesv2": 0.025, "ses": 0.025, "sns": 0.025}


class _Raw:
    """The urllib3-like body AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class _Answer:
    status: int
    body: Json | str
    units: dict[str, float] = field(default_factory=dict)


class FakeError(Exception):
    """An AWS error answer; `units` are still billed (a failed conditional write consumes its units)."""

    def __init__(self, status: int, code: str, message: str, units: dict[str, float] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.units = units or {}


# ---------------------------------------------------------------------------
# DynamoDB item sizes (what request units are computed from)
# ---------------------------------------------------------------------------
def _value_size(value: Json) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return len(digits) // 2 + 2
    if kind == "B":
        return len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(len(n) // 2 + 2 for n in raw)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in raw)
    return len(json.dumps(raw))


def item_size(item: Json | None) -> int:
    """DynamoDB's item size: attribute names plus values (documented rules, numbers approximated)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units if consistent else units / 2)


_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------
class FakeAws:
    """`with FakeAws(key_schemas).installed(): ...` answers every boto3 request of this process."""

    def __init__(self, key_schemas: dict[str, tuple[str, ...]] | None = None) -> None:
        self.key_schemas = key_schemas or {}
        self.tables: dict[str, dict[tuple[str, ...], Json]] = {}
        self.queues: dict[str, deque[Json]] = {}
        self.in_flight: dict[str, Json] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        self.units: defaultdict[str, float] = defaultdict(float)
        self.unanswered: Counter[tuple[str, str]] = Counter()
        # SendEmail calls answered since the last reset: what SES's delivery events would be about.
        self.sent_emails: list[Json] = []
        # Writes after setup are not kept when frozen: benchmarks that repeat work compare equal costs.
        self.frozen = False
        self.latency: dict[str, float] = {}
        # Every latency wait: (start, end) on the monotonic clock, and the process's CPU time at both.
        self.waits: list[tuple[float, float, float, float]] = []
        self.capture: list[list[tuple[str, str, Json]]] | None = None
        self._lock = threading.Lock()
        self._handlers: dict[tuple[str, str], Callable[[Json], _Answer]] = {
            ("dynamodb", "GetItem"): self._get_item,
            ("dynamodb", "PutItem"): self._put_item,
            ("dynamodb", "UpdateItem"): self._update_item,
            ("dynamodb", "DeleteItem"): self._delete_item,
            ("dynamodb", "BatchWriteItem"): self._batch_write_item,
            ("dynamodb", "BatchGetItem"): self._batch_get_item,
            ("dynamodb", "TransactWriteItems"): self._transact_write_items,
            ("dynamodb", "TransactGetItems"): self._transact_get_items,
            ("dynamodb", "Query"): self._query,
            ("dynamodb", "Scan"): self._scan,
            ("sqs", "SendMessage"): self._send_message,
            ("sqs", "SendMessageBatch"): self._send_message_batch,
            ("sqs", "ReceiveMessage"): self._receive_message,
            ("sqs", "DeleteMessage"): self._delete_message,
            ("sqs", "DeleteMessageBatch"): self._delete_message_batch,
            ("sqs", "ChangeMessageVisibility"): lambda _: _Answer(200, {}),
            ("sqs", "ChangeMessageVisibilityBatch"): self._change_visibility_batch,
            ("sqs", "GetQueueAttributes"): self._get_queue_attributes,
            ("sesv2", "SendEmail"): self._send_email,
            ("sesv2", "GetEmailIdentity"): self._get_email_identity,
            ("sesv2", "CreateEmailIdentity"): lambda _: _Answer(200, {"IdentityType": "DOMAIN"}),
            ("sns", "Publish"): self._publish,
            ("sns", "PublishBatch"): self._publish_batch,
            ("sns", "CreatePlatformEndpoint"): self._create_platform_endpoint,
            ("secrets-manager", "GetSecretValue"): self._get_secret_value,
        }
        # Secrets Manager: the secrets by name (an ARN asks for the name after ":secret:").
        self.secrets: dict[str, str] = {}

    # -- installing ------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[FakeAws]:
        """Answers every request of boto3's default session (and of clients it creates) until exit."""
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None  # nosec B101  # narrows a type
        events = boto3.DEFAULT_SESSION.events
        on_send: Any = self._on_send  # botocore's stubs type handlers as returning None; before-send may answer
        events.register("before-send", on_send, unique_id=HOOK_ID)
        events.register("before-parameter-build", self._on_params, unique_id=HOOK_ID + "-params")
        try:
            yield self
        finally:
            events.unregister("before-send", unique_id=HOOK_ID)
            events.unregister("before-parameter-build", unique_id=HOOK_ID + "-params")

    # -- what was counted --------------------------------------------------------

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.units.clear()
            self.waits.clear()
            self.sent_emails.clear()

    def by_service(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (service, _), n in self.requests.items():
            out[service] += n
        return out

    def queue_depth(self, url: str) -> int:
        return len(self.queues.get(url, ()))

    def start_capture_chunk(self, label: str) -> None:
        """Starts a new group of captured calls (one invocation, say), labelled by its first entry."""
        if self.capture is not None:
            with self._lock:
                self.capture.append([("label", label, {})])

    # -- botocore hooks ------------------------------------------------------------

    def _on_params(self, params: Json, model: Any, **_: Any) -> None:
        if self.capture is None:
            return
        service = model.service_model.service_id.hyphenize()
        with self._lock:
            if not self.capture:
                self.capture.append([])
            self.capture[-1].append((service, model.name, copy.deepcopy(params)))

    def _on_send(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any) -> AWSResponse:
        _, service, operation = event_name.split(".", 2)
        handler = self._handlers.get((service, operation))
        try:
            payload = self._parse(service, request)
            answer = handler(payload) if handler else _Answer(200, {})
        except FakeError as error:
            answer = self._error(service, error)
        with self._lock:
            self.requests[(service, operation)] += 1
            if handler is None:
                self.unanswered[(service, operation)] += 1
            for unit, value in answer.units.items():
                self.units[unit] += value
        if (delay := self.latency.get(service)) is not None:
            start, start_cpu = time.monotonic(), time.process_time()
            time.sleep(delay)
            with self._lock:
                self.waits.append((start, time.monotonic(), start_cpu, time.process_time()))
        return self._response(service, operation, request, answer)

    @staticmethod
    def _parse(service: str, request: AWSPreparedRequest) -> Json:
        raw: Any = request.body or b""
        if hasattr(raw, "read"):  # a streaming body: read it (none of the calls benchmarked has one)
            raw = raw.read()
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
        if service == "sns":
            return {k: v[0] for k, v in parse_qs(body.decode()).items()}
        parsed: Json = json.loads(body) if body else {}
        return parsed

    @staticmethod
    def _error(service: str, error: FakeError) -> _Answer:
        prefix = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}.get(service, "")
        body = {"__type": prefix + error.code, "message": error.message, **error.extra}
        return _Answer(error.status, body, error.units)

    @staticmethod
    def _response(service: str, operation: str, request: AWSPreparedRequest, answer: _Answer) -> AWSResponse:
        request_id = str(uuid.uuid4())
        if service == "sns":
            headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
            if answer.status >= 400:
                assert isinstance(answer.body, dict)  # nosec B101  # narrows a type
                body = (
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(answer.body['__type'])}</Code>"
                    f"<Message>{escape(answer.body['message'])}</Message></Error>"
                    f"<RequestId>{request_id}</RequestId></ErrorResponse>"
                )
            else:
                assert isinstance(answer.body, str)  # nosec B101  # narrows a type
                body = (
                    f'<{operation}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                    f"<{operation}Result>{answer.body}</{operation}Result>"
                    f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
                )
            data = body.encode()
        else:
            content_type = "application/json" if service in ("sesv2", "ses") else "application/x-amz-json-1.0"
            headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id}
            if answer.status >= 400 and isinstance(answer.body, dict):
                headers["x-amzn-ErrorType"] = answer.body["__type"].rpartition("#")[2]
            data = json.dumps(answer.body).encode()
        http_headers: Any = headers
        return AWSResponse(request.url, answer.status, http_headers, _Raw(data))

    # -- Secrets Manager ---------------------------------------------------------------

    def _get_secret_value(self, r: Json) -> _Answer:
        name = str(r.get("SecretId", "")).rpartition(":secret:")[2] or str(r.get("SecretId", ""))
        if name not in self.secrets:
            raise FakeError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        return _Answer(200, {"Name": name, "SecretString": self.secrets[name], "VersionId": "v1"})

    # -- DynamoDB --------------------------------------------------------------------

    def _key(self, table: str, item: Json) -> tuple[str, ...]:
        names = self.key_schemas.get(table) or tuple(n for n in ("pk", "sk") if n in item) or tuple(sorted(item)[:1])
        return tuple(json.dumps(item.get(n), sort_keys=True) for n in names)

    def _table(self, name: str) -> dict[tuple[str, ...], Json]:
        return self.tables.setdefault(name, {})

    def put(self, table: str, item: Json) -> None:
        """Stores an item directly (setup)."""
        self._table(table)[self._key(table, item)] = item

    def _store(self, table: str, item: Json) -> None:
        if not self.frozen:
            self._table(table)[self._key(table, item)] = item

    def _check(self, table: str, request: Json, existing: Json | None, units: dict[str, float] | None = None) -> None:
        """Raises ConditionalCheckFailedException when the request's condition does not hold.

        Frozen, conditions are not evaluated (they pass): benchmarks that repeat work use fresh keys."""
        condition = request.get("ConditionExpression")
        if not condition or self.frozen:
            return
        names = request.get("ExpressionAttributeNames") or {}
        if not conditions.holds(condition, names, request.get("ExpressionAttributeValues") or {}, existing):
            extra = {}
            if existing is not None and request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                extra["Item"] = existing
            raise FakeError(400, "ConditionalCheckFailedException", "The conditional request failed", units, **extra)

    def _get_item(self, r: Json) -> _Answer:
        item = self._table(r["TableName"]).get(self._key(r["TableName"], r["Key"]))
        units = {"dynamodb.rru": read_units(item_size(item), bool(r.get("ConsistentRead")))}
        if item is None:
            return _Answer(200, {}, units)
        return _Answer(200, {"Item": _project(item, r)}, units)

    def _put_item(self, r: Json) -> _Answer:
        table, item = r["TableName"], r["Item"]
        existing = self._table(table).get(self._key(table, item))
        units = {"dynamodb.wru": float(write_units(max(item_size(item), item_size(existing))))}
        self._check(table, r, existing, units)
        self._store(table, item)
        return _Answer(200, _returned(r, existing, item), units)

    def _update_item(self, r: Json) -> _Answer:
        """Conditions as for puts; the update expression is not evaluated (the item keeps its attributes)."""
        table, key = r["TableName"], r["Key"]
        existing = self._table(table).get(self._key(table, key))
        values = r.get("ExpressionAttributeValues") or {}
        size = max(item_size(existing), item_size(key) + item_size(values))
        self._check(table, r, existing, {"dynamodb.wru": float(write_units(size))})
        if existing is None:
            self._store(table, dict(key))  # the key exists afterwards
        return _Answer(200, _returned(r, existing, existing or key), {"dynamodb.wru": float(write_units(size))})

    def _delete_item(self, r: Json) -> _Answer:
        table = self._table(r["TableName"])
        key = self._key(r["TableName"], r["Key"])
        existing = table.get(key)
        units = {"dynamodb.wru": float(write_units(item_size(existing)))}
        self._check(r["TableName"], r, existing, units)
        if not self.frozen:
            table.pop(key, None)
        return _Answer(200, _returned(r, existing, None), units)

    def _batch_write_item(self, r: Json) -> _Answer:
        wru = 0
        for table, requests in r["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    wru += write_units(item_size(item))
                    self._store(table, item)
                else:
                    key = request["DeleteRequest"]["Key"]
                    wru += write_units(item_size(self._table(table).get(self._key(table, key))))
                    if not self.frozen:
                        self._table(table).pop(self._key(table, key), None)
        return _Answer(200, {"UnprocessedItems": {}}, {"dynamodb.wru": float(wru)})

    def _batch_get_item(self, r: Json) -> _Answer:
        found: dict[str, list[Json]] = {}
        rru = 0.0
        for table, spec in r["RequestItems"].items():
            for key in spec["Keys"]:
                item = self._table(table).get(self._key(table, key))
                rru += read_units(item_size(item), bool(spec.get("ConsistentRead")))
                if item is not None:
                    found.setdefault(table, []).append(_project(item, spec))
        return _Answer(200, {"Responses": found, "UnprocessedKeys": {}}, {"dynamodb.rru": rru})

    def _transact_write_items(self, r: Json) -> _Answer:
        reasons, writes, wru = [], [], 0
        for entry in r["TransactItems"]:
            ((kind, spec),) = entry.items()
            table = spec["TableName"]
            key_source = spec.get("Item") or spec["Key"]
            existing = self._table(table).get(self._key(table, key_source))
            wru += 2 * write_units(max(item_size(spec.get("Item")), item_size(existing)))
            try:
                self._check(table, spec, existing)
                reasons.append({"Code": "None"})
            except FakeError:
                reason: Json = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if existing is not None and spec.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                    reason["Item"] = existing
                reasons.append(reason)
            writes.append((kind, table, spec, key_source))
        if any(reason["Code"] != "None" for reason in reasons):
            raise FakeError(
                400,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                {"dynamodb.wru": float(wru)},
                CancellationReasons=reasons,
            )
        for kind, table, spec, key_source in writes:
            if kind == "Put":
                self._store(table, spec["Item"])
            elif kind == "Update" and self._key(table, key_source) not in self._table(table):
                self._store(table, dict(key_source))
            elif kind == "Delete" and not self.frozen:
                self._table(table).pop(self._key(table, key_source), None)
        return _Answer(200, {}, {"dynamodb.wru": float(wru)})

    def _transact_get_items(self, r: Json) -> _Answer:
        responses, rru = [], 0.0
        for entry in r["TransactItems"]:
            spec = entry["Get"]
            item = self._table(spec["TableName"]).get(self._key(spec["TableName"], spec["Key"]))
            rru += 2 * read_units(item_size(item), True)
            responses.append({"Item": _project(item, spec)} if item is not None else {})
        return _Answer(200, {"Responses": responses}, {"dynamodb.rru": rru})

    def _query(self, r: Json) -> _Answer:
        values = r.get("ExpressionAttributeValues") or {}
        condition = _PLACEHOLDER.sub(
            lambda m: (r.get("ExpressionAttributeNames") or {}).get(m.group(0), m.group(0)),
            r.get("KeyConditionExpression", ""),
        )
        pk = re.search(r"(\w+)\s*=\s*(:\w+)", condition)
        prefix = re.search(r"begins_with\(\s*(\w+)\s*,\s*(:\w+)\s*\)", condition)
        items = []
        for item in self._table(r["TableName"]).values():
            if pk and item.get(pk.group(1)) != values.get(pk.group(2)):
                continue
            if prefix and not str((item.get(prefix.group(1)) or {}).get("S", "")).startswith(
                values.get(prefix.group(2), {}).get("S", "")
            ):
                continue
            items.append(item)
        size = sum(item_size(i) for i in items)
        rru = read_units(size, bool(r.get("ConsistentRead")))
        return _Answer(200, {"Items": items, "Count": len(items), "ScannedCount": len(items)}, {"dynamodb.rru": rru})

    @staticmethod
    def _scan(r: Json) -> _Answer:
        return _Answer(200, {"Items": [], "Count": 0, "ScannedCount": 0}, {"dynamodb.rru": 0.5})

    # -- SQS -------------------------------------------------------------------------------

    def _enqueue(self, url: str, entry: Json) -> Json:
        body = entry["MessageBody"]
        message = {
            "MessageId": str(uuid.uuid4()),
            "Body": body,
            "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "SentTimestamp": str(int(time.time() * 1000)),
            "ReceiveCount": 0,
        }
        self.queues.setdefault(url, deque()).append(message)
        return message

    @staticmethod
    def _sqs_units(payload_bytes: int) -> dict[str, float]:
        return {"sqs.billed": float(max(1, math.ceil(payload_bytes / SQS_CHUNK)))}

    def _send_message(self, r: Json) -> _Answer:
        message = self._enqueue(r["QueueUrl"], r)
        answer = {"MessageId": message["MessageId"], "MD5OfMessageBody": message["MD5OfBody"]}
        return _Answer(200, answer, self._sqs_units(len(r["MessageBody"].encode())))

    def _send_message_batch(self, r: Json) -> _Answer:
        successful, size = [], 0
        for entry in r["Entries"]:
            message = self._enqueue(r["QueueUrl"], entry)
            size += len(entry["MessageBody"].encode())
            successful.append(
                {"Id": entry["Id"], "MessageId": message["MessageId"], "MD5OfMessageBody": message["MD5OfBody"]}
            )
        return _Answer(200, {"Successful": successful, "Failed": []}, self._sqs_units(size))

    def _receive_message(self, r: Json) -> _Answer:
        queue = self.queues.get(r["QueueUrl"], deque())
        messages, size = [], 0
        for _ in range(min(int(r.get("MaxNumberOfMessages", 1)), len(queue))):
            message = queue.popleft()
            message["ReceiveCount"] += 1
            handle = base64.b64encode(uuid.uuid4().bytes).decode()
            self.in_flight[handle] = message
            size += len(message["Body"].encode())
            messages.append(
                {
                    "MessageId": message["MessageId"],
                    "ReceiptHandle": handle,
                    "MD5OfBody": message["MD5OfBody"],
                    "Body": message["Body"],
                    "Attributes": {
                        "ApproximateReceiveCount": str(message["ReceiveCount"]),
                        "SentTimestamp": message["SentTimestamp"],
                        "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                        "SenderId": "AIDABENCHMARK",
                    },
                }
            )
        return _Answer(200, {"Messages": messages} if messages else {}, self._sqs_units(size))

    def _delete_message(self, r: Json) -> _Answer:
        self.in_flight.pop(r["ReceiptHandle"], None)
        return _Answer(200, {}, self._sqs_units(0))

    def _delete_message_batch(self, r: Json) -> _Answer:
        for entry in r["Entries"]:
            self.in_flight.pop(entry["ReceiptHandle"], None)
        return _Answer(200, {"Successful": [{"Id": e["Id"]} for e in r["Entries"]], "Failed": []}, self._sqs_units(0))

    def _change_visibility_batch(self, r: Json) -> _Answer:
        return _Answer(200, {"Successful": [{"Id": e["Id"]} for e in r["Entries"]], "Failed": []}, self._sqs_units(0))

    def _get_queue_attributes(self, r: Json) -> _Answer:
        depth = len(self.queues.get(r["QueueUrl"], ()))
        attributes = {"ApproximateNumberOfMessages": str(depth), "ApproximateNumberOfMessagesNotVisible": "0"}
        return _Answer(200, {"Attributes": attributes}, self._sqs_units(0))

    # -- SES and SNS --------------------------------------------------------------------------

    def _send_email(self, r: Json) -> _Answer:
        destination = r.get("Destination") or {}
        recipients = sum(len(destination.get(k) or []) for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
        message_id = f"0100{uuid.uuid4().hex}-000000"
        sent = {k: r.get(k) for k in ("FromEmailAddress", "Destination", "EmailTags", "ConfigurationSetName")}
        with self._lock:
            self.sent_emails.append({"MessageId": message_id, **sent})
        return _Answer(200, {"MessageId": message_id}, {"ses.recipients": float(recipients)})

    @staticmethod
    def _get_email_identity(r: Json) -> _Answer:
        answer = {
            "IdentityType": "EMAIL_ADDRESS" if "@" in r.get("EmailIdentity", "") else "DOMAIN",
            "VerifiedForSendingStatus": True,
            "VerificationStatus": "SUCCESS",
        }
        return _Answer(200, answer)

    @staticmethod
    def _publish(r: Json) -> _Answer:
        return _Answer(200, f"<MessageId>{uuid.uuid4()}</MessageId>", {"sns.publishes": 1.0})

    @staticmethod
    def _publish_batch(r: Json) -> _Answer:
        ids = sorted({k.split(".")[2] for k in r if k.startswith("PublishBatchRequestEntries.member.")})
        members = "".join(
            f"<member><Id>{escape(r[f'PublishBatchRequestEntries.member.{i}.Id'])}</Id>"
            f"<MessageId>{uuid.uuid4()}</MessageId></member>"
            for i in ids
        )
        return _Answer(200, f"<Successful>{members}</Successful><Failed/>", {"sns.publishes": float(len(ids))})

    @staticmethod
    def _create_platform_endpoint(r: Json) -> _Answer:
        arn = r["PlatformApplicationArn"].replace(":app/", ":endpoint/") + "/" + uuid.uuid4().hex
        return _Answer(200, f"<EndpointArn>{escape(arn)}</EndpointArn>")


def _returned(request: Json, old: Json | None, new: Json | None) -> Json:
    """The `Attributes` a write returns for its ReturnValues (old or new image; NONE by default)."""
    wanted = request.get("ReturnValues", "NONE")
    image = old if wanted in ("ALL_OLD", "UPDATED_OLD") else new if wanted in ("ALL_NEW", "UPDATED_NEW") else None
    return {"Attributes": image} if image else {}


def _project(item: Json, request: Json) -> Json:
    """Applies a ProjectionExpression of top-level attributes (what this code base uses)."""
    projection = request.get("ProjectionExpression")
    if not projection:
        return item
    names = request.get("ExpressionAttributeNames") or {}
    wanted = {names.get(p.strip(), p.strip()) for p in projection.split(",")}
    return {k: v for k, v in item.items() if k in wanted}
