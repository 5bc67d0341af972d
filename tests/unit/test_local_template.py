"""template.yaml as the local stack reads it: short tags, intrinsics, and what each part becomes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from local.template import Template, TemplateError, load_yaml, rate_seconds

ROOT = Path(__file__).resolve().parents[2]
MOTO = "http://127.0.0.1:5000"


@pytest.fixture(scope="module")
def real() -> Template:
    return Template.load(ROOT / "template.yaml", endpoint_url=MOTO)


def synthetic(tmp_path: Path, body: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    return Template.load(path, endpoint_url=MOTO)


SHORT_TAGS = """
Parameters:
  Stage: {Type: String, Default: dev}
  Hours: {Type: Number, Default: 24}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${AWS::StackName}-q"}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
Outputs:
  Ref: {Value: !Ref Stage}
  GetAttShort: {Value: !GetAtt Queue.Arn}
  GetAttLong: {Value: !GetAtt [Queue, QueueName]}
  SubLong: {Value: !Sub ["${Prefix}-${Queue.QueueName}-${!Literal}", {Prefix: !Ref Hours}]}
  If: {Value: !If [NotProd, small, large]}
  Join: {Value: !Join [":", [a, !Ref "AWS::Region", !Ref "AWS::AccountId"]]}
  Select: {Value: !Select [1, !Split [",", "x,y,z"]]}
  NoValue: {Value: [keep, !If [IsProd, gone, !Ref "AWS::NoValue"]]}
