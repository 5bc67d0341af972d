"""The trigger body, parsed and checked in C (msgspec) on the trigger's hot path.

The contract's TriggerRequest (models.py, pydantic) stays the single description of the body:
the OpenAPI document, the field errors a caller gets, and the other routes come from it. These
Structs mirror it so that the trigger can decode and check a body in one pass in C and work on
the result. A body they refuse goes to pydantic, which names every faulty field;
tests/unit/test_trigger_body.py proves on hundreds of mutated bodies that whatever passes here
pydantic accepts as the same body. Fields the contract does not define are accepted and
ignored, as pydantic does; they are not kept. The Structs are not tracked by the garbage
collector (gc=False: they hold no cycles), so 1,000 recipients add nothing to its passes.

Why not pydantic here: importing it and building the models was over a third of the trigger's
cold start, and json.loads plus a Python-level check of 1,000 recipients cost more than the AWS
requests of the call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ChannelData",
    "DecodeError",
    "PushInfo",
    "Recipient",
    "TriggerBody",
    "ValidationError",
    "canonical",
    "decode",
    "encode",
    "from_value",
    "parse",
]

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


# The bounds of models.py (tests/unit/test_trigger_body.py holds the two to the same answers).
_Chars32 = Annotated[str, msgspec.Meta(max_length=32)] | None
_Chars64 = Annotated[str, msgspec.Meta(max_length=64)] | None
_Chars254 = Annotated[str, msgspec.Meta(max_length=254)] | None
_Chars256 = Annotated[str, msgspec.Meta(max_length=256)] | None
_Chars4096 = Annotated[str, msgspec.Meta(max_length=4096)] | None


class PushInfo(msgspec.Struct, gc=False):
    appID: _Chars256 = None
    platform: _Chars32 = None
    token: _Chars4096 = None


class ChannelData(msgspec.Struct, gc=False):
    emailAddress: _Chars254 = None
    mobilePhoneNumber: _Chars32 = None
    pushInfo: PushInfo | None = None


class Recipient(msgspec.Struct, gc=False):
    userId: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    type: Literal["aep", "external"] = "aep"
    namespace: _Chars64 = None
    channelData: ChannelData | None = None
    profile: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class TriggerBody(msgspec.Struct, gc=False):
    campaignId: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    recipients: Annotated[list[Recipient], msgspec.Meta(min_length=1, max_length=1000)]
    requestId: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    context: dict[str, Any] | None = None
    mergePolicyName: _Chars256 = None


_parser = msgspec.json.Decoder(TriggerBody)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_sorted_encoder = msgspec.json.Encoder(order="sorted")


def parse(body: str | bytes) -> TriggerBody:
    """The body, decoded and checked in one pass. ValidationError when it is JSON of another
    shape (catch it first: it is a DecodeError too), DecodeError when it is not JSON."""
    return _parser.decode(body)


def from_value(value: Any) -> TriggerBody:
    """parse() for a value already decoded (pydantic's dump of a TriggerRequest, a test's dict)."""
    return msgspec.convert(value, TriggerBody)


def decode(body: str | bytes) -> Any:
    """The plain JSON value of a body (for pydantic, when parse() refused it)."""
    return _decoder.decode(body)


# Compact JSON (UTF-8), as queue entries carry it: the encoder's own method, called once per
# recipient without a Python frame around it.
encode = _encoder.encode


def canonical(value: Any) -> bytes:
    """One encoding per meaning: fields and keys sorted, whatever order or formatting the body
    came in; fields the platform does not read are not part of it."""
    return _sorted_encoder.encode(value)
