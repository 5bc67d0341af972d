"""Raw MIME messages for SES: what a mail client would parse out of them."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from campaign_engine.email_message import build_email


def build(**overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_email": "news@example.com",
        "from_name": "Loja Ção",
        "to": "ann@example.com",
        "reply_to": "help@example.com",
        "subject": "Olá Ann — 20% off ✓",
        "html": "<p>Olá <b>Ann</b></p>",
        "text": "Olá Ann",
        "headers": None,
    } | overrides
    return build_email(**arguments)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_both_alternatives_parse_back_text_first_with_utf8() -> None:
    # Given an email with text and html
    raw = build()
    # When a client parses it
    message = parse(raw)
    # Then it is multipart/alternative, plain text first, both UTF-8 and decoded intact
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content().strip() == "Olá Ann"
    assert parts[1].get_content().strip() == "<p>Olá <b>Ann</b></p>"


def test_headers_are_encoded_and_decode_back() -> None:
    raw = build()
    message = parse(raw)
    # The wire form is plain ASCII (encoded-words), and decodes to what was written
    assert raw.isascii()
    assert message["Subject"] == "Olá Ann — 20% off ✓"
    assert message["From"].addresses[0].display_name == "Loja Ção"
    assert message["From"].addresses[0].addr_spec == "news@example.com"
    assert message["To"] == "ann@example.com"
    assert message["Reply-To"] == "help@example.com"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime is not None
    assert b"\r\n" in raw


def test_bodies_are_seven_bit_clean() -> None:
    message = parse(build(text="Olá " * 40, html="<p>" + "ção " * 40 + "</p>"))
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")


def test_reply_to_is_left_out_when_not_given() -> None:
    assert parse(build(reply_to=None))["Reply-To"] is None


@pytest.mark.parametrize(
    ("text", "html", "content_type"), [("only text", None, "text/plain"), (None, "<p>h</p>", "text/html")]
)
def test_a_single_body_is_a_single_part(text: str | None, html: str | None, content_type: str) -> None:
    message = parse(build(text=text, html=html))
    assert not message.is_multipart()
    assert message.get_content_type() == content_type
    assert message.get_content_charset() == "utf-8"


def test_no_body_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="text or an html body"):
        build(text=None, html="")


def test_list_unsubscribe_headers_stay_plain_for_one_click_unsubscribe() -> None:
    # Given RFC 8058 headers with a long signed URL
    url = "https://api.example.com/t/u/" + "a1B2" * 40
    headers = {
        "List-Unsubscribe": f"<{url}>, <mailto:unsub@example.com>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    # When the message is built
    raw = build(headers=headers)
    message = parse(raw)
    # Then the URL arrives unchanged, not as an encoded-word mail providers would not read
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n")[0].split(b"List-Unsubscribe:")[1]
    assert message["List-Unsubscribe"] == f"<{url}>, <mailto:unsub@example.com>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_international_domain_is_sent_as_punycode() -> None:
    message = parse(build(to="ann@bücher.example"))
    assert message["To"] == "ann@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nX-Injected: 1"},
        {"from_name": "Shop\r\nBcc: victim@example.com"},
        {"to": "ann@example.com\r\nBcc: victim@example.com"},
        {"reply_to": "help@example.com\nBcc: victim@example.com"},
        {"headers": {"List-Unsubscribe": "<https://x.example>\r\nBcc: victim@example.com"}},
        {"headers": {"X-Bad\r\nBcc": "victim@example.com"}},
    ],
)
def test_header_injection_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": "ann@example.com, bob@example.com"},
        {"to": "not-an-address"},
        {"to": "josé@example.com"},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"Subject": "another"}},
    ],
)
def test_extra_recipients_or_replaced_headers_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        build(**overrides)
