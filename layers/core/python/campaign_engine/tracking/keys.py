"""The keys tracking tokens are signed with: a Secrets Manager secret (TRACKING_KEYS_SECRET), read
through Powertools parameters and cached for KEY_CACHE_SECONDS in each container.

The secret is a JSON object: `current` names the key new tokens are signed with, and every other
member is a key id and its key (at least 32 characters), e.g.
`{"current": "k2", "k2": "<new random>", "k1": "<previous random>"}`. A token names the id of
the key that signed it, so rotating is adding a key and pointing `current` at it: links already
sent keep working as long as their key stays in the secret. Removing a key retires every link
signed with it (they answer 404). The template creates the secret with one generated key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from functools import cache, lru_cache
from typing import Any

import msgspec

from campaign_engine.containers import per_container

SECRET_ENV = "TRACKING_KEYS_SECRET"  # noqa: S105 # nosec B105  # the variable that names the secret
KEY_CACHE_SECONDS = 300
MIN_KEY_CHARS = 32
MAX_KEY_ID_CHARS = 32


class KeysUnavailable(Exception):
    """The secret is missing or holds no usable current key: nothing can be signed."""


class Key(msgspec.Struct, frozen=True):
    key_id: str
    mac_key: bytes  # signs tokens
    seal_key: bytes  # encrypts the recipient reference a token carries


class KeyRing(msgspec.Struct, frozen=True):
    current: Key
    keys: dict[str, Key]

    def get(self, key_id: str) -> Key | None:
        return self.keys.get(key_id)


def _derive(key_id: str, secret: str) -> Key:
    raw = secret.encode()
    return Key(
        key_id=key_id,
        mac_key=hmac.new(raw, b"tracking-token-mac", hashlib.sha256).digest(),
        seal_key=hmac.new(raw, b"tracking-token-seal", hashlib.sha256).digest(),
    )


def parse_key_ring(value: Any) -> KeyRing:
    """The key ring a secret's value describes; KeysUnavailable when it has no usable current key."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise KeysUnavailable("the tracking keys secret is not JSON") from exc
    if not isinstance(value, dict):
        raise KeysUnavailable("the tracking keys secret is not a JSON object")
    keys = {
        key_id: _derive(key_id, secret)
        for key_id, secret in value.items()
        if key_id != "current"
        and isinstance(secret, str)
        and len(secret) >= MIN_KEY_CHARS
        and 0 < len(key_id) <= MAX_KEY_ID_CHARS
        and key_id.isascii()
        and key_id.replace("-", "").replace("_", "").isalnum()
    }
    current = keys.get(str(value.get("current")))
    if current is None:
        raise KeysUnavailable("the tracking keys secret names no usable current key (32 characters at least)")
    return KeyRing(current=current, keys=keys)


@per_container
@cache
def _provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from campaign_engine import aws

    return SecretsProvider(boto3_client=aws.secretsmanager())


def key_ring() -> KeyRing:
    """The current key ring (one GetSecretValue per container and KEY_CACHE_SECONDS)."""
    name = os.environ.get(SECRET_ENV, "")
    if not name:
        raise KeysUnavailable(f"{SECRET_ENV} is not set")
    try:
        value = _provider().get(name, max_age=KEY_CACHE_SECONDS)
    except Exception as exc:  # Powertools wraps the client's errors in GetParameterError
        raise KeysUnavailable(f"the tracking keys secret could not be read ({type(exc).__name__})") from exc
    return _ring_of(value)


@lru_cache(maxsize=8)
def _ring_of(value: str) -> KeyRing:
    """Parsed once per distinct secret value: the derivation is not redone on every click."""
    return parse_key_ring(value)