"""


def test_short_tags_load_as_their_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SHORT_TAGS)
    outputs = load_yaml(path)["Outputs"]
    assert outputs["Ref"]["Value"] == {"Ref": "Stage"}
    assert outputs["GetAttShort"]["Value"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert outputs["GetAttLong"]["Value"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert outputs["If"]["Value"] == {"Fn::If": ["NotProd", "small", "large"]}


def test_intrinsics_resolve_for_the_local_deployment(tmp_path: Path) -> None:
    template = synthetic(tmp_path, SHORT_TAGS)
    resolved = {name: template.resolve(output["Value"]) for name, output in template.document["Outputs"].items()}
    assert resolved == {
        "Ref": "dev",
        "GetAttShort": "arn:aws:sqs:us-east-1:123456789012:local-q",
        "GetAttLong": "local-q",
        "SubLong": "24-local-q-${Literal}",
        "If": "small",
        "Join": "a:us-east-1:123456789012",
        "Select": "y",
        "NoValue": ["keep"],
    }
    assert template.condition("NotProd") is True
    assert "ProdOnly" not in template.resources, "a resource whose condition is false does not exist"


def test_unsupported_intrinsics_fail_loudly(tmp_path: Path) -> None:
    template = synthetic(tmp_path, SHORT_TAGS)
    with pytest.raises(TemplateError, match=r"Queue\.Nope"):
        template.resolve({"Fn::GetAtt": ["Queue", "Nope"]})
    with pytest.raises(TemplateError, match="FindInMap"):
        template.resolve({"Fn::FindInMap": ["M", "a", "b"]})
    with pytest.raises(TemplateError, match="Missing"):
        template.resolve({"Ref": "Missing"})


def test_tables_come_with_keys_billing_and_ttl(real: Template) -> None:
    tables = {table["TableName"]: table for table in real.tables()}
    assert set(tables) == {
        "local-campaigns",
        "local-executions",
        "local-api-keys",
        "local-profiles",
        "local-audiences",
        "local-throttle",
    }
    executions = tables["local-executions"]
    assert executions["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert executions["BillingMode"] == "PAY_PER_REQUEST"
    assert executions["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    keys = tables["local-api-keys"]
    assert keys["KeySchema"] == [{"AttributeName": "keyHash", "KeyType": "HASH"}]
    assert [index["IndexName"] for index in keys["GlobalSecondaryIndexes"]] == ["byKeyId"]


def test_queues_carry_their_attributes_and_a_resolved_redrive_policy(real: Template) -> None:
    queues = {queue.name: queue.attributes for queue in real.queues()}
    delivery = queues["local-delivery"]
    assert delivery["VisibilityTimeout"] == "180"
    assert delivery["MessageRetentionPeriod"] == "345600"
    assert json.loads(delivery["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:local-delivery-dlq",
        "maxReceiveCount": 12,
    }
    assert queues["local-delivery-dlq"]["MessageRetentionPeriod"] == "1209600"


def test_every_function_gets_the_global_environment_resolved(real: Template) -> None:
    environment = real.environment()
    assert environment["CAMPAIGNS_TABLE"] == "local-campaigns"
    assert environment["EXECUTIONS_TABLE"] == "local-executions"
    assert environment["API_KEYS_TABLE"] == "local-api-keys"
    assert environment["DELIVERY_QUEUE_URL"] == f"{MOTO}/123456789012/local-delivery"
    assert environment["IDEMPOTENCY_HOURS"] == "24"
    # No set of the caller's: the stack's own configuration set (resolved to its logical id locally).
    assert environment["SES_CONFIGURATION_SET"] == "EmailEventsConfigurationSet"
    functions = real.functions()
    assert {f.code_uri for f in functions.values()} >= {"functions/api/", "functions/delivery/"}
    delivery = functions["DeliveryFunction"]
    assert (delivery.handler, delivery.timeout_seconds, delivery.memory_mb) == ("app.handler", 30, 512)
    assert functions["TriggerFunction"].timeout_seconds == 10, "Globals apply where the function sets nothing"
    assert functions["ApiFunction"].timeout_seconds == 29, "its own: an audience dry run counts for up to 20 s"
    assert real.layer_dirs() == ["layers/deps/", "layers/core/"]


def test_routes_and_their_authorizer_come_from_the_http_api_events(real: Template) -> None:
    routes = {route.route_key: route for route in real.http_routes()}
    assert routes["GET /im/health"].authorizer is None
    assert routes["GET /openapi.json"].authorizer is None
    create = routes["POST /campaigns"]
    assert create.function == "ApiFunction"
    assert create.authorizer is not None
    assert create.authorizer.function == "AuthorizerFunction"
    assert create.authorizer.identity_headers == ("authorization",)
    assert create.authorizer.ttl_seconds == 300
    assert routes["POST /im/executions/unitary"].function == "TriggerFunction"
    assert "GET /campaigns/{campaignId}" in routes
    assert real.default_authorizer() == create.authorizer


def test_the_delivery_queue_drives_the_delivery_function(real: Template) -> None:
    sources = {source.queue: source for source in real.sqs_sources()}
    assert set(sources) == {"DeliveryQueue", "JobsQueue", "WebhooksQueue", "FeedbackQueue"}
    assert sources["JobsQueue"].function == "JobsFunction"
    feedback = sources["FeedbackQueue"]
    assert (feedback.function, feedback.batch_size, feedback.batching_window_seconds) == ("FeedbackFunction", 100, 1)
    assert feedback.report_batch_item_failures is True
    assert sources["WebhooksQueue"].function == "WebhooksFunction"
    assert sources["WebhooksQueue"].report_batch_item_failures is True
    source = sources["DeliveryQueue"]
    assert source.function == "DeliveryFunction"
    assert source.queue == "DeliveryQueue"
    assert source.batch_size == 10
    assert source.batching_window_seconds == 0  # no window: a one-time code is sent at once
    assert source.report_batch_item_failures is True
    assert source.max_concurrency == 50
    assert feedback.max_concurrency == 20


def test_the_queue_consumers_concurrency_is_a_deploy_parameter() -> None:
    raised = Template.load(
        ROOT / "template.yaml",
        endpoint_url=MOTO,
        parameters={"DeliveryMaximumConcurrency": "200", "FeedbackMaximumConcurrency": "150"},
    )
    sources = {source.queue: source for source in raised.sqs_sources()}
    assert sources["DeliveryQueue"].max_concurrency == 200
    assert sources["FeedbackQueue"].max_concurrency == 150


def test_conditions_choose_values(real: Template) -> None:
    alarm = real.resolve(real.resources["Api5xxAlarm"]["Properties"])
    assert alarm["AlarmActions"] == ["AlarmTopic"], "no alarm topic given: the stack's own"
    given = Template.load(ROOT / "template.yaml", endpoint_url=MOTO, parameters={"AlarmTopicArn": "arn:aws:sns:x"})
    assert given.resolve(given.resources["Api5xxAlarm"]["Properties"])["AlarmActions"] == ["arn:aws:sns:x"]
    dashboard = real.resolve(real.resources["Dashboard"]["Properties"]["DashboardBody"])
    assert '"local-delivery-dlq"' in dashboard
    assert '"us-east-1"' in dashboard


FUNCTIONS = """
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables: {SHARED: one, HOURS: !Ref Hours}
Parameters:
  Hours: {Type: Number, Default: 2}
Resources:
  First:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: first/
      Handler: app.handler
      Timeout: 9
      Environment:
        Variables: {HOURS: "2", OWN: !Sub "${AWS::Region}"}
      Events:
        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
        Often: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(5 minutes), Input: '{"kind": "sweep"}'}}
  Second:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: second/, Handler: pkg.main.run, Environment: {Variables: {SHARED: two}}}
"""


def test_functions_merge_globals_and_two_functions_may_not_disagree(tmp_path: Path) -> None:
    template = synthetic(tmp_path, FUNCTIONS)
    first = template.functions()["First"]
    assert first.environment == {"SHARED": "one", "HOURS": "2", "OWN": "us-east-1"}
    assert first.timeout_seconds == 9
    assert first.name == "local-First"
    assert first.arn == "arn:aws:lambda:us-east-1:123456789012:function:local-First"
    with pytest.raises(TemplateError, match="SHARED"):
        template.environment()


def test_schedules_and_their_rates(tmp_path: Path) -> None:
    schedules = {s.event: s for s in synthetic(tmp_path, FUNCTIONS).schedules()}
    assert schedules["Nightly"].expression == "rate(1 day)"
    assert schedules["Nightly"].input is None
    assert schedules["Often"].input == {"kind": "sweep"}
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(2 hours)") == 7200
    assert rate_seconds("rate(1 day)") == 86400
    assert rate_seconds("cron(0 9 * * ? *)") is None
