"""Sending email through SES v2 with raw MIME content (our own rendering, HTML and text parts)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.channels import classify_client_error
from campaign_engine.settings import get_settings

_TAG_VALUE = re.compile(r"[^A-Za-z0-9_\-.@]")


def send(*, from_email: str, to: str, raw: bytes, tags: Mapping[str, str]) -> str:
    """Sends once (botocore does not retry this client) and returns SES's message id."""
    kwargs: dict = {
        "FromEmailAddress": from_email,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": raw}},
        "EmailTags": [{"Name": k, "Value": _TAG_VALUE.sub("_", v)[:256]} for k, v in tags.items() if v],
    }
    configuration_set = get_settings().ses_configuration_set
    if configuration_set:
        kwargs["ConfigurationSetName"] = configuration_set
    try:
        return str(aws.sesv2().send_email(**kwargs)["MessageId"])
    except Exception as error:
        raise classify_client_error(error) from error


def identity_verified(address: str) -> bool:
    """Whether SES may send from this address: the address itself or its domain is verified."""
    client = aws.sesv2()
    for identity in (address, address.rpartition("@")[2]):
        try:
            found = client.get_email_identity(EmailIdentity=identity)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NotFoundException", "NotFound"):
                continue
            raise
        if found.get("VerifiedForSendingStatus") or found.get("VerificationStatus") == "SUCCESS":
            return True
    return False
