"""Raw MIME messages for SES: what a mail client would parse out of them."""

from __future__ import annotations

import base64
import email
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest

from campaign_engine.channels.email import mime as email_message
from campaign_engine.channels.email.mime import build_email

# The one email every test starts from; each overrides what it is about.
DEFAULTS: dict[str, Any] = {
    "from_email": "news@example.com",
    "from_name": "Loja Ção",
    "to": "ann@example.com",
    "reply_to": "help@example.com",
    "subject": "Olá Ann — 20% off ✓",
    "html": "<p>Olá <b>Ann</b></p>",
    "text": "Olá Ann",
    "headers": None,
}


def build(**overrides: Any) -> bytes:
    return build_email(**(DEFAULTS | overrides))


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


# ---------------------------------------------------------------------------
# The message is written by hand: it must read back as the stdlib would have built it
# ---------------------------------------------------------------------------


def stdlib_built(**overrides: Any) -> bytes:
    """The same email built entirely with the stdlib's EmailMessage (as build_email once did)."""
    args = DEFAULTS | overrides
    smtp = policy.SMTP.clone(cte_type="7bit", refold_source="none")
    message = EmailMessage(policy=smtp)
    message["From"] = Address(args["from_name"] or "", addr_spec=args["from_email"])
    to_local, _, to_domain = args["to"].rpartition("@")
    message["To"] = Address(addr_spec=f"{to_local}@{to_domain.encode('idna').decode('ascii')}")
    if args["reply_to"]:
        message["Reply-To"] = Address(addr_spec=args["reply_to"])
    message["Subject"] = " ".join(args["subject"].split())
    message["MIME-Version"] = "1.0"
    for name, value in (args["headers"] or {}).items():
        message[name] = value
    text, html = args["text"], args["html"]
    if text and html:
        message.set_type("multipart/alternative")
        for content, subtype in ((text, "plain"), (html, "html")):
            part = EmailMessage(policy=smtp)
            part.set_content(content, subtype=subtype, charset="utf-8")
            del part["MIME-Version"]
            message.attach(part)
    else:
        message.set_content(text or html, subtype="plain" if text else "html", charset="utf-8")
    return message.as_bytes()


def read_back(raw: bytes) -> dict[str, Any]:
    """What a client sees: decoded headers, the structure, every part's type, charset and text."""
    message = parse(raw)
    parts = list(message.iter_parts()) if message.is_multipart() else [message]
    headers = ("From", "To", "Reply-To", "Subject", "MIME-Version", "List-Unsubscribe", "X-Campaign")
    return {
        "headers": {name: str(message[name]) for name in headers},
        "type": message.get_content_type(),
        "parts": [(p.get_content_type(), p.get_content_charset(), p.get_content()) for p in parts],
        "defects": [type(d).__name__ for p in [message, *parts] for d in p.defects],
    }


ALTERNATIVES = {
    "ascii, as the sample campaign": {
        "from_name": "Example Shop",
        "subject": "Order 10042 confirmed",
        "text": "Hi Ada,\n\nWe received order 10042 ($42.00).",
        "html": "<p>Hi Ada,</p><p>We received order <b>10042</b> ($42.00).</p>",
    },
    "non-ascii subject and name": {},
    "long ascii subject, folded": {"subject": "Your weekly digest: " + "news " * 30},
    "long non-ascii subject with emoji": {"subject": "😀 Promoção de verão ção " * 10},
    "an unbreakable ascii subject": {"subject": "x" * 120},
    "subject with mime-looking text": {"subject": 'Hi (you) "there"; a=b, <c@d> \\ ?= done'},
    "name with specials": {"from_name": 'Shop, "The" (best) <x>', "to": "o'brien+tag@example.com"},
    "quoted local part": {"to": '"john doe"@example.com'},
    "international domain": {"to": "ann@bücher.example"},
    "no display name": {"from_name": None},
    "long display name, folded": {"from_name": "Example Shop International — Customer Care Team Ção " * 2},
    "every kind of line break and whitespace": {
        "text": "a\r\nb\rc\nd\n\n  trailing   \n.\nFrom me\n= 3 \tx\x0cend",
        "html": "<p>" + "long line " * 40 + "</p>",
    },
    "non-latin bodies (base64)": {"text": "Привет мир " * 40, "html": "<p>" + "日本語のテキスト" * 30 + "</p>"},
    "lines at the 7bit limit": {"text": "x" * 78 + "\n" + "y" * 79, "html": "z" * 77},
    "boundary-like text": {"text": "--=_0000\n--=_0000--\n=====", "html": "<p>--=_</p>"},
    "text only": {"html": None},
    "html only": {"text": None},
    "extra headers": {
        "headers": {
            "List-Unsubscribe": "<https://api.example.com/t/u/" + "a" * 120 + ">, <mailto:u@example.com>",
            "X-Campaign": "Verão ✓",
        }
    },
}


