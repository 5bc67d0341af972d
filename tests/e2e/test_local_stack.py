"""The local stack itself: what `make run` serves, over the real template and functions, and how its
gateway, SQS poller, ticker and outbox behave, over a small template of fake functions run by
`python -m local` in a process of its own (one stack per process, since they share os.environ)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local import Stack, client, demo_trigger
from local.emulator import aws_client
from local.template import Template
from tests.e2e.conftest import STALL_SECONDS, queue_progress, stack_progress, wait_for

ROOT = Path(__file__).resolve().parents[2]
NOT_FOUND = {"message": "Not Found"}
UNAUTHORIZED = {"message": "Unauthorized"}


# ---------------------------------------------------------------------------
# The real stack
# ---------------------------------------------------------------------------


def test_health_needs_no_key(local_stack: Stack) -> None:
    status, _, _ = local_stack.request("GET", "/im/health", key=None)
    assert status == 200


def test_a_route_with_the_authorizer_needs_an_authorization_header(local_stack: Stack) -> None:
    assert local_stack.request("GET", "/campaigns", key=None)[::2] == (401, UNAUTHORIZED)


def test_unknown_routes_are_api_gateways_404(local_stack: Stack) -> None:
    assert local_stack.request("GET", "/nope")[::2] == (404, NOT_FOUND)
    assert local_stack.request("PUT", "/im/health")[::2] == (404, NOT_FOUND), "a known path, another method"


def test_the_console_folder_is_the_console_page(local_stack: Stack) -> None:
    """/console/ has no route (no HTTP API route may end in "/"): as API Gateway does, the gateway gives it
    GET /console, and the console answers its page there; /console still redirects to it."""
    status, headers, page = local_stack.request("GET", "/console/", key=None)
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    _, same_headers, same_page = local_stack.request("GET", "/console/index.html", key=None)
    assert (page, headers["etag"]) == (same_page, same_headers["etag"])
    assert "content-security-policy" in headers
    status, headers, _ = local_stack.request("GET", "/console", key=None)
    assert (status, headers["location"]) == (308, "console/index.html")


def test_every_route_of_the_template_reaches_its_function(local_stack: Stack) -> None:
    for route in Template.load(ROOT / "template.yaml").http_routes():
        path = route.path.replace("{campaignId}", "missing").replace("{executionId}", "missing")
        status, _, body = local_stack.request(route.method, path)
        assert body != NOT_FOUND, route.route_key
        assert status < 500, (route.route_key, status, body)


def test_a_triggered_email_shows_in_the_outbox_until_cleared(local_stack: Stack) -> None:
    campaign_id = local_stack.seed_demo()
    request_id = f"outbox-{uuid.uuid4()}"
    status, _, answer = local_stack.request("POST", "/im/executions/unitary", demo_trigger(campaign_id, request_id))
    assert status == 202, answer

    def mine() -> list[dict[str, Any]]:
        status, _, body = local_stack.request("GET", "/_local/outbox")
        assert status == 200, body
        return [item for item in body["items"] if item["requestId"] == request_id]

    (item,) = wait_for(mine, progress=stack_progress(local_stack))
    assert item["channel"] == "email"
    assert item["to"] == "ada@example.com"
    assert "hello@example.com" in item["from"]
    assert item["subject"] == "Welcome, Ada"
    assert "<b>123456</b>" in item["html"]
    assert item["body"] is None
    assert (item["campaignId"], item["userId"], item["executionId"]) == (
        campaign_id,
        "ada@example.com",
        answer["executionId"],
    )
    assert item["messageId"]
    assert item["sentAt"].endswith("Z")
    assert item["headers"]["Subject"] == "Welcome, Ada"

    status, _, _ = local_stack.request("DELETE", "/_local/outbox")
    assert status == 204
    assert mine() == []


def test_a_thousand_recipients_sent_four_times_at_once_are_one_execution_and_one_email_each(
    local_stack: Stack,
) -> None:
    # Given a live campaign and one call of 1,000 recipients, which a client sends four times at once
    campaign_id = local_stack.seed_demo()
    run = uuid.uuid4().hex[:8]
    body = demo_trigger(campaign_id, f"thousand-{run}")
    template = body["recipients"][0]
    addresses = [f"t{run}-{i}@example.com" for i in range(1000)]
    body["recipients"] = [
        {**template, "userId": a, "channelData": {"emailAddress": a}, "context": {"code": f"{i:06d}"}}
        for i, a in enumerate(addresses)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: local_stack.request("POST", "/im/executions/unitary", body), range(4)))

    # Then every answer is the same execution, with all 1,000 accepted
    assert {status for status, _, _ in answers} == {202}
    assert len({answer["executionId"] for _, _, answer in answers}) == 1
    execution_id = answers[0][2]["executionId"]
    assert all(sum(r["status"] == "accepted" for r in answer["recipients"]) == 1000 for _, _, answer in answers)

    # And every recipient is sent exactly one email, and recorded sent, page by page (waiting as
    # long as sends, queues or recipients still move). The sends are watched in-process: reading
    # the status of 1,000 recipients every second costs the emulator more than their delivery.
    assert local_stack.outbox is not None
    outbox, wanted = local_stack.outbox, set(addresses)

    def sent_to() -> Counter[str]:
        return Counter(item["to"] for channel in outbox.channels for item in channel.messages() if item["to"] in wanted)

    progress = stack_progress(local_stack)
    wait_for(lambda: len(sent_to()), until=lambda count: count == 1000, progress=progress, interval=1)
    status = wait_for(
        lambda: local_stack.request("GET", f"/im/executions/{execution_id}?limit=1")[2],
        until=lambda status: status["counts"].get("sent") == 1000,
        progress=progress,
        interval=1,
    )
    assert status["status"] == "completed"
    assert sent_to() == dict.fromkeys(addresses, 1)
    seen: list[str] = []
    token = None
    while True:
        query = f"?limit=400&nextToken={token}" if token else "?limit=400"
        _, _, page = local_stack.request("GET", f"/im/executions/{execution_id}{query}")
        seen += [r["userId"] for r in page["recipients"] if r["status"] == "sent"]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(addresses)


def test_an_emulator_slower_than_aws_answers_slowly_not_with_errors(local_stack: Stack) -> None:
    # On a slow or busy machine the emulator can take longer over one call than the functions'
    # botocore read timeout, tuned for AWS (5 s, four attempts): that must not become a 500.
    campaign_id = local_stack.seed_demo()
    server = local_stack.emulator._server._server  # type: ignore[union-attr]
    answer = server.app

    def slow_reads(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".GetItem"):
            time.sleep(6)
        return answer(environ, start_response)

    server.app = slow_reads
    try:
        status, _, campaign = local_stack.request("GET", f"/campaigns/{campaign_id}")
    finally:
        server.app = answer
    assert status == 200, campaign
    assert campaign["id"] == campaign_id


def test_the_local_routes_need_the_admin_key(local_stack: Stack) -> None:
    assert local_stack.request("GET", "/_local/outbox", key=None)[::2] == (401, UNAUTHORIZED)
    status, headers, body = local_stack.request("DELETE", "/_local/outbox", key="tc_not-a-key-at-all")
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert body["code"] == "unauthorized"


def test_tick_runs_the_scheduled_functions_of_the_template(local_stack: Stack) -> None:
    scheduled = [schedule.function for schedule in Template.load(ROOT / "template.yaml").schedules()]
    assert local_stack.request("POST", "/_local/tick")[::2] == (200, {"ran": scheduled, "failed": []})


# ---------------------------------------------------------------------------
# Fake functions, to pin down the emulation itself
# ---------------------------------------------------------------------------

ADMIN_KEY = "fake-admin-key-0123456789"

FAKE_FILES = {
    "template.yaml": """
        Transform: AWS::Serverless-2016-10-31
        Globals:
          Function:
            Runtime: python3.13
            Timeout: 5
            MemorySize: 128
            Layers: [!Ref CoreLayer]
            Environment:
              Variables:
                JOBS_QUEUE_URL: !GetAtt JobsQueue.QueueUrl
                SLOW_QUEUE_URL: !GetAtt SlowQueue.QueueUrl
                EXECUTIONS_TABLE: !Ref ExecutionsTable
        Resources:
          ExecutionsTable:
            Type: AWS::DynamoDB::Table
            Properties:
              BillingMode: PAY_PER_REQUEST
              AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: S}]
              KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
          JobsDlq:
            Type: AWS::SQS::Queue
            Properties: {QueueName: !Sub "${AWS::StackName}-jobs-dlq"}
          JobsQueue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Sub "${AWS::StackName}-jobs"
              VisibilityTimeout: 2
              RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 2}
          SlowDlq:
            Type: AWS::SQS::Queue
            Properties: {QueueName: !Sub "${AWS::StackName}-slow-dlq"}
          SlowQueue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Sub "${AWS::StackName}-slow"
              # Longer than a run lasts here (1.5 s, not stopped at 1 s): the record reappears only after
              # the run that timed out has logged it, so each receive's timeout is in the log when the
              # third receive dead-letters it.
              VisibilityTimeout: 2
              RedrivePolicy: {deadLetterTargetArn: !GetAtt SlowDlq.Arn, maxReceiveCount: 2}
          CoreLayer:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layers/core/}
          AuthorizerFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: functions/authorizer/, Handler: app.handler}
          EchoFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/echo/
              Handler: app.handler
              Timeout: 7
              Policies:
                - SQSSendMessagePolicy: {QueueName: !GetAtt JobsQueue.QueueName}
                - SQSSendMessagePolicy: {QueueName: !GetAtt SlowQueue.QueueName}
              Events:
                Ping: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /ping, Method: GET, Auth: {Authorizer: NONE}}}
                Item: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: "/items/{itemId}", Method: GET}}
                Special: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /items/special, Method: GET}}
                Files: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: "/files/{proxy+}", Method: ANY}}
                Upload: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /upload, Method: POST}}
                Plain: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /plain, Method: GET}}
                Boom: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /boom, Method: GET}}
                Jobs: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /jobs, Method: POST}}
                Record: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /record, Method: POST}}
                Slow: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /slow, Method: POST}}
          WorkerFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/worker/
              Handler: app.handler
              Policies:
                - SESCrudPolicy: {IdentityName: example.com}
                - DynamoDBWritePolicy: {TableName: !Ref ExecutionsTable}
              Events:
                Jobs:
                  Type: SQS
                  Properties:
                    Queue: !GetAtt JobsQueue.Arn
                    BatchSize: 5
                    FunctionResponseTypes: [ReportBatchItemFailures]
                    ScalingConfig: {MaximumConcurrency: 2}
          # Runs past its 1 s Timeout on every record.
          SlowFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/slow/
              Handler: app.handler
              Timeout: 1
              Events:
                Slow: {Type: SQS, Properties: {Queue: !GetAtt SlowQueue.Arn, BatchSize: 1}}
          SweepFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/sweep/
              Handler: app.handler
              Events:
                Daily: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
          HttpApi:
            Type: AWS::Serverless::HttpApi
            Properties:
              Auth:
                DefaultAuthorizer: KeyAuthorizer
                Authorizers:
                  KeyAuthorizer:
                    FunctionArn: !GetAtt AuthorizerFunction.Arn
                    AuthorizerPayloadFormatVersion: "2.0"
                    EnableSimpleResponses: true
                    Identity: {Headers: [Authorization], ReauthorizeEvery: 300}
    """,
    # What the local stack needs from the core layer: seeding a key and reading a principal.
    "layers/core/python/campaign_engine/__init__.py": "",
    "layers/core/python/campaign_engine/errors.py": """
        from dataclasses import dataclass

        @dataclass
        class DomainError(Exception):
            code: str
            detail: str
            status: int = 400
            title: str = ""
    """,
    "layers/core/python/campaign_engine/auth.py": """
        from campaign_engine.errors import DomainError

        def create_api_key(name, scopes, key=None):
            return key or "generated"

        def principal_from_context(context):
            if not context or not context.get("authenticated"):
                raise DomainError("unauthorized", "no key", 401, "Unauthorized")
            return set(context["scopes"].split())

        def require(principal, scope):
            if scope not in principal:
                raise DomainError("forbidden", f"needs {scope}", 403, "Forbidden")
    """,
    "functions/authorizer/app.py": """
        CALLS = []

        def handler(event, context):
            CALLS.append(event)
            token = event["headers"]["authorization"].removeprefix("Bearer ")
            if token == "boom":
                raise RuntimeError("the authorizer broke")
            scopes = {"fake-admin-key-0123456789": "admin", "reader": "campaigns:read"}.get(token)
            shown = {k: event[k] for k in ("type", "routeArn", "identitySource", "routeKey", "rawPath")}
            context = {"authenticated": scopes is not None, "scopes": scopes or "", "calls": len(CALLS), **shown}
            return {"isAuthorized": token != "deny", "context": context}
    """,
    "functions/echo/app.py": """
        import json, os
        import boto3

        def handler(event, context):
            route = event["routeKey"]
            if route == "GET /boom":
                raise RuntimeError("boom")
            if route == "GET /plain":
                return {"hello": "world"}
            if route == "POST /record":  # a write its role (SQSSendMessagePolicy only) does not allow
                try:
                    boto3.client("dynamodb").put_item(
                        TableName=os.environ["EXECUTIONS_TABLE"], Item={"pk": {"S": "p"}, "sk": {"S": "s"}}
                    )
                except Exception as error:
                    refusal = json.dumps(getattr(error, "response", {}).get("Error"))
                    return {"statusCode": 403, "headers": {"Content-Type": "application/json"}, "body": refusal}
                return {"statusCode": 201, "body": ""}
            if route == "POST /slow":
                boto3.client("sqs").send_message(QueueUrl=os.environ["SLOW_QUEUE_URL"], MessageBody=event["body"])
                return {"statusCode": 202, "body": ""}
            if route == "POST /jobs":
                sqs = boto3.client("sqs")
                for job in json.loads(event["body"]):
                    sqs.send_message(
                        QueueUrl=os.environ["JOBS_QUEUE_URL"],
                        MessageBody=json.dumps(job),
                        MessageAttributes={"kind": {"DataType": "String", "StringValue": "job"}},
                    )
                return {"statusCode": 202, "body": ""}
            seen = {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining": context.get_remaining_time_in_millis(),
            }
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
                "cookies": ["a=1", "b=2"],
                "body": json.dumps({"event": event, "context": seen}),
            }
    """,
    # Each job becomes an email whose text is the SQS record it came in, and a recipient item.
    "functions/worker/app.py": """
        import json, os
        from email.message import EmailMessage
        import boto3

        def handler(event, context):
            failures = []
            for record in event["Records"]:
                job = json.loads(record["body"])
                if job.get("fail"):
                    failures.append({"itemIdentifier": record["messageId"]})
                    continue
                mime = EmailMessage()
                mime["From"], mime["To"], mime["Subject"] = "Worker <worker@example.com>", job["to"], f"Job {job['n']}"
                mime.set_content(json.dumps(record))
                mime.add_alternative(f"<p>job {job['n']}</p>", subtype="html")
                message_id = boto3.client("sesv2").send_email(
                    FromEmailAddress="worker@example.com",
                    Destination={"ToAddresses": [job["to"]]},
                    Content={"Raw": {"Data": mime.as_bytes()}},
                )["MessageId"]
                item = {"pk": "E#e1", "sk": f"R#{job['n']}", "messageId": message_id, "executionId": "e1",
                        "userId": job["to"], "campaignId": "c1", "requestId": f"r{job['n']}"}
                boto3.client("dynamodb").put_item(
                    TableName=os.environ["EXECUTIONS_TABLE"], Item={k: {"S": v} for k, v in item.items()}
                )
            return {"batchItemFailures": failures}
    """,
    "functions/slow/app.py": """
        import time

        def handler(event, context):
            time.sleep(1.5)
    """,
    "functions/sweep/app.py": """
        def handler(event, context):
            assert event["detail-type"] == "Scheduled Event"
    """,
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FakeStack:
    base_url: str
    moto_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def request(self, method: str, path: str, body: Any = None, key: str | None = ADMIN_KEY, **kw: Any) -> Any:
        # Its functions answer at once: an answer that takes the stall limit is not coming.
        kw.setdefault("timeout", STALL_SECONDS)
        return client.request(self.base_url, method, path, body=body, key=key, **kw)

    def aws(self, service: str) -> Any:
        return aws_client(service, self.moto_url)


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeStack]:
    root = tmp_path_factory.mktemp("fake-root")
    for name, text in FAKE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    port, moto_port = _free_port(), _free_port()
    # Only the repository on the path: campaign_engine must come from the fake layer.
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOCAL_API_KEY": ADMIN_KEY,
        "LOCAL_SENDER_DOMAINS": "corp.test",
    }
    log = root / "stack.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", str(port), "--moto-port", str(moto_port), "--root", str(root)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    stack = FakeStack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", process, log)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return stack.request("GET", "/ping")[0] == 200 and "Local stack ready" in log.read_text()
        except OSError:
            return False

    try:
        wait_for(ready, progress=lambda: log.stat().st_size)
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_requests_become_payload_2_events(fake: FakeStack) -> None:
    status, headers, body = fake.request(
        "GET", "/items/abc%20d?x=1&x=2&y=", headers={"Cookie": "c1=v1; c2=v2", "X-Custom": "Yes", "User-Agent": "t/1"}
    )
    assert status == 200
    event, context = body["event"], body["context"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{itemId}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/items/abc%20d", "x=1&x=2&y=")
    assert event["pathParameters"] == {"itemId": "abc d"}
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "Yes"
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    request_context = event["requestContext"]
    assert request_context["http"] == {
        "method": "GET",
        "path": "/items/abc%20d",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "t/1",
    }
    assert (request_context["stage"], request_context["routeKey"]) == ("$default", "GET /items/{itemId}")
    assert request_context["requestId"] == headers["apigw-requestid"]
    assert isinstance(request_context["timeEpoch"], int)
    assert request_context["authorizer"]["lambda"]["scopes"] == "admin"
    assert context["function_name"] == "local-EchoFunction"
    assert context["memory_limit_in_mb"] == 128
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:local-EchoFunction"
    assert 0 < context["remaining"] <= 7000
    assert headers["x-echo"] == "yes"
    assert headers["set-cookie"] == "a=1, b=2"


def test_routes_match_like_api_gateway(fake: FakeStack) -> None:
    assert fake.request("GET", "/items/special")[2]["event"]["routeKey"] == "GET /items/special"
    files = fake.request("DELETE", "/files/a/b/c.txt")[2]["event"]
    assert (files["routeKey"], files["pathParameters"]) == ("ANY /files/{proxy+}", {"proxy": "a/b/c.txt"})
    assert fake.request("GET", "/nope")[::2] == (404, NOT_FOUND)
    assert fake.request("POST", "/items/special")[::2] == (404, NOT_FOUND)
    assert fake.request("GET", "/plain")[::2] == (200, {"hello": "world"}), "no statusCode: the value is the body"


def test_bodies_are_text_or_base64_by_content_type(fake: FakeStack) -> None:
    text = fake.request("POST", "/upload", {"a": 1})[2]["event"]
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": 1}', False)
    binary = fake.request("POST", "/upload", b"\x00\xff", headers={"Content-Type": "application/octet-stream"})
    assert (binary[2]["event"]["body"], binary[2]["event"]["isBase64Encoded"]) == ("AP8=", True)


def test_the_authorizer_is_called_once_per_key_and_its_context_passed_on(fake: FakeStack) -> None:
    assert fake.request("GET", "/ping", key=None)[0] == 200, "Authorizer: NONE"
    assert fake.request("GET", "/items/1", key=None)[::2] == (401, UNAUTHORIZED)
    assert fake.request("GET", "/items/1", key="deny")[::2] == (403, {"message": "Forbidden"})
    assert fake.request("GET", "/items/1", key="boom")[::2] == (500, {"message": "Internal Server Error"})
    first = fake.request("GET", "/items/1", key="reader")[2]["event"]["requestContext"]["authorizer"]["lambda"]
    again = fake.request("GET", "/items/2", key="reader")[2]["event"]["requestContext"]["authorizer"]["lambda"]
    assert again == first, "cached for ReauthorizeEvery seconds, per identity source"
    assert first["type"] == "REQUEST"
    assert first["identitySource"] == ["Bearer reader"]
    assert first["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/items/{itemId}"


def test_failures_are_api_gateways_answers(fake: FakeStack) -> None:
    assert fake.request("GET", "/boom")[::2] == (500, {"message": "Internal Server Error"})
    connection = http.client.HTTPConnection("127.0.0.1", int(fake.base_url.rsplit(":", 1)[1]), timeout=STALL_SECONDS)
    connection.putrequest("POST", "/upload")
    connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
    connection.endheaders()  # the body is never sent: the gateway refuses on the length alone
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (413, {"message": "Request Entity Too Large"})
    connection.close()


def test_a_function_calls_aws_only_as_its_template_role_allows(fake: FakeStack) -> None:
    # Given EchoFunction, whose template role may only send to the jobs queue
    # When it writes to the executions table
    status, _, error = fake.request("POST", "/record", {})

    # Then AWS's refusal reaches it, naming the action and the table (the emulator alone would have written)
    assert status == 403
    assert error["Code"] == "AccessDeniedException"
    assert "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/" in error["Message"]


def test_sqs_records_reach_the_consumer_and_only_failures_stay(fake: FakeStack) -> None:
    assert fake.request("DELETE", "/_local/outbox")[0] == 204
    jobs = [{"n": 1, "to": "ann@corp.test"}, {"n": 2, "to": "bob@example.com"}, {"n": 3, "fail": True}]
    assert fake.request("POST", "/jobs", jobs)[0] == 202

    # The worker records the recipient just after the send: wait until both are joined too.
    sqs = fake.aws("sqs")
    items: list[dict[str, Any]] = wait_for(
        lambda: fake.request("GET", "/_local/outbox")[2]["items"],
        until=lambda items: len(items) >= 2 and all(item["campaignId"] for item in items),
        progress=queue_progress(sqs),
    )
    by_to = {item["to"]: item for item in items}
    assert sorted(by_to) == ["ann@corp.test", "bob@example.com"], items
    ann = by_to["ann@corp.test"]
    assert (ann["subject"], ann["html"].strip()) == ("Job 1", "<p>job 1</p>")
    assert (ann["campaignId"], ann["requestId"], ann["userId"], ann["executionId"]) == (
        "c1",
        "r1",
        "ann@corp.test",
        "e1",
    )
    record = json.loads(ann["text"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:local-jobs"
    assert record["awsRegion"] == "us-east-1"
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "job", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["md5OfBody"]

    # The failed job is received again after its 2 s visibility timeout, then dead-lettered.
    dlq = sqs.get_queue_url(QueueName="local-jobs-dlq")["QueueUrl"]

    def dead_lettered() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])

    (dead,) = wait_for(dead_lettered, progress=queue_progress(sqs))
    assert json.loads(dead["Body"]) == {"n": 3, "fail": True}
    again = fake.request("GET", "/_local/outbox")[2]["items"]
    assert len(again) == 2, f"nothing is sent twice: {again}"


def test_a_run_past_its_timeout_fails_its_batch_as_on_lambda(fake: FakeStack) -> None:
    # Lambda stops a run at its Timeout and the event source deletes nothing: each record comes
    # back after its visibility timeout, here until the redrive policy dead-letters it.
    assert fake.request("POST", "/slow", {"job": "slow"})[0] == 202
    sqs = fake.aws("sqs")
    dlq = sqs.get_queue_url(QueueName="local-slow-dlq")["QueueUrl"]

    def dead_lettered() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])

    (dead,) = wait_for(dead_lettered, progress=queue_progress(sqs))
    assert json.loads(dead["Body"]) == {"job": "slow"}
    assert fake.log.read_text().count("SlowFunction: Task timed out after") == 2, "one per receive"


def test_sender_domains_are_verified_identities(fake: FakeStack) -> None:
    identities = {i["IdentityName"] for i in fake.aws("sesv2").list_email_identities()["EmailIdentities"]}
    assert {"example.com", "corp.test"} <= identities


def test_the_outbox_needs_the_admin_scope_and_clears(fake: FakeStack) -> None:
    assert fake.request("GET", "/_local/outbox", key=None)[::2] == (401, UNAUTHORIZED)
    status, headers, body = fake.request("GET", "/_local/outbox", key="reader")
    assert (status, headers["content-type"], body["code"]) == (403, "application/problem+json", "forbidden")
    assert fake.request("DELETE", "/_local/outbox")[0] == 204
    assert fake.request("GET", "/_local/outbox")[::2] == (200, {"items": []})


def test_tick_runs_scheduled_functions(fake: FakeStack) -> None:
    assert fake.request("POST", "/_local/tick")[::2] == (200, {"ran": ["SweepFunction"], "failed": []})


def test_sigterm_stops_everything_and_exits_0(fake: FakeStack) -> None:
    # Last in this module: it ends the fake stack.
    fake.process.send_signal(signal.SIGTERM)
    wait_for(lambda: fake.process.poll() is not None, progress=lambda: fake.log.stat().st_size)
    assert fake.process.returncode == 0, fake.log.read_text()
    assert "Local stack ready" in fake.log.read_text()
    with pytest.raises(ConnectionRefusedError):
        fake.request("GET", "/ping")


def test_sms_and_push_appear_in_the_outbox_as_a_phone_would_show_them(local_stack: Stack) -> None:
    sms = {"name": "SMS demo", "channel": "sms", "content": {"locales": {"en-US": {"body": "Code {{ context.code }}"}}}}
    push = {
        "name": "Push demo",
        "channel": "push",
        "content": {
            "locales": {
                "en-US": {
                    "title": "Hi {{ profile.firstName }}",
                    "body": "Code {{ context.code }}",
                    "data": {"link": "app://c/{{ context.code }}"},
                }
            }
        },
    }
    ids = []
    for body in (sms, push):
        status, _, created = local_stack.request("POST", "/campaigns", body)
        assert status == 201, created
        status, _, live = local_stack.request("POST", f"/campaigns/{created['id']}/activate")
        assert status == 200, live
        ids.append(created["id"])
    local_stack.request(
        "POST",
        "/im/executions/unitary",
        {
            "campaignId": ids[0],
            "recipients": [{"userId": "+14155550123", "namespace": "phone", "context": {"code": "111"}}],
        },
    )
    local_stack.request(
        "POST",
        "/im/executions/unitary",
        {
            "campaignId": ids[1],
            "recipients": [
                {
                    "userId": "u-1",
                    "namespace": "ecid",
                    "profile": {"firstName": "Ada"},
                    "context": {"code": "222"},
                    "channelData": {"pushInfo": {"appID": "com.example.app", "platform": "apns", "token": "tok-1"}},
                }
            ],
        },
    )

    def both() -> dict[str, dict] | None:
        _, _, outbox = local_stack.request("GET", "/_local/outbox")
        found = {i["channel"]: i for i in outbox["items"] if i["campaignId"] in ids}
        return found if {"sms", "push"} <= set(found) else None

    found = wait_for(both, progress=stack_progress(local_stack))
    assert (found["sms"]["to"], found["sms"]["body"]) == ("+14155550123", "Code 111")
    assert found["push"]["to"] == "tok-1"
    assert (found["push"]["title"], found["push"]["body"]) == ("Hi Ada", "Code 222")
    assert found["push"]["data"] == {"link": "app://c/222"}
    assert found["push"]["userId"] == "u-1"
