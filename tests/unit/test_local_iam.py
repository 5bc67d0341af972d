"""local/iam.py: the template's roles as SAM generates them, calls mapped to IAM actions and
resources as AWS authorises them, and refusals answered as AWS answers them."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local import iam
from local.stack import local_parameters
from local.template import Template
from tests.conftest import ROOT

ACCOUNT = "arn:aws:dynamodb:us-east-1:123456789012"
CAMPAIGNS = f"{ACCOUNT}:table/local-campaigns"
EXECUTIONS = f"{ACCOUNT}:table/local-executions"


@pytest.fixture(scope="module")
def policies() -> dict[str, iam.Policy]:
    template = Template.load(ROOT / "template.yaml", parameters=local_parameters(["example.com"], ["com.example.app"]))
    return iam.role_policies(template)


def test_sam_policy_templates_expand_as_sam_expands_them(policies: dict[str, iam.Policy]) -> None:
    # DynamoDBCrudPolicy on the campaigns table: its actions there and on its indexes, nothing elsewhere
    api = policies["ApiFunction"]
    assert api.allows("dynamodb:BatchGetItem", CAMPAIGNS)
    assert api.allows("dynamodb:Query", f"{CAMPAIGNS}/index/byStatus")
    assert not api.allows("dynamodb:Scan", EXECUTIONS)
    # SQSSendMessagePolicy: sqs:SendMessage* on that one queue
    trigger = policies["TriggerFunction"]
    assert trigger.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:local-delivery")
    assert not trigger.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:local-delivery-dlq")
    # The managed policy SAM attaches for an SQS event source
    assert policies["DeliveryFunction"].allows(
        "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:local-delivery"
    )
    assert not trigger.allows("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:local-delivery")


def test_delivery_sends_only_from_the_stacks_identities_and_to_its_push_apps(policies: dict[str, iam.Policy]) -> None:
    delivery = policies["DeliveryFunction"]
    ses = "arn:aws:ses:us-east-1:123456789012"
    assert delivery.allows("ses:SendEmail", f"{ses}:identity/example.com")
    assert delivery.allows("ses:SendEmail", f"{ses}:configuration-set/EmailEventsConfigurationSet")
    assert not delivery.allows("ses:SendEmail", f"{ses}:identity/elsewhere.org")
    assert not delivery.allows("ses:SendEmail", f"{ses}:configuration-set/another")
    sns = "arn:aws:sns:us-east-1:123456789012"
    assert delivery.allows("sns:CreatePlatformEndpoint", f"{sns}:app/GCM/com.example.app")
    assert not delivery.allows("sns:CreatePlatformEndpoint", f"{sns}:app/GCM/com.other.app")
    assert delivery.allows("sns:Publish", f"{sns}:endpoint/GCM/com.example.app/0f1e2d")
    assert delivery.allows("sns:Publish", "*"), "SMS to a phone number: IAM can grant it only on *"


def test_actions_match_case_insensitively_and_resources_by_wildcard() -> None:
    allow = iam.Statement.parse({"Effect": "Allow", "Action": "DynamoDB:Get*", "Resource": "arn:t/a?c/*"}, "t")
    policy = iam.Policy("F", (allow,))
    assert policy.allows("dynamodb:GetItem", "arn:t/abc/x/y")
    assert not policy.allows("dynamodb:PutItem", "arn:t/abc/x")
    assert not policy.allows("dynamodb:GetItem", "arn:t/abbc/x")


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = iam.Statement.parse({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}, "t")
    deny = iam.Statement.parse({"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"}, "t")
    policy = iam.Policy("F", (allow, deny))
    assert policy.allows("sqs:SendMessage", "arn:q")
    assert not policy.allows("sqs:DeleteQueue", "arn:q")


def test_statements_with_conditions_are_refused_loudly_rather_than_guessed() -> None:
    with pytest.raises(Exception, match="Condition"):
        iam.Statement.parse({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {}}, "F policy")


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "dynamodb",
            "BatchGetItem",
            {"RequestItems": {"local-executions": {}, "local-campaigns": {}}},
            [("dynamodb:BatchGetItem", EXECUTIONS), ("dynamodb:BatchGetItem", CAMPAIGNS)],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "local-executions"}},
                    {"ConditionCheck": {"TableName": "local-campaigns"}},
                ]
            },
            [("dynamodb:PutItem", EXECUTIONS), ("dynamodb:ConditionCheckItem", CAMPAIGNS)],
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "local-campaigns", "IndexName": "byStatus"},
            [("dynamodb:Query", f"{CAMPAIGNS}/index/byStatus")],
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "http://127.0.0.1:5000/123456789012/local-delivery"},
            [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:local-delivery")],
        ),
        (
            "sesv2",
            "SendEmail",
            {"FromEmailAddress": "Shop <hello@example.com>", "ConfigurationSetName": "events"},
            [
                ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/example.com"),
                ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:configuration-set/events"),
            ],
        ),
        ("sns", "Publish", {"PhoneNumber": "+14155550100"}, [("sns:Publish", "*")]),
        (
            "sns",
            "Publish",
            {"TargetArn": "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/a/1"},
            [("sns:Publish", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/a/1")],
        ),
    ],
)
def test_each_call_needs_the_actions_and_resources_aws_authorises_it_against(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert iam.required_permissions(service, operation, params, "us-east-1") == expected


@pytest.fixture
def only_get_item_on_campaigns() -> Iterator[None]:
    statement = iam.Statement.parse({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": CAMPAIGNS}, "t")
    previous = iam.current()
    iam.install(iam.Enforcer({"ApiFunction": iam.Policy("ApiFunction", (statement,))}))
    yield
    if previous is None:
        iam.uninstall()
    else:
        iam.install(previous)


def _dynamodb() -> Any:
    # Nothing listens there: a refused call must be answered without reaching the network.
    return boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )


def test_a_refused_call_gets_the_error_aws_gives_naming_action_and_resource(only_get_item_on_campaigns: None) -> None:
    client = _dynamodb()
    with iam.acting_as("ApiFunction"), pytest.raises(ClientError) as refused:
        client.batch_get_item(RequestItems={"local-executions": {"Keys": [{"pk": {"S": "a"}, "sk": {"S": "b"}}]}})
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:BatchGetItem on resource: " + EXECUTIONS in error["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [str(d) for d in iam.take_denials()] == [f"function ApiFunction lacks dynamodb:BatchGetItem on {EXECUTIONS}"]


def test_the_caller_reaches_the_threads_a_function_sends_on(only_get_item_on_campaigns: None) -> None:
    client = _dynamodb()

    def read_executions() -> str:
        try:
            client.get_item(TableName="local-executions", Key={"pk": {"S": "a"}})
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "allowed"

    with iam.acting_as("ApiFunction"), ThreadPoolExecutor(max_workers=2) as pool:
        assert pool.submit(read_executions).result() == "AccessDeniedException"
    assert [str(d) for d in iam.take_denials()] == [f"function ApiFunction lacks dynamodb:GetItem on {EXECUTIONS}"]


def test_calls_outside_any_function_are_not_checked(only_get_item_on_campaigns: None) -> None:
    # The harness's own calls (seeding, reading the queue) are not a function's: they reach the network
    with pytest.raises(Exception, match=r"Could not connect|Connect"):
        _dynamodb().get_item(TableName="local-executions", Key={"pk": {"S": "a"}})
    assert iam.take_denials() == []