@pytest.mark.parametrize("overrides", list(ALTERNATIVES.values()), ids=list(ALTERNATIVES))
def test_the_message_reads_back_as_the_stdlib_builds_it(overrides: dict[str, Any]) -> None:
    # Given the same email written by build_email and built by the stdlib's EmailMessage
    raw = build(**overrides)
    # Then the stdlib parser reads the same headers, structure, parts and text out of both, without defects
    assert read_back(raw) == read_back(stdlib_built(**overrides))
    assert read_back(raw)["defects"] == []


@pytest.mark.parametrize("overrides", list(ALTERNATIVES.values()), ids=list(ALTERNATIVES))
def test_the_wire_form_is_seven_bit_crlf_within_line_limits(overrides: dict[str, Any]) -> None:
    raw = build(**overrides)
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines), "no bare CR or LF"
    verbatim = {b"List-Unsubscribe:"}  # written as given (RFC 8058); RFC 5322's 998 still holds
    for line in lines:
        limit = 998 if line.startswith(tuple(verbatim)) else 78
        assert len(line) <= limit, line
    head = raw.split(b"\r\n\r\n", 1)[0]
    for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", head):
        assert len(word) <= 75, "RFC 2047 section 2"


def test_an_address_too_long_to_fold_is_written_whole() -> None:
    # An addr-spec cannot be folded: the line is longer than 78, within RFC 5322's 998
    to = "a" * 70 + "@example.com"
    raw = build(to=to)
    assert f"\r\nTo: {to}\r\n".encode() in raw
    assert read_back(raw) == read_back(stdlib_built(to=to))


def test_encoded_words_hold_whole_characters() -> None:
    # Given a subject of multi-byte characters long enough for several encoded-words
    subject = "😀ção日" * 20
    raw = build(subject=subject)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    words = re.findall(r"=\?utf-8\?b\?([^?]*)\?=", head.split("Subject:", 1)[1].split("\r\nDate:")[0])
    assert len(words) > 1
    # Then each word decodes on its own to valid UTF-8 (RFC 2047 section 5), and together to the subject
    decoded = [base64.b64decode(word).decode("utf-8") for word in words]
    assert "".join(decoded) == subject
    assert parse(raw)["Subject"] == subject


def test_text_that_looks_like_an_encoded_word_reads_back_literally() -> None:
    subject = "Use code =?utf-8?b?SGk=?= today"
    assert parse(build(subject=subject))["Subject"] == subject


def test_a_short_ascii_subject_and_plain_address_are_written_as_the_stdlib_writes_them() -> None:
    raw = build(subject="Order 10042 confirmed", to="ann.lee+x@mail.example.com", from_name="Example Shop")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSubject: Order 10042 confirmed\r\n" in head
    assert b"\r\nTo: ann.lee+x@mail.example.com\r\n" in head
    assert head.startswith(b"From: Example Shop <news@example.com>\r\n")


def test_the_boundary_never_occurs_in_a_body(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a text body that holds the first boundary the builder draws
    draws = iter([0xABC, 0xDEF])
    monkeypatch.setattr(email_message.random, "getrandbits", lambda bits: next(draws))
    taken = f"=_{0xABC:024x}"
    text = f"before\n--{taken}\nafter\n--{taken}--"
    # When the email is built
    raw = build(text=text, html="<p>x</p>")
    # Then another boundary is used, and the parts read back intact
    message = parse(raw)
    assert message.get_boundary() == f"=_{0xDEF:024x}"
    plain, html = message.iter_parts()
    assert plain.get_content() == text.replace("\n", "\r\n") + "\r\n"
    assert html.get_content() == "<p>x</p>\r\n"


def test_sender_headers_follow_the_sender_they_were_built_for() -> None:
    # Given two campaign versions whose senders differ (headers are built once per sender)
    first = parse(build(from_name="Shop One", reply_to="one@example.com"))
    second = parse(build(from_name="Loja Dois Ção", reply_to="two@example.com"))
    again = parse(build(from_name="Shop One", reply_to="one@example.com"))
    # Then each email carries its own version's sender
    assert (str(first["From"]), str(first["Reply-To"])) == ("Shop One <news@example.com>", "one@example.com")
    assert (str(second["From"]), str(second["Reply-To"])) == ("Loja Dois Ção <news@example.com>", "two@example.com")
    assert str(again["From"]) == str(first["From"])


def test_an_invalid_sender_is_refused_every_time() -> None:
    # A refusal is not cached as if it were a header
    for _ in range(2):
        with pytest.raises(ValueError, match="from is not a single valid email address"):
            build(from_email="a b@example.com")
