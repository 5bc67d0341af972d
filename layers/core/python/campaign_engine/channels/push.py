"""Mobile push through Amazon SNS platform applications, from AJO's `pushInfo`.

The SNS platform application of an app is named after its `appID`, so its ARN follows from
the platform and the appID without a lookup; the device token becomes a platform endpoint
(CreatePlatformEndpoint is idempotent for the same token) that is cached per container."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

from campaign_engine import aws
from campaign_engine.addresses import SNS_PLATFORMS
from campaign_engine.channels import SendFailure, classify_client_error
from campaign_engine.containers import per_container

PLATFORMS = SNS_PLATFORMS
MAX_PAYLOAD_BYTES = 4096


def application_arn(platform: str, app_id: str) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    account = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
    return f"arn:aws:sns:{region}:{account}:app/{PLATFORMS[platform]}/{app_id}"


@per_container  # a cold start (or a test's fresh emulator) asks SNS again
@lru_cache(maxsize=4096)
def _endpoint(application: str, token: str) -> str:
    return str(aws.sns().create_platform_endpoint(PlatformApplicationArn=application, Token=token)["EndpointArn"])


def payload(platform: str, title: str | None, body: str, data: dict[str, str] | None) -> dict[str, str]:
    """SNS's per-platform message structure."""
    custom = data or {}
    if PLATFORMS[platform].startswith("APNS"):
        alert: dict[str, Any] = {"body": body, **({"title": title} if title else {})}
        native = {"aps": {"alert": alert, "sound": "default"}, **custom}
    else:
        native = {"notification": {"body": body, **({"title": title} if title else {})}, "data": custom}
    return {"default": body, PLATFORMS[platform]: json.dumps(native, ensure_ascii=False)}


def send(*, push_info: dict[str, str], title: str | None, body: str, data: dict[str, str] | None) -> str:
    platform = push_info["platform"]
    message = payload(platform, title, body, data)
    size = len(message[PLATFORMS[platform]].encode())
    if size > MAX_PAYLOAD_BYTES:
        raise SendFailure("permanent", "PayloadTooLarge", f"the push payload is {size} bytes (limit 4 KB)")
    try:
        endpoint = _endpoint(application_arn(platform, push_info["appID"]), push_info["token"])
        response = aws.sns().publish(TargetArn=endpoint, Message=json.dumps(message), MessageStructure="json")
        return str(response["MessageId"])
    except Exception as error:
        raise classify_client_error(error) from error
