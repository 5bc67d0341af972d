"""Raw RFC 5322 / MIME email for SES v2 `Content.Raw.Data`.

Built with the stdlib `email` package so encoding is the library's job: display names and
subjects become RFC 2047 encoded-words, bodies are UTF-8 in quoted-printable or base64 (the
message stays 7-bit clean, whatever relays it meets), text/plain comes before text/html in
multipart/alternative so clients prefer the richer part. The result is always ASCII (SMTP
policy): international domains are sent as punycode, and non-ASCII local parts, which SES does
not accept, are refused here rather than bounced there.

Every header value is checked for CR/LF before it reaches the message: a recipient-controlled
value must never add headers (Bcc) or a body of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["build_email"]

# 7bit: never 8bit bodies; bodies are qp/base64 as the library judges shorter.
_POLICY = email_policy.SMTP.clone(cte_type="7bit", refold_source="none")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF, NUL and other controls; tab is fine
_MAX_LINE = 998  # RFC 5322 hard limit for a header line
# Set by build_email itself; extra headers may not replace them or add recipients.
_RESERVED = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "subject", "date", "sender", "mime-version",
        "content-type", "content-transfer-encoding", "return-path",
    }
)  # fmt: skip


def _check_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain line breaks (header injection)")
    if _FORBIDDEN_CHARS.search(value):
        raise ValueError(f"{name} must not contain control characters")
    return value


def _address(name: str, addr_spec: str, display_name: str | None = None) -> Address:
    _check_value(name, addr_spec)
    if display_name is not None:
        _check_value(f"{name} display name", display_name)
    local, at, domain = addr_spec.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{name} is not an email address")
    if not local.isascii():
        raise ValueError(f"{name} has a non-ASCII local part, which SES cannot send to")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{name} has an invalid international domain") from exc
    try:
        return Address(display_name=display_name or "", addr_spec=f"{local}@{domain}")
    except (ValueError, email_errors.MessageError) as exc:
        raise ValueError(f"{name} is not a single valid email address") from exc


def _extra_header(message: EmailMessage, name: str, value: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not valid")
    if name.lower() in _RESERVED:
        raise ValueError(f"header {name} is set by the message itself")
    _check_value(name, value)
    if not value.isascii():
        message[name] = value  # unstructured text: RFC 2047 encoding is correct here
        return
    # ASCII values go in verbatim: the library would otherwise turn a long unbreakable URL
    # into encoded-words, and List-Unsubscribe (RFC 8058) must stay a plain <uri> list.
    if len(name) + 2 + len(value) > 78 and ", " in value:
        value = value.replace(", ", ",\n ")
    if any(len(line) > _MAX_LINE - len(name) - 2 for line in value.split("\n")):
        raise ValueError(f"header {name} is longer than {_MAX_LINE} characters")
    message.set_raw(name, value)


def _part(content: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=_POLICY)
    part.set_content(content, subtype=subtype, charset="utf-8")
    del part["MIME-Version"]  # belongs to the top level only (RFC 2045 section 4)
    return part


def build_email(
    *,
    from_email: str,
    from_name: str | None,
    to: str,
    reply_to: str | None,
    subject: str,
    html: str | None,
    text: str | None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The complete message as bytes (CRLF line ends). Raises ValueError for an invalid
    address, a header value with CR/LF or control characters, a reserved or malformed extra
    header name, or when there is neither text nor html."""
    if not text and not html:
        raise ValueError("an email needs a text or an html body")
    _check_value("subject", subject)

    message = EmailMessage(policy=_POLICY)
    message["From"] = _address("from", from_email, from_name)
    message["To"] = _address("to", to)
    if reply_to:
        message["Reply-To"] = _address("reply-to", reply_to)
    # Whitespace-only fold lines are obsolete syntax; collapse runs of spaces instead.
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(datetime.now(UTC))
    message["MIME-Version"] = "1.0"
    for name, value in (headers or {}).items():
        _extra_header(message, name, value)

    if text and html:
        message.set_type("multipart/alternative")
        message.attach(_part(text, "plain"))
        message.attach(_part(html, "html"))
    else:
        message.set_content(text or html or "", subtype="plain" if text else "html", charset="utf-8")
    return message.as_bytes()
