"""Feedback webhooks: set on a campaign or globally, fed by delivery and feedback through their own queue,
POSTed signed by the webhooks function, retried with backoff, then dead-lettered; never to a private address."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from campaign_engine import webhook_guard, webhook_sender, webhook_signature, webhooks
from campaign_engine.settings import get_settings
from local import harness
from local.template import REGION, Template
from tests.conftest import Api, Queue, invoke, load_event, trigger_body
from tests.integration.conftest import Fault, Rule, ses_error
from tests.integration.test_feedback import Sent, on_event, recipients


# ---------------------------------------------------------------------------
# A receiver on 127.0.0.1, reachable only through the local-receiver setting
# ---------------------------------------------------------------------------
@dataclass
class Receiver:
    url: str
    status: int = 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def events(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies() for e in body["events"]]


@pytest.fixture
def receiver(aws_env: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
            if state.delay:
                time.sleep(state.delay)
            try:
                self.send_response(state.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the sender gave up waiting (the slow-endpoint tests)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prefix = f"http://127.0.0.1:{server.server_address[1]}/hooks/"
    state.url = prefix + "campaign"
    monkeypatch.setenv("WEBHOOKS_LOCAL_RECEIVER", prefix)
    get_settings.cache_clear()
    yield state
    server.shutdown()
    server.server_close()
    get_settings.cache_clear()


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log line the functions write during the test, as formatted for CloudWatch."""
    from campaign_engine.observability import logger

    lines: list[str] = []
    target = logger._logger  # the standard logger under Powertools' (one per process here)

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(target.handlers[0].formatter)
    target.addHandler(keep)
    yield lines
    target.removeHandler(keep)


# ---------------------------------------------------------------------------
# The webhooks queue, read as Lambda's event source mapping would
# ---------------------------------------------------------------------------
def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def _receive(url: str, visibility: int | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"QueueUrl": url, "MaxNumberOfMessages": 10, "AttributeNames": ["All"]}
    if visibility is not None:
        kwargs["VisibilityTimeout"] = visibility
    return _sqs().receive_message(**kwargs).get("Messages", [])


def run_webhooks(messages: list[dict[str, Any]]) -> dict[str, Any]:
    url = os.environ["WEBHOOKS_QUEUE_URL"]
    result: dict[str, Any] = invoke("webhooks", harness.sqs_event(messages, harness.queue_arn(url)))
    harness.delete_processed(_sqs(), url, messages, harness.kept_in_queue(result, messages))
    return result


def drain_webhooks() -> int:
    handled = 0
    for _ in range(20):
        messages = _receive(os.environ["WEBHOOKS_QUEUE_URL"])
        if not messages:
            break
        run_webhooks(messages)
        handled += len(messages)
    return handled


def queued_webhooks() -> list[webhooks.WebhookMessage]:
    """What is waiting in the webhooks queue (left there, visible again at once)."""
    messages = _receive(os.environ["WEBHOOKS_QUEUE_URL"], visibility=0)
    return [webhooks.WebhookMessage.decode(m["Body"]) for m in messages]


def _depth(url: str) -> int:
    attrs = _sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _dlq_url() -> str:
    return _sqs().get_queue_url(QueueName=os.environ["WEBHOOKS_QUEUE_URL"].rsplit("/", 1)[1] + "-dlq")["QueueUrl"]


def _verified(request: dict[str, Any], secret: str) -> bool:
    return webhook_signature.verify(secret, request["body"].encode(), request["headers"]["Webhook-Signature"])


def _patch(api: Api, campaign_id: str, body: dict[str, Any]) -> Any:
    return api.call("api", "api/patch_campaign.json", body=body, path_params={"campaignId": campaign_id})


def _send(api: Api, queue: Queue, campaign: dict[str, Any], *user_ids: str) -> Sent:
    body = trigger_body(campaign["id"], recipients(*user_ids), context=None, requestId=f"wh-{uuid.uuid4()}")
    answer = api.trigger(body)
    assert answer.status == 202, answer.body
    queue.drain()
    sent = Sent(api, answer.body["executionId"], campaign["id"], {})
    sent.message_ids = {u: r["messageId"] for u, r in sent.status().items() if r.get("messageId")}
    return sent


