"""Where a webhook may point (webhook_guard.py) and how its POSTs are signed (webhook_signature.py)."""

from __future__ import annotations

import time

import pytest

from campaign_engine import webhook_guard, webhook_signature

LOCAL_RECEIVER = "http://127.0.0.1:3000/_local/webhooks/"


def _resolver(table: dict[str, list[str]]) -> webhook_guard.Resolver:
    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


# Every URL a webhook must never call, and why (the reason the caller reads names the problem).
REFUSED = {
    "https://127.0.0.1/hook": "loopback",
    "https://[::1]/hook": "loopback",
    "https://10.1.2.3/hook": "private",
    "https://172.16.0.9/hook": "private",
    "https://192.168.1.1/hook": "private",
    "https://169.254.169.254/latest/meta-data/": "link-local",
    "https://100.64.0.1/hook": "private, shared or reserved",
    "https://[fc00::1]/hook": "private",
    "https://[fd12:3456::1]/hook": "private",
    "https://[fe80::1]/hook": "link-local",
    "https://[::ffff:127.0.0.1]/hook": "embeds an IPv4 address that is a loopback address",
    "https://[::ffff:169.254.169.254]/hook": "link-local",
    "https://[64:ff9b::a00:1]/hook": "embeds an IPv4 address",
    "https://224.0.0.1/hook": "multicast",
    "https://240.0.0.1/hook": "reserved",
    "https://0.0.0.0/hook": "unspecified",
    "https://localhost/hook": "local name",
    "https://metadata.google.internal/hook": "local name",
    "https://intranet/hook": "local name",
    "http://hooks.example.org/hook": "https://",
    "ftp://hooks.example.org/hook": "https://",
    "https://user:pw@hooks.example.org/hook": "credentials",
    "https://hooks.example.org/hook#part": "fragment",
    "https:///hook": "host",
}


@pytest.mark.parametrize("url", sorted(REFUSED))
def test_refused_urls_name_their_problem_when_set_and_when_sent(url: str) -> None:
    problem = webhook_guard.check_at_write(url, resolver=_resolver({}))
    assert problem is not None
    assert REFUSED[url] in problem, problem
    with pytest.raises(webhook_guard.RefusedUrl):
        webhook_guard.resolve(url, resolver=_resolver({}))


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["127.0.0.1"], "loopback"),
        (["93.184.215.14", "10.0.0.7"], "private"),  # one private address among public ones is enough
        (["::ffff:127.0.0.1"], "loopback"),
        (["169.254.170.2"], "link-local"),  # the ECS/Lambda container credentials endpoint's range
    ],
)
def test_a_public_name_that_resolves_to_a_blocked_address_is_refused(addresses: list[str], reason: str) -> None:
    resolver = _resolver({"hooks.attacker.example": addresses})
    problem = webhook_guard.check_at_write("https://hooks.attacker.example/x", resolver=resolver)
    assert problem is not None
    assert reason in problem
    with pytest.raises(webhook_guard.RefusedUrl, match=reason):
        webhook_guard.resolve("https://hooks.attacker.example/x", resolver=resolver)


def test_a_public_name_resolves_to_the_address_that_was_checked_and_keeps_its_host() -> None:
    resolver = _resolver({"hooks.example.org": ["93.184.215.14"]})
    target = webhook_guard.resolve("https://Hooks.Example.org:8443/in?k=v", resolver=resolver)
    assert target == webhook_guard.Target("https", "hooks.example.org", 8443, "/in?k=v", "93.184.215.14")


def test_a_name_that_does_not_resolve_yet_is_accepted_when_set_and_refused_when_sent() -> None:
    assert webhook_guard.check_at_write("https://not-yet.example.org/x", resolver=_resolver({})) is None
    with pytest.raises(webhook_guard.RefusedUrl, match="does not resolve"):
        webhook_guard.resolve("https://not-yet.example.org/x", resolver=_resolver({}))


