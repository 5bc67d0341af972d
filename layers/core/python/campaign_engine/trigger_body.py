"""The trigger body, parsed and checked in C (msgspec) on the trigger's hot path.

The contract's TriggerRequest (models.py, pydantic) stays the single description of the body:
the OpenAPI document, the field errors a caller gets, and the other routes come from it. These
Structs mirror it for one purpose: deciding fast that a body is valid. A body they refuse goes
to pydantic, which names every faulty field; tests/unit/test_trigger_body.py proves on hundreds
of mutated bodies that whatever passes here pydantic accepts as the same body.

Why not pydantic here: importing it and building the models was over a third of the trigger's
cold start, and json.loads plus a Python-level check of 1,000 recipients cost more than the AWS
requests of the call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = ["DecodeError", "ValidationError", "canonical", "check", "decode", "encode"]

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


class _PushInfo(msgspec.Struct):
    appID: str | None = None
    platform: str | None = None
    token: str | None = None


class _ChannelData(msgspec.Struct):
    emailAddress: str | None = None
    mobilePhoneNumber: str | None = None
    pushInfo: _PushInfo | None = None


class _Recipient(msgspec.Struct):
    userId: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    type: Literal["aep", "external"] = "aep"
    namespace: str | None = None
    channelData: _ChannelData | None = None
    profile: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class _TriggerBody(msgspec.Struct):
    campaignId: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    recipients: Annotated[list[_Recipient], msgspec.Meta(min_length=1, max_length=1000)]
    requestId: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    context: dict[str, Any] | None = None
    mergePolicyName: str | None = None


_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_sorted_encoder = msgspec.json.Encoder(order="sorted")


def decode(body: str | bytes) -> Any:
    """The JSON value of a body; DecodeError when it is not JSON."""
    return _decoder.decode(body)


def check(value: Any) -> None:
    """ValidationError unless `value` is a valid trigger body. The value itself is left as it is
    (unknown fields included): it is what the trigger hashes and works on."""
    msgspec.convert(value, _TriggerBody)


def encode(value: Any) -> bytes:
    """Compact JSON (UTF-8), as queue entries carry it."""
    return _encoder.encode(value)


def canonical(value: Any) -> bytes:
    """One encoding per JSON value, whatever the key order or formatting it came in."""
    return _sorted_encoder.encode(value)
