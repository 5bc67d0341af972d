"""boto3 clients, built once per container and reused by warm invocations.

botocore retries are set per client on purpose: reads and conditional writes may be
retried by botocore, but an SES send is attempted exactly once per call, because a
retried send after a lost response would be a second email. Delivery retries sends
through the queue instead, behind its per-recipient send guard."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from campaign_engine.containers import per_container

_STORE_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)
# How long one send may take at most (one attempt): delivery keeps that much of its time in hand.
SEND_CONNECT_TIMEOUT_SECONDS = 2
SEND_READ_TIMEOUT_SECONDS = 10
_SEND_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=SEND_CONNECT_TIMEOUT_SECONDS,
    read_timeout=SEND_READ_TIMEOUT_SECONDS,
)


@per_container
@cache
def dynamodb() -> Any:
    return boto3.client("dynamodb", config=_STORE_CONFIG)


@per_container
@cache
def sqs() -> Any:
    return boto3.client("sqs", config=_STORE_CONFIG)


@per_container
@cache
def sesv2() -> Any:
    return boto3.client("sesv2", config=_SEND_CONFIG)


@per_container
@cache
def sns() -> Any:
    return boto3.client("sns", config=_SEND_CONFIG)


@per_container
@cache
def secretsmanager() -> Any:
    return boto3.client("secretsmanager", config=_STORE_CONFIG)
