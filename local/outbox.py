"""Every message the local stack "sent", read from what the emulator recorded.

Each channel reads its own emulated service (email: SES; SMS and push: SNS) and
yields items in one shape; the outbox joins them with the executions table, so each item
says which campaign, request and recipient it was for.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from local.template import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

JOIN_FIELDS = ("campaignId", "requestId", "userId", "executionId")
# What a campaign with privacy.retainMessages false shows of its messages: the envelope (channel,
# recipient, sender, ids, times, headers but the subject), not the message. The outbox emulates the
# recipient's mailbox, which would hold it; it is also what a developer, a test log or a screen share
# shows, and the point of the option is that no copy outlives the send.
MESSAGE_FIELDS = ("subject", "html", "text", "body", "title", "data", "payload")
NOT_RETAINED = "[not retained: the campaign's privacy.retainMessages is false]"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # a Date header in "-0000" means UTC with no zone given
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Channel(Protocol):
    def messages(self) -> list[dict[str, Any]]:
        """Items in the order sent, each with at least channel, messageId and sentAt."""
        ...

    def clear(self) -> None: ...


class SesEmail:
    """SES v2 sends, as moto's SES backend holds them (Raw content as MIME, Simple as parts)."""

    def __init__(self, account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
        self._account_id, self._region = account_id, region
        self._parsed: dict[str, dict[str, Any]] = {}  # message id -> item; sent messages never change

    def _sent(self) -> list[Any]:
        # The emulator runs in this process, so its state is read directly rather than dumped over HTTP.
        from moto.ses.models import ses_backends

        return cast(list[Any], ses_backends[self._account_id][self._region].sent_messages)

    def messages(self) -> list[dict[str, Any]]:
        items = []
        for message in list(self._sent()):
            if message.id not in self._parsed:
                item = self._parse(message)
                if item is None:
                    continue
                self._parsed[message.id] = item
            items.append(self._parsed[message.id])
        return items

    def clear(self) -> None:
        self._sent().clear()
        self._parsed.clear()

    def _parse(self, message: Any) -> dict[str, Any] | None:
        destinations = getattr(message, "destinations", None)
        if isinstance(destinations, dict):  # Simple content keeps SES's Destination structure
            destinations = [address for addresses in destinations.values() for address in addresses]
        recipients = list(dict.fromkeys(address for _, address in getaddresses(destinations or []) if address))
        item: dict[str, Any] = {
            "channel": "email",
            "to": ", ".join(recipients),
            "from": message.source,
            "subject": None,
            "html": None,
            "text": None,
            "body": None,
            "headers": {},
            "messageId": message.id,
            # Moto keeps no send time: the MIME Date header is used when present (SES adds one to
            # mail without), otherwise the moment the outbox first read the message.
            "sentAt": _iso(datetime.now(UTC)),
        }
        if hasattr(message, "raw_data"):
            mime = cast(EmailMessage, email.message_from_string(message.raw_data, policy=email.policy.default))
            item["headers"] = {name: str(value) for name, value in mime.items()}
            item["from"] = str(mime.get("from") or message.source)
            item["subject"] = str(mime.get("subject") or "") or None
            for kind in ("html", "plain"):
                part = mime.get_body(preferencelist=(kind,))
                if part is not None:
                    item["html" if kind == "html" else "text"] = part.get_content()
            if mime.get("date"):
                item["sentAt"] = _iso(parsedate_to_datetime(str(mime["date"])))
        elif hasattr(message, "body"):
            item["subject"] = message.subject
            item["html" if "<" in message.body else "text"] = message.body
        else:
            return None  # templated sends are not emulated by moto
        return item


class _FirstSeen:
    """Moto keeps no send time for SNS: the moment the outbox first saw a message stands in."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def at(self, message_id: str) -> str:
        return self._seen.setdefault(message_id, _iso(datetime.now(UTC)))

    def clear(self) -> None:
        self._seen.clear()


def _sns_backend(account_id: str, region: str) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[account_id][region]


class SnsSms:
    """SMS published to phone numbers, as moto's SNS backend holds them: what the phone shows."""

    def __init__(self, account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
        self._account_id, self._region = account_id, region
        self._seen = _FirstSeen()

    def messages(self) -> list[dict[str, Any]]:
        sms = _sns_backend(self._account_id, self._region).sms_messages
        return [
            {
                "channel": "sms",
                "to": phone,
                "from": None,
                "subject": None,
                "html": None,
                "text": None,
                "body": text,
                "headers": {},
                "messageId": message_id,
                "sentAt": self._seen.at(message_id),
            }
            for message_id, (phone, text) in list(sms.items())
        ]

    def clear(self) -> None:
        _sns_backend(self._account_id, self._region).sms_messages.clear()
        self._seen.clear()


class SnsPush:
    """Mobile push published to platform endpoints: the notification's title, body and data per device."""

    def __init__(self, account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
        self._account_id, self._region = account_id, region
        self._seen = _FirstSeen()

    def messages(self) -> list[dict[str, Any]]:
        items = []
        for endpoint in list(_sns_backend(self._account_id, self._region).platform_endpoints.values()):
            application = endpoint.application
            for message_id, raw in list(endpoint.messages.items()):
                items.append(
                    {
                        "channel": "push",
                        "to": endpoint.token,
                        "from": application.name,
                        "subject": None,
                        "html": None,
                        "text": None,
                        **_push_view(application.platform, raw),
                        "headers": {},
                        "appID": application.name,
                        "platform": application.platform,
                        "messageId": message_id,
                        "sentAt": self._seen.at(message_id),
                    }
                )
        return items

    def clear(self) -> None:
        for endpoint in _sns_backend(self._account_id, self._region).platform_endpoints.values():
            endpoint.messages.clear()
        self._seen.clear()


def _push_view(platform: str, raw: str) -> dict[str, Any]:
    """Title, body and custom data as the device would get them, from SNS's per-platform structure."""
    try:
        structure = json.loads(raw)
        native = json.loads(structure.get(platform) or structure.get("GCM") or structure.get("APNS") or "{}")
    except (ValueError, TypeError, AttributeError):
        return {"title": None, "body": raw, "data": None, "payload": raw}
    if "aps" in native:
        alert = native["aps"].get("alert") or {}
        data = {k: v for k, v in native.items() if k != "aps"}
        title, body = (alert.get("title"), alert.get("body")) if isinstance(alert, dict) else (None, alert)
    else:
        notification = native.get("notification") or {}
        title, body, data = notification.get("title"), notification.get("body"), native.get("data")
    return {"title": title, "body": body, "data": data or None, "payload": native}


class Outbox:
    def __init__(
        self,
        channels: list[Channel],
        dynamodb: DynamoDBClient,
        executions_table: str | None,
        campaigns_table: str | None = None,
    ) -> None:
        self.channels = channels
        self._dynamodb = dynamodb
        self._executions_table = executions_table
        self._campaigns_table = campaigns_table
        self._retains: dict[str, bool] = {}  # campaignId -> privacy.retainMessages
        self._joined: dict[str, dict[str, str]] = {}  # messageId -> campaignId, requestId, userId, executionId
        self._lock = threading.Lock()

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            items = [item for channel in self.channels for item in channel.messages()]
            if any(item["messageId"] not in self._joined for item in items):
                self._joined.update(self._recipients())
            joined = [
                self._as_retained({**item, **dict.fromkeys(JOIN_FIELDS), **self._joined.get(item["messageId"], {})})
                for item in items
            ]
        # Stable: each channel's own order stands where timestamps tie.
        return sorted(joined, key=lambda item: item["sentAt"])

    def clear(self) -> None:
        with self._lock:
            for channel in self.channels:
                channel.clear()
            self._joined.clear()

    def _as_retained(self, item: dict[str, Any]) -> dict[str, Any]:
        campaign_id = item.get("campaignId")
        if not campaign_id or self._retains_messages(campaign_id):
            return item
        redacted = {**item, **{name: NOT_RETAINED for name in MESSAGE_FIELDS if item.get(name) is not None}}
        headers = item.get("headers") or {}
        redacted["headers"] = {name: NOT_RETAINED if name.lower() == "subject" else v for name, v in headers.items()}
        redacted["retained"] = False
        return redacted

    def _retains_messages(self, campaign_id: str) -> bool:
        if campaign_id not in self._retains and self._campaigns_table:
            item = self._dynamodb.get_item(
                TableName=self._campaigns_table,
                Key={"pk": {"S": f"CAMPAIGN#{campaign_id}"}, "sk": {"S": "HEAD"}},
                ProjectionExpression="doc",
            ).get("Item")
            doc = json.loads(item["doc"]["S"]) if item and "S" in item.get("doc", {}) else {}
            privacy = doc.get("privacy") or {}
            self._retains[campaign_id] = privacy.get("retainMessages") is not False
        return self._retains.get(campaign_id, True)

    def _recipients(self) -> dict[str, dict[str, str]]:
        """messageId -> campaign, request, recipient and execution, from the executions table: recipient
        items ("R#...") carry the ids, and the message id is on them or in their delivery batch's outcomes."""
        if not self._executions_table:
            return {}
        recipients: dict[tuple[str, str], dict[str, str]] = {}
        message_ids: dict[str, tuple[str, str]] = {}
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=self._executions_table):
            for row in page.get("Items", []):
                values = {name: value["S"] for name, value in row.items() if "S" in value}
                if values.get("sk", "").startswith("R#"):
                    key = (values.get("executionId", ""), values.get("userId", ""))
                    recipients[key] = {name: values[name] for name in JOIN_FIELDS if name in values}
                    if "messageId" in values:
                        message_ids[values["messageId"]] = key
                elif values.get("pk", "").startswith("OUT#") and "outcomes" in values:
                    for joined_key, entry in json.loads(values["outcomes"]).items():
                        execution_id, _, user_id = joined_key.partition("|")
                        if entry[3]:
                            message_ids.setdefault(entry[3], (execution_id, user_id))
        return {message_id: recipients.get(key, {}) for message_id, key in message_ids.items()}
