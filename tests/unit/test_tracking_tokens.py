"""Tracking's pure parts: signed tokens, the key ring, the link table and rewriting, telling machines apart."""

from __future__ import annotations

import json

import pytest

from campaign_engine.tracking import keys, links, machines, tokens

RING = keys.parse_key_ring(json.dumps({"current": "k2", "k2": "a" * 40, "k1": "b" * 40}))
OLD_RING = keys.parse_key_ring({"current": "k1", "k1": "b" * 40})


def token(**changes: object) -> tokens.Token:
    values: dict[str, object] = {
        "kind": "c",
        "campaign_id": "c-1",
        "version": 3,
        "locale": "pt-BR",
        "execution_id": "e-1",
        "issued_at": 1_796_115_600,
        "recipient": tokens.Recipient("ada@example.com", "email"),
        "link": 0,
    }
    values.update(changes)
    return tokens.Token(**values)  # type: ignore[arg-type]


def test_a_token_reads_back_what_was_signed_and_shows_no_personal_data() -> None:
    recipient = tokens.Recipient("José Ñúñez-🙂" * 20, "crm", "jose@example.com")
    signed = tokens.sign(RING, token(kind="u", link=None, recipient=recipient))

    assert tokens.verify(RING, signed, "u") == token(kind="u", link=None, recipient=recipient)
    assert signed.startswith("k2.")
    assert "example" not in signed
    assert "jose" not in signed.lower()


def test_a_key_kept_in_the_ring_still_verifies_what_it_signed() -> None:
    signed_before_rotation = tokens.sign(OLD_RING, token())

    assert tokens.verify(RING, signed_before_rotation, "c").link == 0
    with pytest.raises(tokens.BadToken, match="unknown key"):
        tokens.verify(keys.parse_key_ring({"current": "k2", "k2": "a" * 40}), signed_before_rotation, "c")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature
        lambda t: t.replace(".", "..", 1),
        lambda t: "k2." + t.split(".", 1)[1].upper(),
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "k2." + "A" * 3000,
    ],
)
def test_any_change_to_a_token_is_refused(mangle: object) -> None:
    signed = tokens.sign(RING, token())
    with pytest.raises(tokens.BadToken):
        tokens.verify(RING, mangle(signed), "c")  # type: ignore[operator]


def test_a_token_of_one_kind_is_not_accepted_as_another() -> None:
    with pytest.raises(tokens.BadToken):
        tokens.verify(RING, tokens.sign(RING, token(kind="o", link=None)), "c")
    with pytest.raises(tokens.BadToken):
        tokens.verify(RING, tokens.sign(RING, token(kind="o", link=None)), "u")


def test_the_same_person_looks_different_in_every_execution() -> None:
    first = tokens.sign(RING, token(execution_id="e-1")).split(".")[2]
    second = tokens.sign(RING, token(execution_id="e-2")).split(".")[2]
    assert first != second


@pytest.mark.parametrize(
    "secret",
    [
        {"current": "k1", "k1": "short"},
        {"current": "k9", "k1": "b" * 40},
        {"k1": "b" * 40},
        "not json",
        ["k1"],
    ],
)
def test_a_secret_without_a_usable_current_key_is_refused(secret: object) -> None:
    with pytest.raises(keys.KeysUnavailable):
        keys.parse_key_ring(secret if isinstance(secret, str) else json.dumps(secret))


def test_the_link_table_holds_the_literal_web_links_once_each() -> None:
    html = (
        "<a href=\"https://a.example/x?p=1&amp;q=2\">A</a> <A HREF='http://b.example/'>B</A>"
        '<a href="https://a.example/x?p=1&q=2">A again</a> <a href="{{ context.url }}">mine</a>'
        '<a href="https://c.example/{{ profile.id }}">mine too</a> <a href="mailto:x@example.com">m</a>'
        '<a href="#top">top</a> <a class="x" href = "https://d.example">D</a>'
    )
    assert links.link_table(html) == ("https://a.example/x?p=1&q=2", "http://b.example/", "https://d.example")


def test_rewriting_replaces_only_the_tabled_links_and_escapes_the_new_url() -> None:
    html = '<a href="https://a.example/?x=1&amp;y=2">A</a><a href="https://other.example">O</a>'
    rewritten = links.rewrite_links(html, ("https://a.example/?x=1&y=2",), lambda i: f"https://t.example/t/c/{i}?a&b")

    assert rewritten == '<a href="https://t.example/t/c/0?a&amp;b">A</a><a href="https://other.example">O</a>'


def test_the_pixel_goes_at_the_end_of_the_body() -> None:
    assert links.add_pixel("<html><body><p>x</p></BODY></html>", "https://t/o/1").endswith(
        '<img src="https://t/o/1" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden" /></BODY></html>'
    )
    assert links.add_pixel("<p>x</p>", "https://t/o/1").startswith("<p>x</p><img ")


CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.mark.parametrize(
    ("method", "agent", "ip", "age", "expected"),
    [
        ("GET", CHROME, "203.0.113.9", 600, None),
        (
            "GET",
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "",
            600,
            None,
        ),
        ("HEAD", CHROME, "203.0.113.9", 600, "head"),
        ("GET", "Mozilla/5.0", "203.0.113.9", 600, "apple_proxy"),
        ("GET", CHROME, "17.1.2.3", 600, "apple_proxy"),
        ("GET", "", "203.0.113.9", 600, "agent"),
        ("GET", "Mozilla/5.0 (compatible; bingbot/2.0)", "", 600, "agent"),
        ("GET", "python-requests/2.32", "", 600, "agent"),
        ("GET", CHROME, "203.0.113.9", 1, "too_soon"),
    ],
)
def test_machines_are_told_from_people(method: str, agent: str, ip: str, age: float, expected: str | None) -> None:
    assert machines.machine_reason(method, agent, ip, sent_at=1000.0, now=1000.0 + age) == expected