def _live_with_webhook(api: Api, url: str, **webhook: Any) -> tuple[dict[str, Any], str]:
    created = api.create_campaign(webhook={"url": url, **webhook})
    secret = created["webhookSecret"]
    answer = api.call("api", "api/activate_campaign.json", path_params={"campaignId": created["id"]})
    assert answer.status == 200, answer.body
    return answer.body, secret


# ---------------------------------------------------------------------------
# Setting a webhook
# ---------------------------------------------------------------------------
def test_a_campaigns_webhook_is_stored_and_its_secret_is_shown_once(api: Api) -> None:
    # Given a campaign created with a webhook
    created = api.create_campaign(webhook={"url": "https://hooks.example.org/in", "events": ["sent", "bounced"]})
    # Then the answer shows the webhook and its secret, this once
    assert created["webhook"] == {"url": "https://hooks.example.org/in", "events": ["sent", "bounced"]}
    assert created["webhookSecret"].startswith("whsec_")
    read = api.call("api", "api/get_campaign.json", path_params={"campaignId": created["id"]}).body
    assert read["webhook"] == created["webhook"]
    assert "webhookSecret" not in read
    # A later edit of the webhook keeps the secret and does not show it
    edited = _patch(api, created["id"], {"webhook": {"url": "https://hooks.example.org/v2"}})
    assert edited.status == 200, edited.body
    assert edited.body["webhook"]["url"] == "https://hooks.example.org/v2"
    assert "webhookSecret" not in edited.body
    # Events default to all seven
    assert edited.body["webhook"]["events"] == ["sent", "bounced"]  # merge patch: the events stay
    fresh = api.create_campaign(webhook={"url": "https://hooks.example.org/in"})
    assert fresh["webhook"]["events"] == list(webhooks.EVENT_TYPES)
    # A new secret on demand, shown in that answer only
    rotated = api.call("api", "api/rotate_campaign_webhook_secret.json", path_params={"campaignId": created["id"]})
    assert rotated.status == 200
    assert rotated.body["secret"] != created["webhookSecret"]
    assert rotated.body["secret"].startswith("whsec_")


def test_a_webhook_added_by_patch_shows_its_secret_and_the_duplicate_gets_its_own(api: Api) -> None:
    created = api.create_campaign()
    assert "webhookSecret" not in created
    patched = _patch(api, created["id"], {"webhook": {"url": "https://hooks.example.org/in"}})
    assert patched.status == 200
    assert patched.body["webhookSecret"].startswith("whsec_")
    copy = api.call("api", "api/duplicate_campaign.json", path_params={"campaignId": created["id"]})
    assert copy.status == 201
    assert copy.body["webhookSecret"] not in (None, patched.body["webhookSecret"])


REFUSED_AT_WRITE = [
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://10.0.0.8/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.1.1/hook",
    "https://[fc00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://hooks.resolves-to-loopback.example/hook",
    "http://hooks.example.org/hook",
    "https://localhost/hook",
]


