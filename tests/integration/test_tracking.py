"""Open and click tracking, and one-click unsubscribe: the links delivery writes into an email, and
what the public tracking function does when they are followed."""

from __future__ import annotations

import base64
import contextlib
import copy
import email
import json
import re
from collections import Counter
from email import policy
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest

from campaign_engine import store
from local.template import REGION
from tests.conftest import Api, HttpAnswer, Queue, _ses_backend, invoke, load_event, trigger_body

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15"
SALE = "https://shop.example.com/sale?utm=news&id=7"
HELP = "https://shop.example.com/help"
HTML = (
    "<html><body><p>Hi {{ profile.person.name.firstName | default('there') }}</p>"
    f'<a href="{SALE.replace("&", "&amp;")}">Sale</a> <a href=\'{HELP}\'>Help</a> <a href="{SALE.replace("&", "&amp;")}">again</a>'
    '<a href="{{ context.url }}">yours</a> <a href="mailto:help@example.com">write</a></body></html>'
)
ADA = "ada@example.com"


@pytest.fixture(autouse=True)
def _people_read_mail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 'too soon after the send' rule is tested on its own; elsewhere a hit is a person's."""
    monkeypatch.setenv("TRACKING_HUMAN_DELAY_SECONDS", "0")


def campaign(
    api: Api, *, kind: str = "marketing", opens: bool = True, clicks: bool = True, **extra: Any
) -> dict[str, Any]:
    return api.live_campaign(
        **extra,
        name=f"{kind} news",
        type=kind,
        contextSchema=None,
        tracking={"opens": opens, "clicks": clicks},
        content={"defaultLocale": "en-US", "locales": {"en-US": {"subject": "News", "html": HTML}}},
    )


def recipient(user_id: str = ADA, address: str = ADA, namespace: str = "email") -> dict[str, Any]:
    return {
        "type": "aep",
        "userId": user_id,
        "namespace": namespace,
        "channelData": {"emailAddress": address},
        "context": {"url": "https://shop.example.com/me?u=42"},
    }


def send(api: Api, queue: Queue, campaign_id: str, *people: dict[str, Any]) -> str:
    body = trigger_body(campaign_id, list(people or [recipient()]), requestId=None, context={})
    body.pop("requestId")
    answer = api.trigger(body)
    assert answer.status == 202, answer.body
    assert all(r["status"] == "accepted" for r in answer.body["recipients"]), answer.body
    queue.drain()
    return str(answer.body["executionId"])


def raw_emails() -> list[email.message.EmailMessage]:
    return [
        email.message_from_string(m.raw_data, policy=policy.default)  # type: ignore[misc]
        for m in _ses_backend().sent_messages
        if getattr(m, "raw_data", None)
    ]


def last_email() -> email.message.EmailMessage:
    return raw_emails()[-1]


def html_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def hrefs(html: str) -> list[str]:
    return [unquote(h.replace("&amp;", "&")) for h in re.findall(r"""<a\b[^>]*?href=["']([^"']*)""", html)]


def pixel_url(html: str) -> str:
    found = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', html)
    assert len(found) == 1, html
    return str(found[0])