def test_only_the_local_stacks_own_receiver_may_be_called_on_loopback_and_only_with_the_setting() -> None:
    url = LOCAL_RECEIVER + "mine"
    assert webhook_guard.resolve(url, local_receiver=LOCAL_RECEIVER).ip == "127.0.0.1"
    # Without the setting (as in AWS: template.yaml never sets it), the same URL is refused.
    assert webhook_guard.url_problem(url) == "must be an https:// URL"
    with pytest.raises(webhook_guard.RefusedUrl):
        webhook_guard.resolve(url)
    with pytest.raises(webhook_guard.RefusedUrl):
        webhook_guard.resolve("https://127.0.0.1/hook")
    # With it, nothing else on loopback: another port, another path, a climb out of the prefix, credentials.
    for other in (
        "http://127.0.0.1:3001/_local/webhooks/x",
        "http://127.0.0.1:3000/im/executions/unitary",
        "http://127.0.0.1:3000/_local/webhooks/../outbox",
        "http://127.0.0.1:3000/_local/webhooks/%2e%2e/outbox",
        "http://user@127.0.0.1:3000/_local/webhooks/x",
        "http://localhost:3000/_local/webhooks/x",
    ):
        assert webhook_guard.url_problem(other, local_receiver=LOCAL_RECEIVER) is not None, other


def test_a_signature_verifies_and_a_tampered_body_or_an_old_timestamp_does_not() -> None:
    secret = webhook_signature.new_secret()
    body = b'{"id":"wh_1","events":[{"status":"sent"}]}'
    now = int(time.time())
    header = webhook_signature.sign(secret, body, now)
    assert header.startswith(f"t={now},v1=")
    assert webhook_signature.verify(secret, body, header)
    assert not webhook_signature.verify(secret, body.replace(b"sent", b"opened"), header)
    assert not webhook_signature.verify(webhook_signature.new_secret(), body, header)
    # Replay: the same request, signed 10 minutes ago, is refused; re-dating it breaks the signature.
    old = webhook_signature.sign(secret, body, now - 600)
    assert not webhook_signature.verify(secret, body, old)
    assert not webhook_signature.verify(secret, body, old.replace(f"t={now - 600}", f"t={now}"))


def test_backoff_grows_exponentially_and_is_capped() -> None:
    from campaign_engine.webhook_sender import BACKOFF_MAX_SECONDS, backoff_seconds

    delays = [backoff_seconds(n) for n in range(1, 12)]
    assert 30 <= delays[0] <= 33
    assert 60 <= delays[1] <= 66
    assert 120 <= delays[2] <= 132
    assert all(d <= BACKOFF_MAX_SECONDS * 1.1 for d in delays)


def test_only_the_local_stack_sets_the_local_receiver() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "WEBHOOKS_LOCAL_RECEIVER" not in (root / "template.yaml").read_text()
    assert "WEBHOOKS_LOCAL_RECEIVER" in (root / "local" / "stack.py").read_text()


def test_a_slow_resolver_does_not_hold_the_api_the_send_checks_again() -> None:
    def slow(_host: str, _port: int) -> list[str]:
        time.sleep(5)
        return ["127.0.0.1"]

    started = time.monotonic()
    assert webhook_guard.check_at_write("https://slow.example.org/x", resolver=slow) is None
    assert time.monotonic() - started < webhook_guard.WRITE_RESOLVE_SECONDS + 1


def test_the_local_receiver_keeps_what_arrived_and_answers_a_chosen_status() -> None:
    from local.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    event = {
        "pathParameters": {"name": "mine"},
        "headers": {"Webhook-Signature": "t=1,v1=ab", "Webhook-Id": "wh_1", "Authorization": "x"},
        "body": '{"id":"wh_1","events":[{"status":"sent"}]}',
    }
    assert receiver.receive(event)["statusCode"] == 200
    failing = {**event, "pathParameters": {"name": "status-503"}}
    assert receiver.receive(failing)["statusCode"] == 503
    [kept] = receiver.items("mine")
    assert kept["headers"] == {"webhook-signature": "t=1,v1=ab", "webhook-id": "wh_1"}
    assert kept["body"] == event["body"]
    assert kept["events"] == [{"status": "sent"}]
    assert len(receiver.items()) == 2
    receiver.clear()
    assert receiver.items() == []


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "0.0.0.0"])
def test_other_spellings_of_loopback_are_refused_once_resolved(host: str) -> None:
    # The system's resolver reads these numeric forms as 127.0.0.1 (or 0.0.0.0): what it answers is what is checked.
    with pytest.raises(webhook_guard.RefusedUrl):
        webhook_guard.resolve(f"https://{host}/hook")