@pytest.fixture
def loopback_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name whose DNS answer is 127.0.0.1 (the rest does not resolve here)."""

    def resolve(host: str, port: int) -> list[str]:
        if host == "hooks.resolves-to-loopback.example":
            return ["127.0.0.1"]
        raise OSError("Name or service not known")

    monkeypatch.setattr(webhook_guard, "system_resolver", resolve)


@pytest.mark.parametrize("url", REFUSED_AT_WRITE)
def test_private_and_plain_http_urls_are_refused_at_create_patch_and_put(
    api: Api, loopback_name: None, url: str
) -> None:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    created = api.call("api", "api/create_campaign.json", body={**body, "webhook": {"url": url}})
    assert created.status == 400, created.body
    assert created.headers["content-type"] == "application/problem+json"
    assert created.body["code"] == "validation_failed"
    assert [e["field"] for e in created.body["errors"]] == ["webhook.url"]

    draft = api.create_campaign()
    patched = _patch(api, draft["id"], {"webhook": {"url": url}})
    assert patched.status == 400, patched.body
    assert patched.body["errors"][0]["field"] == "webhook.url"

    put = api.call("api", "api/put_webhook_rule.json", body={"url": url})
    assert put.status == 400, put.body
    assert put.body["errors"][0]["field"] == "url"


def test_the_global_webhook_is_admin_only_and_its_secret_is_shown_by_the_first_put(api: Api) -> None:
    assert api.call("api", "api/get_webhook_rule.json").body == {}
    refused = api.call("api", "api/put_webhook_rule.json", scopes="campaigns:write")
    assert refused.status == 403
    assert refused.headers["content-type"] == "application/problem+json"

    first = api.call("api", "api/put_webhook_rule.json")
    assert first.status == 200
    assert first.body["secret"].startswith("whsec_")
    again = api.call("api", "api/put_webhook_rule.json", body={"url": "https://hooks.example.org/v2"})
    assert again.status == 200
    assert "secret" not in again.body
    assert again.body["events"] == list(webhooks.EVENT_TYPES)
    read = api.call("api", "api/get_webhook_rule.json").body
    assert read["url"] == "https://hooks.example.org/v2"
    assert "secret" not in read

    assert api.call("api", "api/delete_webhook_rule.json").status == 204
    assert api.call("api", "api/get_webhook_rule.json").body == {}
    assert api.call("api", "api/put_webhook_rule.json").body["secret"] != first.body["secret"]


def test_the_openapi_document_describes_the_webhook(api: Api) -> None:
    doc = api.call("api", "api/openapi.json").body
    assert "/rules/webhook" in doc["paths"]
    assert "/campaigns/{campaignId}/webhook/secret" in doc["paths"]
    assert "Webhook" in doc["components"]["schemas"]
    assert "Webhook-Signature" in json.dumps(doc["paths"]["/rules/webhook"])


# ---------------------------------------------------------------------------
# Events reach the endpoint, signed
# ---------------------------------------------------------------------------
def test_sent_and_delivered_events_arrive_signed(api: Api, queue: Queue, receiver: Receiver, logged: list[str]) -> None:
    # Given a live campaign whose webhook is the receiver
    campaign, secret = _live_with_webhook(api, receiver.url)
    # When it sends to two people and SES reports one delivery
    sent = _send(api, queue, campaign, "ada@example.com", "bruna@example.com")
    on_event(sent.event("email_delivered", "ada@example.com"))
    drain_webhooks()
    # Then the receiver got every event, each POST signed with the campaign's secret
    assert receiver.requests
    assert all(_verified(r, secret) for r in receiver.requests)
    assert all(r["headers"]["Webhook-Id"].startswith("wh_") for r in receiver.requests)
    got = sorted((e["userId"], e["status"]) for e in receiver.events())
    assert got == [("ada@example.com", "delivered"), ("ada@example.com", "sent"), ("bruna@example.com", "sent")]
    for event in receiver.events():
        assert event["executionId"] == sent.execution_id
        assert event["campaignId"] == campaign["id"]
        assert event["at"].endswith("Z")
        assert "reason" not in event
    # And a tampered body would not verify
    first = receiver.requests[0]
    tampered = {**first, "body": first["body"].replace('"status":"', '"status":"not-', 1)}
    assert tampered["body"] != first["body"]
    assert not _verified(tampered, secret)
    # Nothing logged the secret, the people the events name, or the URL's path
    assert any("webhook delivered" in line for line in logged)
    for private in (secret, "ada@example.com", "bruna@example.com", "/hooks/campaign"):
        assert not [line for line in logged if private in line]


def test_bounces_and_complaints_arrive_with_their_reason_and_only_the_events_asked_for(
    api: Api, queue: Queue, receiver: Receiver
) -> None:
    campaign, _ = _live_with_webhook(api, receiver.url, events=["bounced", "complained"])
    sent = _send(api, queue, campaign, "ada@example.com", "bruna@example.com")
    on_event(sent.event("email_bounced", "ada@example.com"))
    on_event(sent.event("email_complaint", "bruna@example.com"))
    drain_webhooks()
    statuses = sorted((e["userId"], e["status"], e.get("reason")) for e in receiver.events())
    assert statuses == [("ada@example.com", "bounced", "hard_bounce"), ("bruna@example.com", "complained", "complaint")]


def test_the_global_webhook_gets_every_campaigns_events_signed_with_its_own_secret(
    api: Api, queue: Queue, receiver: Receiver
) -> None:
    put = api.call("api", "api/put_webhook_rule.json", body={"url": receiver.url + "-global", "events": ["sent"]})
    assert put.status == 200, put.body
    campaign = api.live_campaign()  # no webhook of its own
    _send(api, queue, campaign, "ada@example.com")
    drain_webhooks()
    assert [r["path"] for r in receiver.requests] == ["/hooks/campaign-global"]
    assert _verified(receiver.requests[0], put.body["secret"])
    assert [(e["status"], e["campaignId"]) for e in receiver.events()] == [("sent", campaign["id"])]


def test_no_webhook_no_message(api: Api, queue: Queue) -> None:
    _send(api, queue, api.live_campaign(), "ada@example.com")
    assert _depth(os.environ["WEBHOOKS_QUEUE_URL"]) == 0


def test_a_failed_send_is_published_with_its_reason(
    api: Api, queue: Queue, receiver: Receiver, faulty_ses: Callable[[Rule], Any]
) -> None:
    # Given SES refuses one address outright
    faulty_ses(
        lambda to, _: (
            Fault(ses_error("MessageRejected", 400, "Email address is not verified."))
            if to == "x@example.com"
            else None
        )
    )
    campaign, _ = _live_with_webhook(api, receiver.url, events=["failed"])
    _send(api, queue, campaign, "x@example.com", "ada@example.com")
    drain_webhooks()
    # Then the webhook hears of that failure only (it asked for failed events)
    assert [(e["userId"], e["status"], e["reason"]) for e in receiver.events()] == [
        ("x@example.com", "failed", "send_failed")
    ]


# ---------------------------------------------------------------------------
# A failing endpoint: retried with backoff, then the DLQ; never slows delivery
# ---------------------------------------------------------------------------
def test_a_failing_endpoint_is_retried_with_backoff_then_dead_lettered(
    api: Api, queue: Queue, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[int] = []
    come_back_in = webhook_sender._come_back_in

    def spy(record: dict[str, Any], seconds: int) -> None:
        delays.append(seconds)
        come_back_in(record, seconds)

    monkeypatch.setattr(webhook_sender, "_come_back_in", spy)
    receiver.status = 500
    campaign, _ = _live_with_webhook(api, receiver.url, events=["sent"])
    _send(api, queue, campaign, "ada@example.com")
    url = os.environ["WEBHOOKS_QUEUE_URL"]
    [message] = _receive(url, visibility=1)
    body = message["Body"]

    # First attempt: refused by the endpoint, the message stays in the queue, away for the backoff
    result = run_webhooks([message])
    assert result["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    time.sleep(1.5)  # past the visibility it was received with: only the backoff keeps it away now
    assert _receive(url) == []
    assert _depth(url) == 1

    # Each later attempt (time passing: made visible again by hand) fails the same way
    for _ in range(webhook_sender.MAX_ATTEMPTS - 1):
        _sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        [message] = _receive(url)
        run_webhooks([message])
    assert len(receiver.requests) == webhook_sender.MAX_ATTEMPTS
    # Backoff doubling from 30 s (with up to 10 % jitter); the last failure hands it to the redrive at once
    assert len(delays) == webhook_sender.MAX_ATTEMPTS
    for attempt, delay in enumerate(delays[:-1]):
        base = min(30 * 2**attempt, webhook_sender.BACKOFF_MAX_SECONDS)
        assert base <= delay <= base * 1.1, delays
    assert delays[-1] == 0

    # After the last one the queue's redrive moves it to the DLQ, untouched
    assert _receive(url) == []
    dead = _receive(_dlq_url())
    assert [m["Body"] for m in dead] == [body]
    # Each attempt was signed afresh (its own timestamp); the id stays, for deduplication
    assert len({r["headers"]["Webhook-Id"] for r in receiver.requests}) == 1


def test_a_slow_endpoint_is_cut_short_and_retried(
    api: Api, queue: Queue, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_sender, "TOTAL_TIMEOUT_SECONDS", 0.5)
    receiver.delay = 3
    campaign, _ = _live_with_webhook(api, receiver.url, events=["sent"])
    _send(api, queue, campaign, "ada@example.com")
    [message] = _receive(os.environ["WEBHOOKS_QUEUE_URL"])
    started = time.monotonic()
    result = run_webhooks([message])
    assert time.monotonic() - started < 2.5
    assert result["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]


def test_a_failing_or_hanging_endpoint_never_slows_or_fails_delivery(
    api: Api, queue: Queue, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.delay = 30  # it would hang delivery if delivery called it
    campaign, _ = _live_with_webhook(api, receiver.url)
    started = time.monotonic()
    sent = _send(api, queue, campaign, "ada@example.com", "bruna@example.com")
    assert time.monotonic() - started < 10
    assert {r["status"] for r in sent.status().values()} == {"sent"}
    assert receiver.requests == []  # delivery only queued the events
    assert sum(len(m.events) for m in queued_webhooks()) == 2

    # Even the queue failing loses the events, not the send
    def broken(_: list[webhooks.WebhookMessage]) -> None:
        raise RuntimeError("SQS is down")

    monkeypatch.setattr(webhooks, "_enqueue", broken)
    again = _send(api, queue, campaign, "carla@example.com")
    assert {r["status"] for r in again.status().values()} == {"sent"}


def test_delivery_publishes_a_runs_events_in_one_message_per_endpoint(
    api: Api, queue: Queue, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = webhooks._enqueue
    monkeypatch.setattr(webhooks, "_enqueue", lambda messages: (calls.append(len(messages)), real(messages)))
    campaign, _ = _live_with_webhook(api, receiver.url)
    users = [f"user{n}@example.com" for n in range(5)]
    _send(api, queue, campaign, *users)
    assert calls == [1]
    [message] = queued_webhooks()
    assert sorted(e["userId"] for e in message.events) == users


# ---------------------------------------------------------------------------
# At send time the address is checked again, always
# ---------------------------------------------------------------------------
def _message_to(url: str) -> dict[str, Any]:
    msg = webhooks.WebhookMessage(
        id="wh_test", target=webhooks.GLOBAL, url=url, events=[{"status": "sent", "userId": "u"}]
    )
    _sqs().send_message(QueueUrl=os.environ["WEBHOOKS_QUEUE_URL"], MessageBody=msg.encode())
    [message] = _receive(os.environ["WEBHOOKS_QUEUE_URL"])
    return message


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/hooks/campaign",
        "https://[::ffff:127.0.0.1]:{port}/hooks/campaign",
        "https://hooks.resolves-to-loopback.example:{port}/hooks/campaign",
        "http://127.0.0.1:{port}/elsewhere",  # loopback, but not under the receiver's prefix
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://100.64.0.1/hook",
        "https://[fc00::1]/hook",
    ],
)
def test_at_send_time_a_blocked_address_is_never_called(
    api: Api, receiver: Receiver, loopback_name: None, url: str
) -> None:
    api.call("api", "api/put_webhook_rule.json", body={"url": "https://hooks.example.org/x"})  # a secret to sign with
    port = receiver.url.split(":")[2].split("/")[0]
    message = _message_to(url.format(port=port))
    result = run_webhooks([message])
    assert result["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert receiver.requests == []


def test_without_the_local_receiver_setting_loopback_is_refused(
    api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.call("api", "api/put_webhook_rule.json", body={"url": "https://hooks.example.org/x"})
    # With the setting (the local stack's), its receiver is reached ...
    run_webhooks([_message_to(receiver.url)])
    assert len(receiver.requests) == 1
    # ... without it (AWS: template.yaml never sets it), the same URL is refused
    monkeypatch.delenv("WEBHOOKS_LOCAL_RECEIVER")
    get_settings.cache_clear()
    message = _message_to(receiver.url)
    assert run_webhooks([message])["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert len(receiver.requests) == 1


def test_the_sample_event_alone_finds_no_secret_and_is_dropped_not_retried(aws_env: Template) -> None:
    # events/webhooks/sqs_batch.json (sam local invoke): its campaign has no secret here, so nothing is sent
    result = invoke("webhooks", load_event("webhooks/sqs_batch.json"))
    assert result == {"batchItemFailures": []}
