"""Every string the API accepts is bounded, and the strings that become headers are one line.

The OpenAPI document is generated from the same pydantic models that check the bodies, so a walk
of it finds any string a caller can send without a maxLength: a new field added without one fails
here, not in production with a 400 KB campaign name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from campaign_engine.addresses import email_problem, phone_problem
from campaign_engine.models import CampaignCreate
from campaign_engine.profiles import ProfileBody
from campaign_engine.routes.meta import openapi_document

DOCUMENT = json.loads(openapi_document())
SCHEMAS = DOCUMENT["components"]["schemas"]


def _unbounded_strings(node: Any, where: str, seen: set[str]) -> list[str]:
    """Places under `node` where a string of any length is accepted."""
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded_strings(SCHEMAS[name], name, seen)
    found = []
    bounded = any(key in node for key in ("maxLength", "enum", "const", "format"))
    if node.get("type") == "string" and not bounded:
        found.append(where)
    for name, schema in node.get("properties", {}).items():
        found += _unbounded_strings(schema, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        found += _unbounded_strings(node.get(key), f"{where}[]", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for schema in node.get(key, []):
            found += _unbounded_strings(schema, where, seen)
    return found


def _inputs() -> list[tuple[str, Any]]:
    """(where, schema) of every request body and parameter of every operation."""
    inputs = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            for content in operation.get("requestBody", {}).get("content", {}).values():
                inputs.append((f"{route} body", content["schema"]))
            for parameter in operation.get("parameters", []):
                inputs.append((f"{route} {parameter['in']} {parameter['name']}", parameter.get("schema")))
    return inputs


def test_every_string_a_caller_can_send_has_a_maximum_length() -> None:
    inputs = _inputs()
    assert len(inputs) > 30  # the walk reaches the whole API
    seen: set[str] = set()
    unbounded = [place for where, schema in inputs for place in _unbounded_strings(schema, where, seen)]
    assert unbounded == []


def test_the_trigger_body_bounds_every_recipient_field() -> None:
    recipient = SCHEMAS["Recipient"]["properties"]
    channel_data = SCHEMAS["ChannelData"]["properties"]
    bounds = {
        "userId": recipient["userId"]["maxLength"],
        "emailAddress": channel_data["emailAddress"]["anyOf"][0]["maxLength"],
        "mobilePhoneNumber": channel_data["mobilePhoneNumber"]["anyOf"][0]["maxLength"],
    }
    assert bounds == {"userId": 256, "emailAddress": 254, "mobilePhoneNumber": 32}


def _campaign(**sender: str) -> dict[str, Any]:
    return {"name": "Receipts", "channel": "email", "sender": sender}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fromName", "Shop\r\nBcc: eve@example.com"),
        ("fromName", "Shop\nX-Priority: 1"),
        ("fromName", "Shop\x00"),
        ("fromName", "Shop\u2028Bcc: eve@example.com"),
        ("fromEmail", "orders@example.com\r\nBcc: eve@example.com"),
        ("replyTo", "help@example.com\nBcc: eve@example.com"),
        ("originationIdentity", "Shop\r\n"),
    ],
)
def test_a_header_value_with_a_line_break_or_control_character_is_refused_naming_the_field(
    field: str, value: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CampaignCreate.model_validate(_campaign(**{field: value}))
    errors = refused.value.errors()
    assert [error["loc"] for error in errors] == [("sender", field)]


def test_a_subject_template_must_be_one_line() -> None:
    content = {"locales": {"en-US": {"subject": "Hi\r\nBcc: eve@example.com {{ context.n }}", "html": "x"}}}
    with pytest.raises(ValidationError) as refused:
        CampaignCreate.model_validate({"name": "R", "channel": "email", "content": content})
    assert [error["loc"] for error in refused.value.errors()] == [("content", "locales", "en-US", "subject")]
    assert "one line" in refused.value.errors()[0]["msg"]


def test_a_campaign_name_tag_or_label_is_one_line_and_bounded() -> None:
    with pytest.raises(ValidationError) as refused:
        CampaignCreate.model_validate(
            {"name": "a\nb", "channel": "email", "tags": ["ok", "x" * 129], "labels": ["\x07"]}
        )
    assert {error["loc"] for error in refused.value.errors()} == {("name",), ("tags", 1), ("labels", 0)}


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "Ada.Lovelace+receipts@mail.example.com",
        "a@xn--bcher-kva.example",
        "success@simulator.amazonses.com",
        "ann@corp.test",
    ],
)
def test_email_addresses_that_can_be_sent_to_are_accepted(address: str) -> None:
    assert email_problem(address) is None


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("not-an-address", "@-sign"),
        ("a@b", "period"),
        ("a..b@example.com", "two periods"),
        ("ada@example.com\r\nBcc: eve@example.com", "invalid characters"),
        ("Ada <ada@example.com>", "is not an email address"),
        ("ü@example.com", "Internationalized"),
        ("a@localhost", "is not an email address"),
        ("x" * 250 + "@example.com", "longer than 254"),
    ],
)
def test_email_addresses_are_refused_with_the_rule_they_break(address: str, says: str) -> None:
    problem = email_problem(address)
    assert problem is not None
    assert says in problem
    assert "ada@" not in problem  # the rule, never the address


def _library_accepts(address: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    if len(address) > 254:
        return False
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def _address_mutations() -> list[str]:
    bases = ["ada.lovelace+x@mail.example.com", "a@b.co", "o'brien@xn--bcher-kva.example", "a@bücher.example"]
    inserts = [
        " ",
        ".",
        "..",
        "@",
        "<",
        ">",
        '"',
        "\r",
        "\n",
        ",",
        ";",
        ":",
        "ü",
        "é",
        "-",
        "_",
        "+",
        "'",
        "(",
        ")",
        "[",
        "]",
        "\\",
        "\x00",
        "\x7f",
        "\u2028",
        "\uff41",  # fullwidth a
        "。",
        "xn--",
        "*",
        "=",
        "/",
        "%",
        "!",
        "#",
        "$",
        "{",
        "|",
    ]
    found = []
    for base in bases:
        at = base.index("@")
        for text in inserts:
            for position in (0, 1, at, at + 1, at + 3, len(base) - 3, len(base)):
                found.append(base[:position] + text + base[position:])
    labels = ".".join(["d" * 63] * 3)
    found += [
        "l" * 64 + "@example.com",
        "l" * 65 + "@example.com",
        "l" * 60 + "@" + labels + ".com",  # 254 and 255 characters in all
        "l" * 59 + "@" + labels + ".com",
        "a@" + "ü" * 60 + ".example",  # longer in ASCII (punycode) than as given
        # 173 characters, but 273 bytes in UTF-8 (and longer still in ASCII): too long; then short enough
        "l" * 60 + "@" + ".".join(["ü" * 20] * 5) + ".example",
        "l" * 20 + "@" + ".".join(["ü" * 20] * 5) + ".example",
        "postmaster@example.com",
        "a@[192.0.2.1]",
        "a@example.invalid",
        "a@localhost",
        "a@.example.com",
        "a@example.com.",
        "a@-example.com",
        "@example.com",
        "a@",
        "",
    ]
    return found


def test_the_fast_verdict_is_the_librarys_on_every_mutated_address() -> None:
    addresses = _address_mutations()
    assert len(addresses) > 1000
    disagree = [a for a in addresses if (email_problem(a) is None) != _library_accepts(a)]
    assert disagree == []
    assert sum(_library_accepts(a) for a in addresses) > 100  # both verdicts are well represented


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("+14155550100", True),
        ("+447946012345", True),
        ("+351912345678", True),
        ("+5511987654321", True),
        ("+11234567890", False),  # no North American area code starts with 1
        ("+1921234567", False),  # too short for +1
        ("+447700900123", False),  # UK range reserved for drama, never assigned
        ("+999123456789", False),  # no such country calling code
        ("14155550100", False),
        ("+1 415 555 0100", False),  # E.164 has no spaces: the trigger normalises before it checks
    ],
)
def test_phone_numbers_are_checked_against_their_countrys_numbering_plan(number: str, valid: bool) -> None:
    assert (phone_problem(number) is None) is valid


def test_a_profile_with_an_invalid_phone_or_email_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        ProfileBody.model_validate({"email": "ada@@example.com", "phone": "+11234567890"})
    messages = {error["loc"]: error["msg"] for error in refused.value.errors()}
    assert set(messages) == {("email",), ("phone",)}
    assert messages[("phone",)].startswith("is not a valid phone number")
