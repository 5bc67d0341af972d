"""SQS as strict as AWS about what a message may hold, in moto's backend (in-process mock and server).

Moto measures a body in characters, not bytes, leaves attributes out of the sum, and accepts
characters that SQS refuses. A message that AWS would refuse was therefore accepted locally, and
a trigger that answered `accepted` for it looked right in every test. Here, as in AWS:
- a message (body plus attributes' names, types and values, in UTF-8 bytes) over the queue's
  MaximumMessageSize, at most 1 MiB, is refused with InvalidParameterValue;
- a SendMessageBatch whose messages add up to more than 1 MiB is refused whole with
  BatchRequestTooLong;
- a body holding a character outside #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
  #x10000-#x10FFFF is refused with InvalidMessageContents (in a batch, that entry fails alone).
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

from moto.sqs.exceptions import BatchRequestTooLong, InvalidParameterValue, SQSException
from moto.sqs.models import SQSBackend

# AWS's quota since August 2025, for one message and for the sum of a batch request.
MAX_MESSAGE_BYTES = 1_048_576
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_installed = threading.Lock()
_state = {"installed": False}


class InvalidMessageContents(SQSException):
    def __init__(self, character: str) -> None:
        super().__init__(
            "InvalidMessageContents",
            f"Invalid binary character '#x{ord(character):X}' was found in the message body, the set of allowed "
            "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )


def message_bytes(body: str, attributes: dict[str, Any] | None) -> int:
    """A message's size as SQS counts it: the body and each attribute's name, type and value."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, attribute in (attributes or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType") or "").encode())
        if attribute.get("StringValue") is not None:
            size += len(str(attribute["StringValue"]).encode("utf-8", "surrogatepass"))
        binary = attribute.get("BinaryValue")
        if isinstance(binary, bytes):
            size += len(binary)
        elif isinstance(binary, str):
            size += len(base64.b64decode(binary))
    return size


def _check_contents(body: str) -> None:
    forbidden = _FORBIDDEN.search(body)
    if forbidden is not None:
        raise InvalidMessageContents(forbidden.group())


def install() -> None:
    """Makes every SQS backend of this process strict; calling it again changes nothing."""
    with _installed:
        if _state["installed"]:
            return
        _state["installed"] = True
    send_message = SQSBackend.send_message
    send_message_batch = SQSBackend.send_message_batch

    def strict_send_message(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        _check_contents(message_body)
        attributes = kwargs.get("message_attributes", args[0] if args else None)
        limit = min(MAX_MESSAGE_BYTES, int(self.get_queue(queue_name).maximum_message_size))  # type: ignore[attr-defined]
        if message_bytes(message_body, attributes) > limit:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        return send_message(self, queue_name, message_body, *args, **kwargs)

    def strict_send_message_batch(self: SQSBackend, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        total = sum(message_bytes(e["MessageBody"], e.get("MessageAttributes")) for e in entries.values())
        if total > MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong(total)
        failed: list[dict[str, Any]] = []
        accepted: dict[str, dict[str, Any]] = {}
        for key, entry in entries.items():
            try:
                _check_contents(entry["MessageBody"])
            except InvalidMessageContents as refused:
                failed.append(
                    {"Id": entry["Id"], "SenderFault": True, "Code": refused.code, "Message": refused.message}
                )
                continue
            accepted[key] = entry
        messages, more_failed = send_message_batch(self, queue_name, accepted) if accepted else ([], [])
        return messages, failed + more_failed

    SQSBackend.send_message = strict_send_message  # type: ignore[method-assign]
    SQSBackend.send_message_batch = strict_send_message_batch  # type: ignore[method-assign]