def unsubscribe_url(message: email.message.EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<"), header
    assert header.endswith(">"), header
    return header[1:-1]


def hit(url: str, method: str = "GET", user_agent: str | None = BROWSER, source_ip: str = "203.0.113.7") -> HttpAnswer:
    """Follows a tracking URL as API Gateway would hand it to the tracking function."""
    path = urlsplit(url).path
    kind, token = path.split("/")[2], path.split("/", 3)[3]
    event = load_event({"o": "tracking/open.json", "c": "tracking/click.json"}.get(kind, "tracking/unsubscribe.json"))
    event = copy.deepcopy(event)
    route = f"{method} /t/{kind}/{{token}}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["pathParameters"] = {"token": token}
    event["headers"].pop("user-agent", None)
    event["requestContext"]["http"]["userAgent"] = user_agent or ""
    if user_agent is not None:
        event["headers"]["user-agent"] = user_agent
    if method != "POST":
        event.pop("body", None)
    answer = invoke("tracking", event)
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return HttpAnswer(answer["statusCode"], headers, body)


def counters(campaign_id: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for _bucket, counts in store.iter_report_counts(campaign_id, None):
        totals.update(counts)
    return totals


def status_of(api: Api, execution_id: str, user_id: str = ADA) -> dict[str, Any]:
    answer = api.execution(execution_id)
    assert answer.status == 200, answer.body
    return next(r for r in answer.body["recipients"] if r["userId"] == user_id)


# ---------------------------------------------------------------------------
# Opens
# ---------------------------------------------------------------------------
def test_a_tracked_email_carries_a_pixel_whose_hit_opens_the_recipient_once(api: Api, queue: Queue) -> None:
    news = campaign(api)
    execution = send(api, queue, news["id"])
    url = pixel_url(html_of(last_email()))

    first = hit(url)
    again = hit(url)

    assert first.status == 200
    assert first.headers["content-type"] == "image/gif"
    assert first.body[:6] == b"GIF89a"
    assert "no-store" in first.headers["cache-control"]
    assert again.status == 200
    assert status_of(api, execution)["status"] == "opened"
    counts = counters(news["id"])
    assert (counts["total:opened"], counts["unique:opened"], counts["machine:opened"]) == (2, 1, 0)
    assert (counts["status:sent"], counts["status:opened"]) == (0, 1)  # the recipient moved, counted once


def test_without_tracking_an_email_has_no_pixel_and_its_links_are_untouched(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False)
    send(api, queue, news["id"])
    html = html_of(last_email())

    assert "/t/o/" not in html
    assert "/t/c/" not in html
    assert SALE in hrefs(html)
    assert HELP in hrefs(html)


@pytest.mark.parametrize(
    ("method", "agent", "source_ip"),
    [
        ("GET", "Mozilla/5.0", "203.0.113.7"),  # Apple Mail Privacy Protection's proxy
        ("GET", BROWSER, "17.58.101.4"),  # from Apple's network
        ("HEAD", BROWSER, "203.0.113.7"),  # a probe
        ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "203.0.113.7"),  # a link scanner
        ("GET", None, "203.0.113.7"),  # no User-Agent at all
    ],
)
def test_prefetches_and_scanners_are_counted_apart_and_open_nobody(
    api: Api, queue: Queue, method: str, agent: str | None, source_ip: str
) -> None:
    news = campaign(api)
    execution = send(api, queue, news["id"])
    url = pixel_url(html_of(last_email()))

    answer = hit(url, method=method, user_agent=agent, source_ip=source_ip)

    assert answer.status == 200  # the machine gets its image all the same
    assert status_of(api, execution)["status"] == "sent"
    counts = counters(news["id"])
    assert (counts["machine:opened"], counts["total:opened"], counts["unique:opened"]) == (1, 0, 0)


def test_an_open_right_after_the_send_is_a_machines(api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKING_HUMAN_DELAY_SECONDS", "3600")
    news = campaign(api)
    execution = send(api, queue, news["id"])

    hit(pixel_url(html_of(last_email())))

    assert status_of(api, execution)["status"] == "sent"
    assert counters(news["id"])["machine:opened"] == 1


# ---------------------------------------------------------------------------
# Clicks
# ---------------------------------------------------------------------------
def test_each_literal_link_redirects_to_its_own_destination(api: Api, queue: Queue) -> None:
    news = campaign(api)
    execution = send(api, queue, news["id"])
    links = hrefs(html_of(last_email()))

    tracked = [link for link in links if "/t/c/" in link]
    assert len(tracked) == 3  # Sale, Help and Sale again; the personal and mailto links stay as written
    assert "https://shop.example.com/me?u=42" in links
    assert "mailto:help@example.com" in links
    sale, help_, sale_again = (hit(link) for link in tracked)

    assert (sale.status, sale.headers["location"]) == (302, SALE)
    assert (help_.status, help_.headers["location"]) == (302, HELP)
    assert sale_again.headers["location"] == SALE
    assert sale.headers["referrer-policy"] == "no-referrer"
    assert status_of(api, execution)["status"] == "clicked"
    counts = counters(news["id"])
    assert (counts["total:clicked"], counts["unique:clicked"], counts["status:clicked"]) == (3, 1, 1)


def test_a_scanner_following_a_link_is_redirected_and_counted_apart(api: Api, queue: Queue) -> None:
    news = campaign(api)
    execution = send(api, queue, news["id"])
    link = next(h for h in hrefs(html_of(last_email())) if "/t/c/" in h)

    answer = hit(link, user_agent="Mozilla/4.0 (compatible; ms-office; MSOffice 16)")

    assert (answer.status, answer.headers["location"]) == (302, SALE)
    assert status_of(api, execution)["status"] == "sent"
    assert counters(news["id"])["machine:clicked"] == 1


def _forged(token: str, change: Any) -> str:
    """The token with its payload changed (and its signature kept)."""
    key_id, payload, sealed, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(fields)
    forged = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{key_id}.{forged}.{sealed}.{signature}"


def test_a_tampered_or_made_up_token_is_refused_without_a_redirect(api: Api, queue: Queue) -> None:
    news = campaign(api)
    execution = send(api, queue, news["id"])
    link = next(h for h in hrefs(html_of(last_email())) if "/t/c/" in h)
    base, token = link.rsplit("/", 1)

    def other_link(fields: list[Any]) -> None:
        fields[6] = 1

    attempts = [
        f"{base}/{_forged(token, other_link)}",  # another link index, signature kept
        f"{base}/{token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}",  # signature changed
        f"{base}/nope",
        f"{base}/{token.replace(token.split('.')[0], 'k9', 1)}",  # a key the secret does not hold
        pixel_url(html_of(last_email())).replace("/t/o/", "/t/c/"),  # an open token used as a click
    ]
    for url in attempts:
        answer = hit(url)
        assert answer.status == 404, url
        assert "location" not in answer.headers
        assert answer.headers["content-type"].startswith("text/html")
    assert status_of(api, execution)["status"] == "sent"
    assert counters(news["id"])["total:clicked"] == 0


def test_a_link_index_the_content_does_not_hold_is_refused(api: Api, queue: Queue) -> None:
    """A token signed with the stack's own key for a link the campaign's content does not have."""
    from campaign_engine.tracking import keys, tokens

    news = campaign(api)
    execution = send(api, queue, news["id"])
    token = tokens.sign(
        keys.key_ring(),
        tokens.Token("c", news["id"], news["version"], "en-US", execution, 0, tokens.Recipient(ADA, "email"), link=9),
    )

    answer = hit(f"https://x/t/c/{token}")

    assert answer.status == 404
    assert "location" not in answer.headers


def test_rotating_the_key_keeps_links_already_sent_working(api: Api, queue: Queue) -> None:
    from campaign_engine import containers

    news = campaign(api)
    send(api, queue, news["id"])
    old_link = next(h for h in hrefs(html_of(last_email())) if "/t/c/" in h)
    client = boto3.client("secretsmanager", region_name=REGION)
    secret_id = "local-tracking-keys"
    previous = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**previous, "current": "k2", "k2": "n" * 48}))
    containers.reset_all()  # the functions' cached read of the secret has expired

    send(api, queue, news["id"], recipient("bruna@example.com", "bruna@example.com"))
    new_link = next(h for h in hrefs(html_of(last_email())) if "/t/c/" in h)

    assert urlsplit(new_link).path.split("/")[3].startswith("k2.")
    assert hit(old_link).headers["location"] == SALE
    assert hit(new_link).headers["location"] == SALE

    # Once the old key is removed, its links are retired.
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": "k2", "k2": "n" * 48}))
    containers.reset_all()
    assert hit(old_link).status == 404
    assert hit(new_link).status == 302


