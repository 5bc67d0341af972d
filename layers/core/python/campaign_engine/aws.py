"""boto3 clients, built once per container and reused by warm invocations.

botocore retries are set per client on purpose: reads and conditional writes may be
retried by botocore, but an SES send is attempted exactly once per call, because a
retried send after a lost response would be a second email. Delivery retries sends
through the queue instead, behind its per-recipient send guard.

boto3's modules (about 44,000 objects) and each client's service model are objects that live as
long as the container. They are frozen (gc.freeze) once loaded, so that no later full collection walks
them again: the rest of a cold start (jinja2's import paid ~20 ms of such collections in delivery) and
every warm invocation collect only what they themselves made. Clients are frozen only in Lambda, where
they live as long as the container: the tests and the local stack drop theirs at every container reset,
and a frozen cycle is never collected."""

from __future__ import annotations

import gc
import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from campaign_engine.containers import per_container

gc.freeze()
_IN_LAMBDA = os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")

_STORE_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)
# How long one send may take at most (one attempt): delivery keeps that much of its time in hand.
SEND_CONNECT_TIMEOUT_SECONDS = 2
SEND_READ_TIMEOUT_SECONDS = 10
_SEND_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=SEND_CONNECT_TIMEOUT_SECONDS,
    read_timeout=SEND_READ_TIMEOUT_SECONDS,
)


def _kept(client: Any) -> Any:
    """The client, once everything alive is frozen for the container's life (in Lambda): what building it
    loaded, and whatever the invocation that first asked for it holds then (once per client and container)."""
    if _IN_LAMBDA:
        gc.freeze()
    return client


@per_container
@cache
def dynamodb() -> Any:
    return _kept(boto3.client("dynamodb", config=_STORE_CONFIG))


@per_container
@cache
def sqs() -> Any:
    return _kept(boto3.client("sqs", config=_STORE_CONFIG))


@per_container
@cache
def sesv2() -> Any:
    return _kept(boto3.client("sesv2", config=_SEND_CONFIG))


@per_container
@cache
def sns() -> Any:
    return _kept(boto3.client("sns", config=_SEND_CONFIG))


@per_container
@cache
def secretsmanager() -> Any:
    return _kept(boto3.client("secretsmanager", config=_STORE_CONFIG))
