"""Shared fixtures: AWS emulated in-process by moto, with tables and queues built from template.yaml.

Handlers are invoked with the JSON events in events/, so a test exercises what
`sam local invoke -e` and API Gateway would hand the functions."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from moto import mock_aws

from local import harness, iam
from local.emulator import Emulator
from local.harness import ROOT, load_event
from local.stack import local_parameters
from local.template import REGION, Template

# A render, a schema check or a request that has not answered within this is a hang: the limit only
# tells a hang from an answer, it says nothing about speed.
HANG_GUARD_SECONDS = 20
T = TypeVar("T")


def finishes(work: Callable[[], T]) -> T:
    """`work()`, run on a daemon thread so that a hang fails the test instead of the test run."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), f"no answer after {HANG_GUARD_SECONDS} s: the work is unbounded"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


# The deployment the tests emulate: the sender domain and push app the fixtures create are the ones
# the delivery role may use.
TEST_PARAMETERS = local_parameters(["example.com"], ["com.example.app"])


class InProcessAws(Emulator):
    """The local stack's resource creation, pointed at moto's in-process mock instead of its server."""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Template]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with mock_aws():
        template = Template.load(ROOT / "template.yaml", parameters=TEST_PARAMETERS)
        for name, value in template.environment().items():
            monkeypatch.setenv(name, value)
        # Each test reads the campaign afresh; the cache's own behaviour has its own test.
        monkeypatch.setenv("CAMPAIGN_CACHE_SECONDS", "0")
        InProcessAws().create_resources(template, ["example.com"])
        _ses_backend().sent_messages.clear()  # moto keeps SES's and SNS's records across mocks
        _sns_backend().sms_messages.clear()
        harness.reset_containers()
        enforcer = iam.install(iam.enforcer_for(str(ROOT / "template.yaml"), **TEST_PARAMETERS))
        yield template
        iam.uninstall(enforcer)
        harness.reset_containers()


@pytest.fixture(autouse=True)
def _no_access_denied() -> Iterator[None]:
    """Fails the test during which a function made an AWS call its template role does not allow,
    even if the code under test swallowed the AccessDenied error (see local/iam.py)."""
    yield
    denials = iam.take_denials()
    if denials:
        pytest.fail("AWS would refuse these calls:\n" + "\n".join(sorted({str(d) for d in denials})), pytrace=False)


@cache
def _functions_by_code_dir() -> dict[str, str]:
    """functions/<dir> -> logical id of the template's function whose CodeUri it is."""
    template = Template.load(ROOT / "template.yaml")
    return {Path(spec.code_uri).name: logical_id for logical_id, spec in template.functions().items()}


Handler = Callable[[Any, Any], Any]


def function_handler(folder: str, *, container: str | None = None) -> Handler:
    """functions/<folder>/app.py's handler, run with the role template.yaml gives its function, as on AWS.

    With `container`, the handler of a fresh load of the function, as a second Lambda container has."""
    module = harness.load_function(folder, container=container)
    return iam.as_function(_functions_by_code_dir()[folder], module.handler)