def test_no_personal_data_in_any_tracking_url(api: Api, queue: Queue) -> None:
    news = campaign(api)
    send(api, queue, news["id"], recipient("ada.lovelace@example.com", "ada.lovelace@example.com"))
    message = last_email()
    urls = [*[h for h in hrefs(html_of(message)) if "/t/" in h], pixel_url(html_of(message))]
    urls.append(unsubscribe_url(message))

    for url in urls:
        readable = _every_reading(url)
        for secret in ("ada.lovelace", "example.com", "Ada"):
            assert secret not in readable, url


def _every_reading(url: str) -> str:
    """The URL as it is, and each dot-separated part of its token base64-decoded."""
    readings = [url]
    for part in urlsplit(url).path.split("/")[-1].split("."):
        with contextlib.suppress(ValueError):
            readings.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace"))
    return "\n".join(readings)


# ---------------------------------------------------------------------------
# One-click unsubscribe
# ---------------------------------------------------------------------------
def test_a_marketing_email_offers_one_click_unsubscribe(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False)
    send(api, queue, news["id"])
    message = last_email()

    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"https://[^\s<>]+/t/u/[A-Za-z0-9_.-]+", unsubscribe_url(message))


def test_a_transactional_email_has_no_unsubscribe_header(api: Api, queue: Queue) -> None:
    receipt = campaign(api, kind="transactional", opens=False, clicks=False)
    send(api, queue, receipt["id"])

    assert last_email()["List-Unsubscribe"] is None
    assert last_email()["List-Unsubscribe-Post"] is None


