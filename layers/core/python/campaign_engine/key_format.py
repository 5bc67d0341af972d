"""The shape of an API key, which lets the authorizer refuse junk without reading the keys table.

A key is `tck_` + 40 random base62 characters (about 238 bits) + 6 base62 characters of the CRC-32
of the 40. A token that is not of this shape, or whose checksum does not match, is refused before
any DynamoDB read: a flood of made-up or mistyped keys costs the authorizer's own run (and, once
API Gateway has cached its answer, not even that), never a table read.

The checksum is public (as GitHub's token checksums are): it filters noise, typos and scanners, not
a caller who computes it. Such a caller pays one read per distinct key, within the stage's throttle.

Keys made before this shape (`tc_...`) and a chosen LOCAL_API_KEY are "unchecked": the authorizer
looks them up only where ACCEPT_UNCHECKED_KEYS is on (template parameter AcceptUncheckedKeys)."""

from __future__ import annotations

import secrets
import string
import zlib

PREFIX = "tck_"
BODY_LENGTH = 40
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
_ALPHABET = string.digits + string.ascii_letters  # base62: a key is one word to double-click and copy
_CHARACTERS = frozenset(_ALPHABET)


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):  # 62**6 > 2**32: six digits hold any CRC-32
        value, digit = divmod(value, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def new_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(BODY_LENGTH))
    return PREFIX + body + _checksum(body)


def is_well_formed(token: str) -> bool:
    """True for a key this platform could have made: its prefix, length, alphabet and checksum."""
    if len(token) != KEY_LENGTH or not token.startswith(PREFIX):
        return False
    rest = token[len(PREFIX) :]
    if not _CHARACTERS.issuperset(rest):
        return False
    return secrets.compare_digest(_checksum(rest[:BODY_LENGTH]), rest[BODY_LENGTH:])