def invoke(folder: str, event: Any, handler: Handler | None = None, context: Any = None) -> Any:
    """Runs the function (or that `handler` of it) on `event`, with `context` or a fresh invocation's."""
    return (handler or function_handler(folder))(event, context or harness.lambda_context(folder))


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    """Invokes the real handlers with API Gateway v2 events built from the files in events/."""

    admin_scopes: str = "admin"

    def call(
        self,
        function: str,
        event_file: str,
        *,
        body: Any = None,
        path_params: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        scopes: str | None = None,
        raw_body: str | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> HttpAnswer:
        return self.call_event(
            function,
            load_event(event_file),
            path_params,
            body=body,
            query=query,
            scopes=scopes,
            raw_body=raw_body,
            authorizer=authorizer,
        )

    def call_event(
        self,
        function: str,
        event: dict[str, Any],
        path_params: dict[str, str] | None = None,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        scopes: str | None = None,
        raw_body: str | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> HttpAnswer:
        event = harness.api_event(
            event,
            body=body,
            raw_body=raw_body,
            path_params=path_params,
            query=query,
            authorizer_context=authorizer,
            scopes=scopes,
        )
        answer = invoke(function, event)
        text = answer.get("body") or ""
        headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        parsed = json.loads(text) if text and "json" in headers.get("content-type", "") else text
        return HttpAnswer(answer["statusCode"], headers, parsed)

    def create_campaign(self, **overrides: Any) -> dict[str, Any]:
        body = json.loads(load_event("api/create_campaign.json")["body"])
        body.update(overrides)
        answer = self.call("api", "api/create_campaign.json", body=body)
        assert answer.status == 201, answer.body
        return answer.body

    def live_campaign(self, **overrides: Any) -> dict[str, Any]:
        created = self.create_campaign(**overrides)
        answer = self.call("api", "api/activate_campaign.json", path_params={"campaignId": created["id"]})
        assert answer.status == 200, answer.body
        return answer.body

    def trigger(self, body: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        return self.call("trigger", "trigger/unitary.json", body=body, **kwargs)

    def execution(self, execution_id: str, **query: str) -> HttpAnswer:
        return self.call(
            "api", "api/get_execution.json", path_params={"executionId": execution_id}, query=query or None
        )


@pytest.fixture
def api(aws_env: Template) -> Api:
    return Api()


def trigger_body(campaign_id: str, recipients: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    body = json.loads(load_event("trigger/unitary.json")["body"])
    body["campaignId"] = campaign_id
    if recipients is not None:
        body["recipients"] = recipients
    body.update(extra)
    return body


@dataclass
class Queue:
    """Reads the delivery queue as Lambda's event source mapping would, and runs the delivery handler."""

    url: str

    def receive(self, max_messages: int = 10, visibility: int | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max_messages,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility is not None:
            kwargs["VisibilityTimeout"] = visibility
        return boto3.client("sqs", region_name=REGION).receive_message(**kwargs).get("Messages", [])

    def as_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return harness.sqs_event(messages, harness.queue_arn(self.url))

    def deliver(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Runs the handler and deletes what it did not report as failed, like the event source mapping."""
        result: dict[str, Any] = invoke("delivery", self.as_event(messages))
        client = boto3.client("sqs", region_name=REGION)
        harness.delete_processed(client, self.url, messages, harness.kept_in_queue(result, messages))
        return result

    def drain(self, rounds: int = 50, visibility: int | None = None) -> int:
        """Delivers until the queue is empty (or rounds run out); returns how many messages were handled."""
        handled = 0
        for _ in range(rounds):
            messages = self.receive(visibility=visibility)
            if not messages:
                return handled
            self.deliver(messages)
            handled += len(messages)
        return handled

    def depth(self) -> int:
        attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def queue(aws_env: Template) -> Queue:
    return Queue(os.environ["DELIVERY_QUEUE_URL"])


def _ses_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][REGION]


def _sns_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID][REGION]


def sent_emails() -> list[dict[str, Any]]:
    """What moto's SES recorded, parsed: (to, subject, html, text)."""
    import email
    from email import policy

    backend = _ses_backend()
    out = []
    for sent in backend.sent_messages:
        raw = getattr(sent, "raw_data", None)
        if raw is None:
            continue
        message = email.message_from_string(raw, policy=policy.default)
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        out.append(
            {
                "id": sent.id,
                "to": [a.strip() for a in str(message["to"]).split(",")],
                "subject": str(message["subject"]),
                "from": str(message["from"]),
                "html": html.get_content() if html else None,
                "text": text.get_content() if text else None,
            }
        )
    return out


@pytest.fixture
def outbox(aws_env: Template) -> Callable[[], list[dict[str, Any]]]:
    return sent_emails


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Any]:
    """The local stack (`python -m local`), started once for the e2e and the browser tests (one stack
    per process: its functions read os.environ). tests/e2e/conftest.py says how its waits work."""
    from tests.e2e.conftest import WatchedStack

    stack = WatchedStack(port=0, moto_port=0).start()
    try:
        yield stack
    finally:
        stack.stop()


TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark e2e tests, and run them and the browser tests last: the local stack they share shares
    moto's state with the in-process mocks other tests use (its pollers would take their queues'
    messages), and lives until the session ends."""
    e2e = [item for item in items if TESTS / "e2e" in item.path.parents]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    browser = [item for item in items if TESTS / "browser" in item.path.parents]
    chosen = set(map(id, e2e + browser))
    items[:] = [item for item in items if id(item) not in chosen] + e2e + browser
