"""A full run over every channel and every failure path we can drive, with distinctive values as
addresses, numbers and context; then everything the platform left behind is searched for them:
what was logged (at DEBUG, the most the stack can be configured to log), what would have gone to
X-Ray, every item of every DynamoDB table, every message left in every queue, and the answers of
the status API. Personal data may stay only where it must, each place named below with why."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from local.template import REGION, Template
from tests.conftest import Api, Queue, load_event
from tests.integration.conftest import Fault, FaultySes, drain_delivery, ses_error, throttled
from tests.integration.test_feedback import on_event

RUN = "7f3a"  # distinctive, so a match is never a coincidence
EMAIL = {
    kind: f"pii-canary-{kind}-{RUN}@example.com"
    for kind in ("ok", "render", "suppressed", "throttled", "refused", "bounce", "complaint", "otp", "otp-render")
}
BAD_EMAIL = f"pii-canary-invalid-{RUN}@@example.com"
PHONE_OK = "+447946000731"
PHONE_BAD = "+4479460007"  # too short for a UK mobile: invalid_address
TOKEN = f"pii-canary-token-{RUN}"
SECRET = {kind: f"canary-secret-{kind}-{RUN}" for kind in (*EMAIL, "invalid", "context", "sms", "sms-bad", "push")}

EMAIL_CAMPAIGN: dict[str, Any] = {
    "name": "Canary email",
    "channel": "email",
    "audience": {"namespace": "crmId"},
    # A context the schema refuses (invalid_context) must not be quoted in the verdict
    "contextSchema": {
        "type": "object",
        "properties": {"code": {"type": "string", "maxLength": 40}, "amount": {"type": "string"}},
    },
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "subject": "Your code {{ context.code }}",
                # A helper fails on a value that is not a number (the render_error path)
                "html": "<p>{{ context.code }}</p>{% if context.amount %}{{ context.amount | format_currency('EUR') }}"
                "{% endif %}",
            }
        },
    },
}
SMS_CAMPAIGN: dict[str, Any] = {
    "name": "Canary SMS",
    "channel": "sms",
    "audience": {"namespace": "crmId"},
    "contextSchema": None,
    "sender": {"originationIdentity": "+18005550100"},
    "content": {"defaultLocale": "en-US", "locales": {"en-US": {"body": "Code {{ context.code }}"}}},
}
PUSH_CAMPAIGN: dict[str, Any] = {
    "name": "Canary push",
    "channel": "push",
    "audience": {"namespace": "crmId"},
    "contextSchema": None,
    "content": {
        "defaultLocale": "en-US",
        "locales": {"en-US": {"title": "Code", "body": "{{ context.code }}", "data": {"c": "{{ context.code }}"}}},
    },
}


def _email_recipient(kind: str, address: str | None = None, **context: Any) -> dict[str, Any]:
    return {
        "userId": f"crm-{kind}",
        "channelData": {"emailAddress": address or EMAIL[kind]},
        "context": {"code": SECRET[kind], **context},
    }


# ---------------------------------------------------------------------------
# What the run leaves behind
# ---------------------------------------------------------------------------
@dataclass
class Traces:
    """What the functions hand to X-Ray (annotations, metadata, exceptions). Tests run with tracing
    disabled, so each place a value would enter a segment is recorded instead."""

    recorded: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from aws_lambda_powertools import Tracer
        from aws_xray_sdk.core.models.dummy_entities import DummySegment, DummySubsegment
        from aws_xray_sdk.core.models.entity import Entity

        def recorder(kind: str) -> Callable[..., None]:
            def record(_self: Any, *args: Any, **kwargs: Any) -> None:
                self.recorded.append(f"{kind} {args!r} {kwargs!r}")

            return record

        for owner in (Entity, DummySegment, DummySubsegment, Tracer):
            for method in ("put_annotation", "put_metadata", "add_exception"):
                if hasattr(owner, method):
                    monkeypatch.setattr(owner, method, recorder(method))


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Traces:
    captured = Traces()
    captured.install(monkeypatch)
    return captured


@pytest.fixture
def debug_logs() -> Iterator[list[str]]:
    """Every line the functions' logger writes, at DEBUG, formatted as CloudWatch would receive it;
    and whatever any other logger says at INFO or above (botocore, the emulator, the libraries)."""
    from campaign_engine.observability import logger

    lines: list[str] = []
    formatter = logger.registered_formatter

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record) if record.name == logger.name else self.format(record))

    handler = Lines(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    level = logger.log_level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    root_level = root.level
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(root_level)
    logger.removeHandler(handler)
    logger.setLevel(level)


def _tables(template: Template) -> dict[str, list[dict[str, Any]]]:
    client = boto3.client("dynamodb", region_name=REGION)
    found = {}
    for table in client.list_tables()["TableNames"]:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=table):
            items += page["Items"]
        found[table] = items
    return found


def _queues() -> dict[str, list[str]]:
    client = boto3.client("sqs", region_name=REGION)
    found: dict[str, list[str]] = {}
    for url in client.list_queues().get("QueueUrls", []):
        bodies = found.setdefault(url.rsplit("/", 1)[1], [])
        while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        ):
            bodies += [json.dumps(m) for m in batch]
    return found


PERSONAL = [*EMAIL.values(), BAD_EMAIL, PHONE_OK, PHONE_BAD, PHONE_OK[1:], TOKEN, *SECRET.values()]
# Also caught when only the local part of an address shows (a provider's text, a Received header)
PATTERN = re.compile("|".join(re.escape(value) for value in [*PERSONAL, "pii-canary-", "canary-secret-"]))


def _found(text: str) -> set[str]:
    return set(PATTERN.findall(text))


def _table_role(table: str, template: Template) -> str:
    for logical in ("ProfilesTable", "ExecutionsTable", "CampaignsTable", "ApiKeysTable", "AudiencesTable"):
        if template.table_name(logical) == table:
            return logical
    return table


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
@dataclass
class Run:
    executions: list[str]
    verdicts: dict[str, dict[str, Any]]


def _full_run(api: Api, queue: Queue, faulty_ses: Callable[[Any], FaultySes], monkeypatch: pytest.MonkeyPatch) -> Run:
    from campaign_engine import queue_message

    monkeypatch.setattr(queue_message, "backoff_seconds", lambda receive_count: 0)
    refused_text = f"Email address is not verified: {EMAIL['refused']} (+{PHONE_OK[1:]})"

    def ses_rule(to: str, attempt: int) -> Fault | None:
        if to == EMAIL["throttled"] and attempt == 1:
            return Fault(throttled())
        if to == EMAIL["refused"]:
            return Fault(ses_error("MessageRejected", 400, refused_text))
        return None

    faulty_ses(ses_rule)
    # A suppressed address (its entry keeps the address in clear: allowed, see below)
    added = api.call(
        "api",
        "api/add_suppressions.json",
        body={"entries": [{"channel": "email", "address": EMAIL["suppressed"], "reason": "manual"}]},
    )
    assert added.status in (200, 201), added.body
    boto3.client("sns", region_name=REGION).create_platform_application(
        Name="com.example.app", Platform="APNS", Attributes={}
    )

    executions, verdicts = [], {}

    def trigger(campaign: dict[str, Any], recipients: list[dict[str, Any]], request_id: str) -> None:
        body = {"requestId": request_id, "campaignId": campaign["id"], "recipients": recipients}
        answer = api.trigger(body)
        assert answer.status == 202, answer.body
        executions.append(answer.body["executionId"])
        verdicts.update({v["userId"]: v for v in answer.body["recipients"]})

    email = api.live_campaign(**EMAIL_CAMPAIGN)
    trigger(
        email,
        [
            _email_recipient("ok"),
            _email_recipient("render", amount=SECRET["render"] + "-amount"),
            _email_recipient("suppressed"),
            _email_recipient("throttled"),
            _email_recipient("refused"),
            _email_recipient("bounce"),
            _email_recipient("complaint"),
            {
                "userId": "crm-invalid",
                "channelData": {"emailAddress": BAD_EMAIL},
                "context": {"code": SECRET["invalid"]},
            },
            {
                "userId": "crm-context",
                "channelData": {"emailAddress": EMAIL["ok"]},
                "context": {"code": SECRET["context"] * 3},
            },
        ],
        f"canary-email-{RUN}",
    )
    private = api.live_campaign(
        **{**EMAIL_CAMPAIGN, "name": "Canary one-time code", "privacy": {"retainMessages": False}}
    )
    trigger(
        private,
        [_email_recipient("otp"), _email_recipient("otp-render", amount=SECRET["otp-render"] + "-amount")],
        f"canary-otp-{RUN}",
    )
    sms = api.live_campaign(**SMS_CAMPAIGN)
    trigger(
        sms,
        [
            {"userId": "crm-sms", "channelData": {"mobilePhoneNumber": PHONE_OK}, "context": {"code": SECRET["sms"]}},
            {
                "userId": "crm-sms-bad",
                "channelData": {"mobilePhoneNumber": PHONE_BAD},
                "context": {"code": SECRET["sms-bad"]},
            },
        ],
        f"canary-sms-{RUN}",
    )
    push = api.live_campaign(**PUSH_CAMPAIGN)
    push_info = {"appID": "com.example.app", "platform": "apns", "token": TOKEN}
    trigger(
        push,
        [{"userId": "crm-push", "channelData": {"pushInfo": push_info}, "context": {"code": SECRET["push"]}}],
        f"canary-push-{RUN}",
    )

    drain_delivery(queue)
    status = _statuses(api, executions)
    # SES's feedback: a hard bounce whose diagnostic quotes the address, and a complaint
    for kind, name in (("bounce", "email_bounced"), ("complaint", "email_complaint")):
        event = load_event(f"feedback/{name}.json")
        mail = event["detail"]["mail"]
        mail["messageId"] = mail["commonHeaders"]["messageId"] = status[f"crm-{kind}"]["messageId"]
        mail["destination"] = mail["commonHeaders"]["to"] = [EMAIL[kind]]
        # SES's events carry the message's headers: its subject holds the code
        mail["commonHeaders"]["subject"] = f"Your code {SECRET[kind]}"
        mail["headers"] = [
            {"name": "To", "value": EMAIL[kind]},
            {"name": "Subject", "value": f"Your code {SECRET[kind]}"},
        ]
        mail["tags"].update(
            {"campaignId": [email["id"]], "executionId": [executions[0]], "ses:configuration-set": [_config_set()]}
        )
        from campaign_engine import ses_tags

        mail["tags"]["recipient"] = [ses_tags.recipient_tag(f"crm-{kind}")]
        if kind == "bounce":
            bounced = event["detail"]["bounce"]["bouncedRecipients"][0]
            bounced["emailAddress"] = EMAIL[kind]
            bounced["diagnosticCode"] = f"smtp; 550 5.1.1 <{EMAIL[kind]}>: Recipient address rejected"
        else:
            event["detail"]["complaint"]["complainedRecipients"][0]["emailAddress"] = EMAIL[kind]
        assert on_event(event)["outcome"] == "applied", kind
    return Run(executions, verdicts)


def _config_set() -> str:
    import os

    return os.environ["SES_CONFIGURATION_SET"]


def _statuses(api: Api, executions: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for execution_id in executions:
        answer = api.execution(execution_id, limit="1000")
        assert answer.status == 200, answer.body
        found.update({r["userId"]: r for r in answer.body["recipients"]})
    return found


def test_a_full_run_leaves_personal_data_only_where_it_must_be(
    api: Api,
    queue: Queue,
    aws_env: Template,
    faulty_ses: Callable[[Any], FaultySes],
    monkeypatch: pytest.MonkeyPatch,
    traces: Traces,
    debug_logs: list[str],
) -> None:
    # Given a run over email, SMS and push through every path: sent, render error, suppressed,
    # throttled then sent, refused by the provider, bounced, complained, invalid addresses
    run = _full_run(api, queue, faulty_ses, monkeypatch)
    status = _statuses(api, run.executions)
    outcomes = {user_id: (r["status"], r.get("reason")) for user_id, r in status.items()}
    assert outcomes == {
        "crm-ok": ("sent", None),
        "crm-render": ("failed", "render_error"),
        "crm-suppressed": ("excluded", "suppressed"),
        "crm-throttled": ("sent", None),
        "crm-refused": ("failed", "send_failed"),
        "crm-bounce": ("bounced", outcomes["crm-bounce"][1]),
        "crm-complaint": ("complained", outcomes["crm-complaint"][1]),
        "crm-invalid": ("excluded", "invalid_address"),
        "crm-context": ("excluded", "invalid_context"),
        "crm-otp": ("sent", None),
        "crm-otp-render": ("failed", "render_error"),
        "crm-sms": ("sent", None),
        "crm-sms-bad": ("excluded", "invalid_address"),
        "crm-push": ("sent", None),
    }

    # Then the answers (what the caller and the console see, stored with the execution) quote none of it
    assert _found(json.dumps(run.verdicts)) == set()
    assert _found(json.dumps(status)) == set()
    # ... nor the logs, at DEBUG
    assert len(debug_logs) > 10
    assert _found("\n".join(debug_logs)) == set()
    # ... nor what would go to X-Ray
    assert _found("\n".join(traces.recorded)) == set()

    # ... nor any table, but where personal data must be kept:
    allowed = {
        # profiles the trigger created (createProfiles) keep their address; the suppression list keeps
        # the address in clear beside its digest key (erasure removes both: tests/integration/test_erasure.py)
        "ProfilesTable": {EMAIL[k] for k in ("ok", "throttled", "refused", "bounce", "complaint", "otp", "render")}
        | {EMAIL["otp-render"], EMAIL["suppressed"], PHONE_OK, TOKEN},
    }
    tables = {_table_role(table, aws_env): items for table, items in _tables(aws_env).items()}
    assert EMAIL["suppressed"] in _found(json.dumps(tables["ProfilesTable"]))  # the search sees what is there
    for role, items in tables.items():
        found = _found(json.dumps(items))
        assert found <= allowed.get(role, set()), f"{role} holds {sorted(found - allowed.get(role, set()))}"
        # No context value is kept anywhere once delivered, not even in profiles
        assert not any(value in found for value in SECRET.values()), role

    # ... nor any queue: every message was delivered and deleted, none dead-lettered
    for name, bodies in _queues().items():
        assert bodies == [], f"{name} still holds {len(bodies)} messages"


def test_every_item_an_execution_leaves_expires(
    api: Api, queue: Queue, aws_env: Template, faulty_ses: Callable[[Any], FaultySes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the same full run
    _full_run(api, queue, faulty_ses, monkeypatch)

    # Then every item of the executions table carries the table's TTL attribute, in the future, but
    # the report counters: per campaign and hour, counts only (no recipient), kept for reports
    table = aws_env.table_name("ExecutionsTable")
    items = _tables(aws_env)[table]
    kinds: dict[str, int] = {}
    for item in items:
        kind = re.sub(r"[#|].*", "", item["pk"]["S"]) + "/" + re.sub(r"[#|].*", "", item["sk"]["S"])
        kinds[kind] = kinds.get(kind, 0) + 1
        if item["pk"]["S"].startswith("STATS#"):
            assert not _found(json.dumps(item)), item
            continue
        assert "expiresAt" in item, f"{kind} has no expiresAt: {sorted(item)}"
    assert len(kinds) >= 3, kinds  # requests, recipients, outcome batches at least
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"


def test_a_campaign_that_keeps_no_messages_keeps_no_detail_that_could_quote_them(
    api: Api, queue: Queue, aws_env: Template, faulty_ses: Callable[[Any], FaultySes], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _full_run(api, queue, faulty_ses, monkeypatch)
    status = _statuses(api, run.executions)
    # The same render error: an ordinary campaign says which helper failed on which path; the
    # one-time-code campaign says only that it failed
    assert status["crm-render"]["detail"] == "en-US html, line 1: format_currency: 'context.amount' is not a number"
    assert status["crm-otp-render"]["detail"] == (
        "The template could not be rendered for this recipient "
        "(detail not kept: the campaign's privacy.retainMessages is false)"
    )
    assert status["crm-otp"]["status"] == "sent"

    campaign = api.call("api", "api/get_campaign.json", path_params={"campaignId": _campaign_of(api, run, "crm-otp")})
    assert campaign.body["privacy"] == {"retainMessages": False}


def _campaign_of(api: Api, run: Run, user_id: str) -> str:
    for execution_id in run.executions:
        answer = api.execution(execution_id, limit="1000").body
        if any(r["userId"] == user_id for r in answer["recipients"]):
            return str(answer["campaignId"])
    raise AssertionError(user_id)