def test_the_unsubscribe_page_alone_unsubscribes_nobody(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False)
    execution = send(api, queue, news["id"])
    url = unsubscribe_url(last_email())

    page = hit(url, method="GET")

    assert page.status == 200
    assert '<form method="post">' in page.body
    assert "unsubscribedAt" not in {k for k, v in status_of(api, execution).items() if v}
    assert counters(news["id"])["total:unsubscribed"] == 0
    send(api, queue, news["id"])  # the next marketing email still goes
    assert len(raw_emails()) == 2


def put_profile(namespace: str, profile_id: str, consents: dict[str, str] | None = None) -> None:
    from campaign_engine.store import people

    values: dict[str, Any] = {"namespace": namespace, "id": profile_id, "email": ADA, "source": "api"}
    if consents is not None:
        values["consents"] = consents
    people.replace_profile(values, now="2026-12-01T08:00:00Z")


def test_one_click_unsubscribe_excludes_the_next_marketing_email_only(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False)
    put_profile("crm", "c-7", consents={"sms": "in"})
    execution = send(api, queue, news["id"], recipient("c-7", ADA, namespace="crm"))
    url = unsubscribe_url(last_email())

    done = hit(url, method="POST")
    again = hit(url, method="POST")

    assert done.status == 200
    assert "unsubscribed" in done.body
    assert again.status == 200
    assert status_of(api, execution, "c-7")["unsubscribedAt"].endswith("Z")
    assert counters(news["id"])["total:unsubscribed"] == 1  # once, however often the link is posted
    profile = store.people.get_profile("crm", "c-7")
    assert profile is not None
    assert profile["consents"] == {"sms": "in", "email": "out"}
    entry = store.people.get_suppression("email", ADA)
    assert entry is not None
    assert (entry["reason"], entry["source"]) == ("unsubscribe", "unsubscribe")

    later = send(api, queue, news["id"], recipient("c-7", ADA, namespace="crm"))
    assert (status_of(api, later, "c-7")["status"], status_of(api, later, "c-7")["reason"]) in {
        ("excluded", "suppressed"),
        ("excluded", "no_consent"),
    }
    assert len(raw_emails()) == 1

    receipt = campaign(api, kind="transactional", opens=False, clicks=False)
    send(api, queue, receipt["id"], recipient("c-7", ADA, namespace="crm"))
    assert len(raw_emails()) == 2  # a receipt is not a subscription: it still arrives


def test_unsubscribing_someone_without_a_profile_creates_none(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False, audience={"namespace": "email", "createProfiles": False})
    outsider = {**recipient(), "type": "external"}
    execution = send(api, queue, news["id"], outsider)

    assert hit(unsubscribe_url(last_email()), method="POST").status == 200

    assert store.people.get_profile("email", ADA) is None
    later = send(api, queue, news["id"], outsider)
    assert (status_of(api, later)["status"], status_of(api, later)["reason"]) == ("excluded", "suppressed")
    assert status_of(api, execution)["unsubscribedAt"]


def test_an_address_already_suppressed_keeps_its_reason(api: Api, queue: Queue) -> None:
    news = campaign(api, opens=False, clicks=False)
    send(api, queue, news["id"])
    store.people.add_suppression("email", ADA, reason="hard_bounce", source="ses", at="2026-12-01T08:00:00Z")

    hit(unsubscribe_url(last_email()), method="POST")

    entry = store.people.get_suppression("email", ADA)
    assert entry is not None
    assert entry["reason"] == "hard_bounce"
