"""Running the template's functions in this process, the one way the local stack, tests and benchmarks do it.

- `load_function(folder)`: functions/<folder>/app.py imported as Lambda imports it, once per
  process (or once more as a second container, with its own module state).
- `lambda_context(...)`: the context object the Python runtime hands a handler.
- `api_event(sample, ...)`: an API Gateway HTTP API (payload 2.0) event from a sample in events/,
  with the body, path, query and authorizer context of the call at hand.
- `sqs_event(messages, queue_arn)`: ReceiveMessage results as the SQS event source mapping hands
  them to a function.
- `reset_containers()`: every per-container cache the domain declares
  (campaign_engine.containers), forgotten, as a cold start would.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import itertools
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ACCOUNT_ID, REGION

log = logging.getLogger("local.harness")

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"


def import_source(source: Path, module_name: str) -> ModuleType:
    """Imports one file under a name of its own: every function's handler file is app.py."""
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec: dataclasses and pydantic look their module up
    spec.loader.exec_module(module)
    return module


def load_function(folder: str, *, container: str | None = None) -> ModuleType:
    """functions/<folder>/app.py, imported once per process and shared by every caller.

    With `container`, a fresh import under that name every call, as a second Lambda container of
    the same function would have: module-level state (its batch processor, say) of its own."""
    name = f"function_{folder}_app" if container is None else f"function_{folder}_app_{container}"
    if container is None and name in sys.modules:
        return sys.modules[name]
    return import_source(FUNCTIONS / folder / "app.py", name)


# Unique within the process and cheap to make: a context is built inside every benchmarked invocation,
# and uuid4's system call for randomness would cost more than the rest of the context.
_request_numbers = itertools.count(1)


def _request_id() -> str:
    return f"00000000-0000-4000-8000-{next(_request_numbers):012x}"


@dataclass
class LambdaContext:
    """The attributes and method of the context object the Python runtime passes to a handler."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    log_group_name: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=_request_id)
    function_version: str = "$LATEST"
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(
    function_name: str = "test", timeout_seconds: int = 30, memory_mb: int = 256, *, log_group: str = ""
) -> LambdaContext:
    """A fresh invocation's context: its timeout counts from now."""
    return LambdaContext(
        function_name=function_name,
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}",
        log_group_name=log_group or f"/aws/lambda/{function_name}",
        timeout_seconds=timeout_seconds,
    )


def reset_containers() -> None:
    """Forgets every client, setting and cache the imported domain modules keep per container."""
    from campaign_engine import containers

    containers.reset_all()


def load_event(name: str) -> dict[str, Any]:
    """A sample event of events/ (the ones `sam local invoke -e` takes)."""
    parsed: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return parsed


def api_event(
    sample: str | dict[str, Any],
    *,
    route_key: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    authorizer_context: dict[str, Any] | None = None,
    scopes: str | None = None,
) -> dict[str, Any]:
    """A copy of the HTTP API event `sample` (a file of events/, or an event) for one call.

    `route_key` ("POST /campaigns/{campaignId}") makes it an event of that route; `body` is sent
    as JSON, `raw_body` as it is; `path_params` fill the route's {variables} in the path too;
    `authorizer_context` replaces what the Lambda authorizer answered, `scopes` only its scopes."""
    event = copy.deepcopy(load_event(sample) if isinstance(sample, str) else sample)
    if route_key is not None:
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
        event["requestContext"]["http"]["method"] = route_key.split(" ", 1)[0]
    if body is not None:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if path_params:
        event["pathParameters"] = path_params
        path = event["requestContext"]["routeKey"].split(" ", 1)[1]
        for key, value in path_params.items():
            path = path.replace("{" + key + "}", value)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if query is not None:
        event["queryStringParameters"] = query
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
    elif scopes is not None:
        event["requestContext"]["authorizer"]["lambda"]["scopes"] = scopes
    return event


def queue_arn(queue_url: str) -> str:
    """The ARN of the queue at `queue_url` (https://host/<account>/<name>)."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"


def sqs_record(message: Any, queue_arn: str) -> dict[str, Any]:
    """One ReceiveMessage result as the SQS event source mapping puts it in a record."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: list[Any], queue_arn: str) -> dict[str, Any]:
    """ReceiveMessage results as the SQS event source mapping hands them to the function."""
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}


def kept_in_queue(result: Any, messages: list[Any]) -> set[str]:
    """The ids of the messages an invocation's ReportBatchItemFailures answer leaves in the queue."""
    if not isinstance(result, dict):
        return set()
    batch_ids = {message["MessageId"] for message in messages}
    reported = {str((item or {}).get("itemIdentifier") or "") for item in result.get("batchItemFailures") or []}
    if reported <= batch_ids:
        return reported
    # Lambda treats an empty or unknown itemIdentifier as the whole batch failing.
    log.error("batch item failures %s name no record of the batch; all of it comes back", reported - batch_ids)
    return batch_ids


def delete_processed(sqs: Any, queue_url: str, messages: list[Any], kept: set[str]) -> list[Any]:
    """What the event source mapping does after an invocation: deletes every message not `kept`, ten to a
    DeleteMessageBatch. The entries SQS could not delete (they come back after their visibility timeout)."""
    done = [message for message in messages if message["MessageId"] not in kept]
    undeleted: list[Any] = []
    for start in range(0, len(done), 10):
        chunk = done[start : start + 10]
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
        )
        undeleted += answer.get("Failed") or []
    return undeleted


def _lambda_message_attribute(value: Any) -> dict[str, Any]:
    """SQS's MessageAttributeValue in the camel-case shape Lambda puts in records."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute
