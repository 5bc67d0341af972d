"""Senders, one module per channel. Only these and `store`/`delivery_queue` touch AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureKind = Literal["retry", "permanent", "ambiguous"]


@dataclass
class SendFailure(Exception):
    """Why a send did not (certainly) happen.

    retry: the provider certainly did not accept it (throttled, unavailable): send again later.
    permanent: it never will (rejected address or content): record `failed`.
    ambiguous: it may have been accepted (the answer was lost): never send again."""

    kind: FailureKind
    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.code}"


# Errors after which the provider certainly did not accept the message, and may later.
RETRYABLE = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "InternalServiceError",
    "RequestTimeout",
    "KMSThrottlingException",
}


def classify_client_error(error: Exception) -> SendFailure:
    """Maps what botocore raised on a send to retry / permanent / ambiguous."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(error, SendFailure):
        return error
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        if code in RETRYABLE or status >= 500 or status == 429:
            return SendFailure("retry", code, details.get("Message", ""))
        return SendFailure("permanent", code, details.get("Message", ""))
    if isinstance(error, (ConnectTimeoutError, EndpointConnectionError)):
        return SendFailure("retry", type(error).__name__)
    if isinstance(error, (ReadTimeoutError, ConnectionClosedError)):
        return SendFailure("ambiguous", type(error).__name__, "the provider may have accepted the message")
    raise error
