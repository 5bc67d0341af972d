"""Raw RFC 5322 / MIME email for SES v2 `Content.Raw.Data`.

Display names and subjects become RFC 2047 encoded-words, bodies are UTF-8 in 7bit (short
printable ASCII lines), quoted-printable or base64 (whichever is shorter), so the message stays
7-bit clean whatever relays it meets; text/plain comes before text/html in
multipart/alternative so clients prefer the richer part. The result is always ASCII with CRLF
line ends: international domains are sent as punycode, and non-ASCII local parts, which SES does
not accept, are refused here rather than bounced there.

The message is written directly rather than through `email.message.EmailMessage`: that builds
and refolds a parse tree for every header and part, which made it most of the delivery
function's CPU per email. What needs the library's full header machinery - addresses (parsed
and validated by `email.headerregistry`) and any header that is not short plain ASCII - still
goes through it; the sender's headers are the same for every email of a campaign version, so
they are built once and cached. tests/unit/test_email_message.py checks that the stdlib parser
reads back what was written.

Every header value is checked for CR/LF before it reaches the message: a recipient-controlled
value must never add headers (Bcc) or a body of its own.
"""

from __future__ import annotations

import binascii
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy as email_policy
from email.headerregistry import Address
from email.utils import format_datetime
from functools import lru_cache

__all__ = ["build_email"]

# The library's policy for the headers it still folds: SMTP (CRLF, 78-character lines), 7-bit.
_POLICY = email_policy.SMTP.clone(cte_type="7bit", refold_source="none")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF, NUL and other controls; tab is fine
_MAX_LINE = 998  # RFC 5322 hard limit for a line
_FOLD_AT = 78  # RFC 5322's recommended line length; folded headers and 7bit bodies stay within it
# An address the library would accept and write back unchanged: dot-atoms of RFC 5322 atext
# on both sides. Anything else (quoted local parts, IDN, comments) goes through the library.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
_NOT_7BIT_TEXT = re.compile(r"[^\t\n\r -~]")  # 7bit bodies: printable ASCII, tabs and line breaks
# UTF-8 bytes per encoded-word: 39 bytes are 52 base64 characters, so that "Subject: " plus
# one word stays within 78 characters, and a word within RFC 2047's 75.
_WORD_BYTES = 39
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


def _library_folded(name: str, value: object) -> str:
    """The header as the stdlib writes it: parsed into its header class (address lists,
    unstructured text) and folded with RFC 2047 encoded-words where needed, CRLF-terminated."""
    return str(_POLICY.header_factory(name, value).fold(policy=_POLICY))


@lru_cache(maxsize=256)
def _sender_header(name: str, addr_spec: str, display_name: str | None) -> str:
    """From and Reply-To, built by the library once per distinct sender: a campaign version's
    sender never changes, so every email of it reuses the same lines. Invalid senders raise
    ValueError every time (exceptions are not cached)."""
    return _library_folded(name, _address(name.lower(), addr_spec, display_name))


