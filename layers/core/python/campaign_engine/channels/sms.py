"""SMS through Amazon SNS `Publish` to a phone number.

Why SNS and not the End User Messaging SMS API directly: SNS hands SMS to End User Messaging
(the same origination identities, sender ids and spend limits), it is what the local
emulator implements - so the path that runs locally and in the tests is the one that
deploys - and push already goes through SNS. `originationIdentity` maps to the origination
number or sender id attribute."""

from __future__ import annotations

from campaign_engine import aws
from campaign_engine.channels import SendFailure, classify_client_error

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")
# SNS refuses messages longer than 1,600 GSM characters: ten concatenated segments.
MAX_SEGMENTS = 10


def segments(text: str) -> int:
    """How many SMS segments a text costs (GSM-7: 160/153 per segment; otherwise UCS-2: 70/67)."""
    if all(c in GSM7 or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return 1 if units <= 70 else -(-units // 67)


def send(*, to: str, body: str, origination_identity: str | None, transactional: bool) -> str:
    if segments(body) > MAX_SEGMENTS:
        raise SendFailure("permanent", "MessageTooLong", f"the rendered SMS needs {segments(body)} segments")
    attributes = {
        "AWS.SNS.SMS.SMSType": {
            "DataType": "String",
            "StringValue": "Transactional" if transactional else "Promotional",
        },
    }
    if origination_identity:
        name = "AWS.MM.SMS.OriginationNumber" if origination_identity.startswith("+") else "AWS.SNS.SMS.SenderID"
        attributes[name] = {"DataType": "String", "StringValue": origination_identity}
    try:
        return str(aws.sns().publish(PhoneNumber=to, Message=body, MessageAttributes=attributes)["MessageId"])
    except Exception as error:
        raise classify_client_error(error) from error
