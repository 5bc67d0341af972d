"""Tracking tokens: what a pixel, a tracked link or an unsubscribe link carries, signed.

A token is `<key id>.<payload>.<recipient>.<signature>`, the last three base64url without padding.
The payload is a compact JSON list: the kind (`o` open, `c` click, `u` unsubscribe), campaign id,
campaign version, locale, execution id, when it was made (epoch seconds) and the link's index in the
campaign content (clicks). The recipient is the sealed recipient reference. The signature is
HMAC-SHA256 over the three parts before it, truncated to 128 bits, checked in constant time.

The recipient reference (userId and namespace; for unsubscribe also the address the email went to)
is personal data, so it is sealed: encrypted with a keystream of HMAC-SHA256 blocks under a
synthetic IV (HMAC of the execution id and the plaintext: deterministic within one email, different
across executions, so two links of one person cannot be linked). Nothing in a URL is readable
without the key; a URL never carries an address, a phone number or a userId in clear. A token does
not carry a URL: a click is redirected to the link at its index in the stored campaign content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any, Literal

import msgspec

from campaign_engine.tracking.keys import Key, KeyRing

Kind = Literal["o", "c", "u"]
KINDS: tuple[Kind, ...] = ("o", "c", "u")
MAC_BYTES = 16
SIV_BYTES = 16
MAX_TOKEN_CHARS = 2048


class BadToken(Exception):
    """The token is malformed, tampered with, or signed by a key the secret no longer holds."""


class Recipient(msgspec.Struct, frozen=True):
    user_id: str
    namespace: str
    address: str | None = None  # only in unsubscribe tokens: the address to suppress


class Token(msgspec.Struct, frozen=True):
    kind: Kind
    campaign_id: str
    version: int
    locale: str
    execution_id: str
    issued_at: int  # epoch seconds: when the email was sent
    recipient: Recipient
    link: int | None = None  # clicks: the index of the link in the campaign content's link table


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not base64url") from exc


def _keystream(key: bytes, siv: bytes, length: int) -> bytes:
    blocks = [
        hmac.new(key, siv + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        for counter in range((length + 31) // 32)
    ]
    return b"".join(blocks)[:length]


def _siv(key: Key, execution_id: str, plaintext: bytes) -> bytes:
    return hmac.new(key.mac_key, b"siv\x00" + execution_id.encode() + b"\x00" + plaintext, hashlib.sha256).digest()[
        :SIV_BYTES
    ]


def seal(key: Key, execution_id: str, recipient: Recipient) -> str:
    fields = [recipient.user_id, recipient.namespace]
    if recipient.address is not None:
        fields.append(recipient.address)
    plaintext = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    siv = _siv(key, execution_id, plaintext)
    stream = _keystream(key.seal_key, siv, len(plaintext))
    return _b64(siv + bytes(a ^ b for a, b in zip(plaintext, stream, strict=True)))


def unseal(key: Key, execution_id: str, sealed: str) -> Recipient:
    data = _unb64(sealed)
    siv, cipher = data[:SIV_BYTES], data[SIV_BYTES:]
    plaintext = bytes(a ^ b for a, b in zip(cipher, _keystream(key.seal_key, siv, len(cipher)), strict=True))
    if len(siv) != SIV_BYTES or not hmac.compare_digest(siv, _siv(key, execution_id, plaintext)):
        raise BadToken("the recipient reference does not open")
    try:
        fields = json.loads(plaintext)
    except ValueError as exc:
        raise BadToken("the recipient reference is not readable") from exc
    if not (isinstance(fields, list) and 2 <= len(fields) <= 3 and all(isinstance(f, str) for f in fields)):
        raise BadToken("the recipient reference is not readable")
    return Recipient(fields[0], fields[1], fields[2] if len(fields) == 3 else None)


def _signature(key: Key, signed: str) -> str:
    return _b64(hmac.new(key.mac_key, signed.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES])


def sign(ring: KeyRing, token: Token) -> str:
    key = ring.current
    payload: list[Any] = [
        token.kind,
        token.campaign_id,
        token.version,
        token.locale,
        token.execution_id,
        token.issued_at,
        token.link,
    ]
    encoded = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signed = f"{key.key_id}.{encoded}.{seal(key, token.execution_id, token.recipient)}"
    return f"{signed}.{_signature(key, signed)}"


def verify(ring: KeyRing, text: str, kind: Kind) -> Token:
    """The token `text` says, if it is one of `kind` signed by a key of the ring; else BadToken."""
    if len(text) > MAX_TOKEN_CHARS or text.count(".") != 3 or not text.isascii():
        raise BadToken("malformed")
    key_id, payload, sealed, mac = text.split(".")
    key = ring.get(key_id)
    if key is None:
        raise BadToken("unknown key")
    if not hmac.compare_digest(mac, _signature(key, f"{key_id}.{payload}.{sealed}")):
        raise BadToken("bad signature")
    try:
        fields = json.loads(_unb64(payload))
        found, campaign_id, version, locale, execution_id, issued_at, link = fields
    except (ValueError, TypeError) as exc:
        raise BadToken("unreadable payload") from exc
    if found != kind or not all(isinstance(v, str) for v in (campaign_id, locale, execution_id)):
        raise BadToken("not a token of this kind")
    if not isinstance(version, int) or not isinstance(issued_at, int):
        raise BadToken("unreadable payload")
    if (kind == "c") != isinstance(link, int):
        raise BadToken("not a token of this kind")
    return Token(
        kind=kind,
        campaign_id=campaign_id,
        version=version,
        locale=locale,
        execution_id=execution_id,
        issued_at=issued_at,
        recipient=unseal(key, execution_id, sealed),
        link=link,
    )