def _recipient_header(addr_spec: str) -> str:
    _check_value("to", addr_spec)
    addr_spec = addr_spec.strip()
    line = f"To: {addr_spec}\r\n"
    if _PLAIN_ADDRESS.fullmatch(addr_spec) and len(line) <= _FOLD_AT + 2:
        return line  # what the library writes for a plain address, without parsing it
    return _library_folded("To", _address("to", addr_spec))


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 B-encoded words of UTF-8 text, each of whole characters (section 5)."""
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += encoded
    chunks.append(chunk)
    return [f"=?utf-8?b?{binascii.b2a_base64(c, newline=False).decode('ascii')}?=" for c in chunks]


def _unstructured_header(name: str, value: str) -> str:
    """A header of free text, folded at spaces within 78 characters. Text that is not plain
    ASCII, or has a word too long to fold, is written as encoded-words; readers join adjacent
    encoded-words without the folding space between them, so the text reads back unchanged."""
    words = value.split(" ")
    # Plain: printable ASCII without an "=?" that a reader would take for an encoded-word.
    plain = value.isascii() and value.isprintable() and "=?" not in value
    if plain and max(map(len, words)) <= _FOLD_AT - len(name) - 2:
        words[0] = f"{name}: {words[0]}"
    else:
        words = [f"{name}: {w}" if i == 0 else w for i, w in enumerate(_encoded_words(value))]
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) <= _FOLD_AT:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)  # folding whitespace, removed again by unfolding
    return "\r\n".join(lines) + "\r\n"


def _extra_header(name: str, value: str) -> str:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not valid")
    if name.lower() in _RESERVED:
        raise ValueError(f"header {name} is set by the message itself")
    _check_value(name, value)
    if not value.isascii():
        return _library_folded(name, value)  # unstructured text: RFC 2047 encoding is correct here
    # ASCII values go in verbatim: the library would otherwise turn a long unbreakable URL
    # into encoded-words, and List-Unsubscribe (RFC 8058) must stay a plain <uri> list.
    if len(name) + 2 + len(value) > _FOLD_AT and ", " in value:
        value = value.replace(", ", ",\r\n ")
    if any(len(line) > _MAX_LINE - len(name) - 2 for line in value.split("\r\n")):
        raise ValueError(f"header {name} is longer than {_MAX_LINE} characters")
    return f"{name}: {value}\r\n"


def _body(content: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, the encoded body with CRLF line ends). Short printable ASCII
    lines go as they are; anything else as quoted-printable, or base64 when that is shorter
    (mostly non-Latin scripts). Any line break (CRLF, CR or LF) becomes CRLF."""
    lines = content.encode("utf-8").splitlines()
    if not _NOT_7BIT_TEXT.search(content) and max(map(len, lines), default=0) <= _FOLD_AT:
        return "7bit", b"\r\n".join(lines) + b"\r\n"
    canonical = b"\r\n".join(lines) + b"\r\n"  # RFC 2045: text is encoded in its CRLF form
    # b2a_qp keeps the CRLF line breaks, soft-wraps at 76 characters and encodes "=", non-ASCII,
    # controls and trailing whitespace; b2a_base64 takes 57 bytes per 76-character line.
    quoted = binascii.b2a_qp(canonical, istext=True)
    base64_lines = [binascii.b2a_base64(canonical[i : i + 57]) for i in range(0, len(canonical), 57)]
    if len(quoted) <= sum(map(len, base64_lines)):
        return "quoted-printable", quoted
    return "base64", b"".join(base64_lines).replace(b"\n", b"\r\n")


def _part(boundary: bytes, subtype: str, encoded: tuple[str, bytes]) -> bytes:
    """One body part after its delimiter line. The CRLF after the body belongs to the next
    delimiter (RFC 2046 section 5.1.1), so the part's content keeps its own final line break."""
    encoding, body = encoded
    headers = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return b"--" + boundary + b"\r\n" + headers.encode("ascii") + body + b"\r\n"


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

    head = [_sender_header("From", from_email, from_name), _recipient_header(to)]
    if reply_to:
        head.append(_sender_header("Reply-To", reply_to, None))
    # Whitespace-only fold lines are obsolete syntax; collapse runs of spaces instead.
    head.append(_unstructured_header("Subject", " ".join(subject.split())))
    head.append(f"Date: {format_datetime(datetime.now(UTC))}\r\nMIME-Version: 1.0\r\n")
    head.extend(_extra_header(name, value) for name, value in (headers or {}).items())

    if not (text and html):
        encoding, body = _body(text or html or "")
        head.append(f'Content-Type: text/{"plain" if text else "html"}; charset="utf-8"\r\n')
        head.append(f"Content-Transfer-Encoding: {encoding}\r\n\r\n")
        return "".join(head).encode("ascii") + body

    plain, rich = _body(text), _body(html)
    # "=_" never occurs in quoted-printable or base64 output; a 7bit body could hold it.
    boundary = f"=_{random.getrandbits(96):024x}"  # nosec B311  # a MIME boundary, checked against the bodies
    while boundary.encode("ascii") in plain[1] or boundary.encode("ascii") in rich[1]:
        boundary = f"=_{random.getrandbits(96):024x}"  # nosec B311  # as above
    head.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n')
    delimiter = boundary.encode("ascii")
    return b"".join(
        ["".join(head).encode("ascii"), _part(delimiter, "plain", plain), _part(delimiter, "html", rich)]
    ) + (b"--" + delimiter + b"--\r\n")
