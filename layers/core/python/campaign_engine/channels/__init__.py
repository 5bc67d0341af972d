"""Senders, one module (email: a package) per channel. Only these, `store` and `delivery_queue` touch AWS."""

from __future__ import annotations

import re
from typing import Literal

FailureKind = Literal["retry", "permanent", "ambiguous"]


class SendFailure(Exception):
    """Why a send did not (certainly) happen.

    retry: the provider certainly did not accept it (throttled, unavailable): send again later.
    permanent: it never will (rejected address or content): record `failed`.
    ambiguous: it may have been accepted (the answer was lost): never send again."""

    def __init__(self, kind: FailureKind, code: str, detail: str = "") -> None:
        super().__init__(kind, code, detail)
        self.kind: FailureKind = kind
        self.code = code
        self.detail = detail

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


# What is stored and served for a provider's refusal: its error code and one of these fixed texts,
# never the provider's own message, which quotes addresses and numbers ("Email address is not
# verified. The following identities failed the check in region US-EAST-1: ada@example.com").
DESCRIPTIONS = {
    "MessageRejected": "the provider rejected the message (its content, or an address it will not send to)",
    "MailFromDomainNotVerifiedException": "the sender's MAIL FROM domain is not verified",
    "NotFoundException": "a resource the send needs (identity, configuration set, endpoint) does not exist",
    "BadRequestException": "the provider refused the request as malformed (an address or a field)",
    "InvalidParameter": "the provider refused a parameter of the send (an address, number or endpoint)",
    "InvalidParameterValue": "the provider refused a parameter of the send (an address, number or endpoint)",
    "EndpointDisabled": "the device endpoint is disabled (the app was uninstalled or the token expired)",
    "PlatformApplicationDisabled": "the push platform application is disabled",
    "OptedOut": "the recipient has opted out of messages from this sender",
    "AuthorizationError": "the function is not allowed to send this message",
    "AccessDeniedException": "the function is not allowed to send this message",
    "AccountSuspendedException": "the sending account is suspended",
    "SendingPausedException": "sending is paused for this account or configuration set",
}
_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")


def _refusal(kind: FailureKind, code: str, status: int) -> SendFailure:
    # A code is an identifier of the provider's, not its free text; anything else is not kept either.
    code = code if _CODE.fullmatch(code) else "Unknown"
    description = DESCRIPTIONS.get(code)
    if description is None:
        description = (
            "the provider did not accept the message now" if kind == "retry" else "the provider refused the message"
        )
        description += f" (HTTP {status})"
    return SendFailure(kind, code, description)


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
            return _refusal("retry", code, status)
        return _refusal("permanent", code, status)
    if isinstance(error, (ConnectTimeoutError, EndpointConnectionError)):
        return SendFailure("retry", type(error).__name__)
    if isinstance(error, (ReadTimeoutError, ConnectionClosedError)):
        return SendFailure("ambiguous", type(error).__name__, "the provider may have accepted the message")
    raise error
