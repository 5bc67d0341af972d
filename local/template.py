"""template.yaml, read the way CloudFormation and SAM would for the local stack.

The SAM template is the single source of truth: tables, queues, function environments,
routes, authorizers and event sources are all derived from it here, never kept by hand.
Intrinsics are resolved for one fixed local deployment (stack "local", us-east-1,
account 123456789012, every parameter at its Default).
"""

from __future__ import annotations

import json
import re
import secrets as secrets_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_NAME = "local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
API_ID = "local"  # what Ref of an HTTP API resolves to, so route ARNs look real
AWS_ENDPOINT = f"https://sqs.{REGION}.amazonaws.com"


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve; said loudly, never guessed."""


# ---------------------------------------------------------------------------
# YAML with CloudFormation short tags
# ---------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    pass


def _short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Queue.Arn" is the short form of ["Queue", "Arn"]; attributes may hold dots.
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 # nosec B506  # a SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a template")
    return document


# ---------------------------------------------------------------------------
# What the rest of the local stack needs from the template
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str  # logical id of the Lambda authorizer
    identity_headers: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or ANY
    path: str  # as in the template: /campaigns/{campaignId}
    function: str
    authorizer: Authorizer | None

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    function: str
    queue: str  # logical id of the queue
    batch_size: int
    batching_window_seconds: float
    report_batch_item_failures: bool
    max_concurrency: int | None


@dataclass(frozen=True)
class Schedule:
    function: str
    event: str
    expression: str  # rate(...) or cron(...)
    input: Any  # the event to send, None for EventBridge's scheduled-event shape


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    code_uri: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)
    log_group: str = ""


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    attributes: dict[str, str]  # SQS attribute names, RedrivePolicy as JSON


_NO_VALUE = object()  # Ref AWS::NoValue: the surrounding key or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Template:
    """A loaded template with intrinsics resolved for the local deployment.

    `endpoint_url` is where the emulator serves, so queue URLs resolve to ones it answers."""

    def __init__(
        self, document: dict[str, Any], *, endpoint_url: str = AWS_ENDPOINT, parameters: dict[str, Any] | None = None
    ):
        self.document = document
        self.endpoint_url = endpoint_url.rstrip("/")
        # Defaults, then overrides (as `sam deploy --parameter-overrides`) of the parameters it declares.
        self.parameters: dict[str, Any] = {
            name: spec.get("Default") for name, spec in (document.get("Parameters") or {}).items()
        }
        self.parameters.update({k: v for k, v in (parameters or {}).items() if k in self.parameters})
        self._conditions: dict[str, Any] = document.get("Conditions") or {}
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in (document.get("Resources") or {}).items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    @classmethod
    def load(
        cls, path: Path, *, endpoint_url: str = AWS_ENDPOINT, parameters: dict[str, Any] | None = None
    ) -> Template:
        return cls(load_yaml(path), endpoint_url=endpoint_url, parameters=parameters)

    # -- intrinsics -------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self.resolve(self._conditions[name]))

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside `value` (recursively)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        return {k: r for k, v in value.items() if (r := self._resolve(v)) is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            logical_id, attribute = self._resolve(arg)
            return self.get_att(logical_id, attribute)
        if name == "Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))
            return self._sub(text, variables)
        if name == "If":
            condition, when_true, when_false = arg
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name == "Not":
            return not self._resolve(arg[0])
        if name == "Equals":
            left, right = self._resolve(arg)
            return str(left) == str(right)
        if name == "And":
            return all(self._resolve(arg))
        if name == "Or":
            return any(self._resolve(arg))
        if name == "Join":
            delimiter, items = self._resolve(arg)
            return delimiter.join(str(item) for item in items)
        if name == "Select":
            index, items = self._resolve(arg)
            return items[int(index)]
        if name == "Split":
            delimiter, text = self._resolve(arg)
            return text.split(delimiter)
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        # "${!Literal}" is how a template writes a literal "${Literal}".
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": STACK_NAME,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self._parameter(name)
        resource = self._resource(name)
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if kind == "AWS::SQS::Queue":
            return self.get_att(name, "QueueUrl")
        if kind == "AWS::Serverless::Function":
            return self.function_name(name)
        if kind == "AWS::Logs::LogGroup":
            return self.resolve(self._properties(name).get("LogGroupName")) or f"{STACK_NAME}-{name}"
        if kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            return API_ID
        if kind == "AWS::SecretsManager::Secret":
            # CloudFormation answers the secret's ARN (with a random suffix, which the emulator accepts without).
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{self.secret_name(name)}"
        # Anything else has no local counterpart; its logical id is a stable stand-in name.
        return name

    def _parameter(self, name: str) -> Any:
        value = self.parameters[name]
        if value is None:
            raise TemplateError(f"parameter {name} has no Default and no value was given (--parameter-overrides)")
        kind = str(((self.document.get("Parameters") or {}).get(name) or {}).get("Type", ""))
        if isinstance(value, str) and (kind == "CommaDelimitedList" or kind.startswith("List<")):
            return value.split(",")  # as CloudFormation: one item per comma, an empty value is [""]
        return value

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self._resource(logical_id)["Type"]
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{self.table_name(logical_id)}"
        if kind == "AWS::SQS::Queue":
            queue_name = self.queue_name(logical_id)
            attributes = {
                "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}",
                "QueueName": queue_name,
                "QueueUrl": f"{self.endpoint_url}/{ACCOUNT_ID}/{queue_name}",
            }
            if attribute in attributes:
                return attributes[attribute]
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name(logical_id)}"
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            name = self.resolve(self._properties(logical_id).get("Name")) or f"{STACK_NAME}-{logical_id}"
            return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not supported by the local stack")

    def _resource(self, logical_id: str) -> dict[str, Any]:
        if logical_id not in self.resources:
            raise TemplateError(f"unknown resource or parameter {logical_id!r}")
        return self.resources[logical_id]

    def _properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self._resource(logical_id).get("Properties") or {}
        return properties

    def _of_type(self, kind: str) -> list[str]:
        return [logical_id for logical_id, resource in self.resources.items() if resource["Type"] == kind]

    # -- physical names (what CloudFormation would generate when the template names none) --

    def table_name(self, logical_id: str) -> str:
        return str(self.resolve(self._properties(logical_id).get("TableName")) or f"{STACK_NAME}-{logical_id}")

    def queue_name(self, logical_id: str) -> str:
        return str(self.resolve(self._properties(logical_id).get("QueueName")) or f"{STACK_NAME}-{logical_id}")

    def function_name(self, logical_id: str) -> str:
        return str(self.resolve(self._properties(logical_id).get("FunctionName")) or f"{STACK_NAME}-{logical_id}")

    def secret_name(self, logical_id: str) -> str:
        return str(self.resolve(self._properties(logical_id).get("Name")) or f"{STACK_NAME}-{logical_id}")

    # -- resources --------------------------------------------------------

    def secrets(self) -> list[tuple[str, str]]:
        """(name, value) of each Secrets Manager secret, its GenerateSecretString made here as CloudFormation
        would: the template's JSON with GenerateStringKey set to a random string of PasswordLength."""
        secrets = []
        for logical_id in self._of_type("AWS::SecretsManager::Secret"):
            properties = self.resolve(self._properties(logical_id))
            value = properties.get("SecretString")
            generate = properties.get("GenerateSecretString")
            if value is None and isinstance(generate, dict):
                random = secrets_module.token_urlsafe(int(generate.get("PasswordLength", 32)))
                random = random.replace("-", "x").replace("_", "y")[: int(generate.get("PasswordLength", 32))]
                if generate.get("GenerateStringKey"):
                    document = json.loads(generate.get("SecretStringTemplate") or "{}")
                    document[generate["GenerateStringKey"]] = random
                    value = json.dumps(document)
                else:
                    value = random
            secrets.append((self.secret_name(logical_id), str(value or "")))
        return secrets

    def tables(self) -> list[dict[str, Any]]:
        """CreateTable arguments for every table; TimeToLiveSpecification is kept for UpdateTimeToLive."""
        tables = []
        for logical_id in self._of_type("AWS::DynamoDB::Table"):
            properties = self.resolve(self._properties(logical_id))
            table: dict[str, Any] = {
                "TableName": self.table_name(logical_id),
                "KeySchema": properties["KeySchema"],
                "AttributeDefinitions": properties["AttributeDefinitions"],
                "BillingMode": properties.get("BillingMode", "PROVISIONED"),
            }
            for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if key in properties:
                    table[key] = properties[key]
            if "TimeToLiveSpecification" in properties:
                table["TimeToLiveSpecification"] = properties["TimeToLiveSpecification"]
            tables.append(table)
        return tables

    def queues(self) -> list[Queue]:
        queues = []
        for logical_id in self._of_type("AWS::SQS::Queue"):
            properties = self.resolve(self._properties(logical_id))
            # CloudFormation's queue properties are SQS attribute names; SQS wants them all as strings.
            attributes = {
                key: json.dumps(value) if isinstance(value, dict) else _text(value)
                for key, value in properties.items()
                if key not in ("QueueName", "Tags")
            }
            queues.append(Queue(logical_id, self.queue_name(logical_id), attributes))
        return queues

    # -- functions and their events --------------------------------------

    def functions(self) -> dict[str, Function]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        functions = {}
        for logical_id in self._of_type("AWS::Serverless::Function"):
            properties = self._properties(logical_id)
            merged = {**globals_, **properties}
            variables = {
                **(globals_.get("Environment") or {}).get("Variables", {}),
                **(properties.get("Environment") or {}).get("Variables", {}),
            }
            functions[logical_id] = Function(
                logical_id=logical_id,
                name=self.function_name(logical_id),
                arn=self.get_att(logical_id, "Arn"),
                code_uri=str(self.resolve(merged["CodeUri"])),
                handler=str(self.resolve(merged["Handler"])),
                timeout_seconds=int(self.resolve(merged.get("Timeout", 3))),
                memory_mb=int(self.resolve(merged.get("MemorySize", 128))),
                environment={name: _text(value) for name, value in self.resolve(variables).items()},
                log_group=str(self.resolve((merged.get("LoggingConfig") or {}).get("LogGroup") or "")),
            )
        return functions

    def environment(self) -> dict[str, str]:
        """The union of every function's environment: all functions share one local process."""
        union: dict[str, str] = {}
        owner: dict[str, str] = {}
        for function in self.functions().values():
            for name, value in function.environment.items():
                if name in union and union[name] != value:
                    raise TemplateError(
                        f"{function.logical_id} and {owner[name]} need different values for {name} "
                        f"({value!r} and {union[name]!r}); the local stack runs them in one process"
                    )
                union[name], owner[name] = value, function.logical_id
        return union

    def layer_dirs(self) -> list[str]:
        """Code directories of the layers functions use (what Lambda mounts at /opt/python)."""
        globals_ = self.document.get("Globals", {}).get("Function", {})
        references = [*globals_.get("Layers", [])]
        for logical_id in self._of_type("AWS::Serverless::Function"):
            references += self._properties(logical_id).get("Layers", [])
        dirs = []
        for reference in references:
            layer = reference.get("Ref") if isinstance(reference, dict) else None
            if layer in self.resources and self.resources[layer]["Type"] == "AWS::Serverless::LayerVersion":
                content_uri = str(self.resolve(self._properties(layer)["ContentUri"]))
                if content_uri not in dirs:
                    dirs.append(content_uri)
        return dirs

    def _events(self, event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for event_name, event in (self._properties(logical_id).get("Events") or {}).items():
                if event.get("Type") == event_type:
                    found.append((logical_id, event_name, event.get("Properties") or {}))
        return found

    def authorizers(self) -> dict[str, Authorizer]:
        function_by_arn = {function.arn: logical_id for logical_id, function in self.functions().items()}
        found = {}
        for api in self._of_type("AWS::Serverless::HttpApi"):
            for name, spec in ((self._properties(api).get("Auth") or {}).get("Authorizers") or {}).items():
                if not spec.get("EnableSimpleResponses"):
                    raise TemplateError(
                        f"authorizer {name}: only simple responses (EnableSimpleResponses) are emulated"
                    )
                arn = self.resolve(spec["FunctionArn"])
                if arn not in function_by_arn:
                    raise TemplateError(f"authorizer {name}: {arn} is not a function of this template")
                identity = spec.get("Identity") or {}
                found[name] = Authorizer(
                    name=name,
                    function=function_by_arn[arn],
                    identity_headers=tuple(h.lower() for h in identity.get("Headers", ["Authorization"])),
                    ttl_seconds=int(self.resolve(identity.get("ReauthorizeEvery", 300))),
                )
        return found

    def _default_authorizers(self) -> dict[str, str]:
        return {
            api: default
            for api in self._of_type("AWS::Serverless::HttpApi")
            if (default := (self._properties(api).get("Auth") or {}).get("DefaultAuthorizer"))
        }

    def default_authorizer(self) -> Authorizer | None:
        """The first HTTP API's default authorizer, which the local-only routes use as well."""
        names = list(self._default_authorizers().values())
        return self.authorizers()[names[0]] if names else None

    def http_routes(self) -> list[HttpRoute]:
        authorizers = self.authorizers()
        default_by_api = self._default_authorizers()
        routes = []
        for function, event_name, properties in self._events("HttpApi"):
            api_ref = properties.get("ApiId")
            api = api_ref.get("Ref") if isinstance(api_ref, dict) else None
            auth_name = (properties.get("Auth") or {}).get("Authorizer") or default_by_api.get(api or "")
            if auth_name and auth_name != "NONE" and auth_name not in authorizers:
                raise TemplateError(f"{function}.{event_name}: unknown authorizer {auth_name!r}")
            routes.append(
                HttpRoute(
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=str(self.resolve(properties.get("Path", "$default"))),
                    function=function,
                    authorizer=authorizers[auth_name] if auth_name and auth_name != "NONE" else None,
                )
            )
        return routes

    def sqs_sources(self) -> list[SqsSource]:
        queue_by_arn = {self.get_att(q, "Arn"): q for q in self._of_type("AWS::SQS::Queue")}
        sources = []
        for function, event_name, properties in self._events("SQS"):
            arn = self.resolve(properties["Queue"])
            if arn not in queue_by_arn:
                raise TemplateError(f"{function}.{event_name}: {arn} is not a queue of this template")
            concurrency = (properties.get("ScalingConfig") or {}).get("MaximumConcurrency")
            sources.append(
                SqsSource(
                    function=function,
                    queue=queue_by_arn[arn],
                    batch_size=int(self.resolve(properties.get("BatchSize", 10))),
                    batching_window_seconds=float(self.resolve(properties.get("MaximumBatchingWindowInSeconds", 0))),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in self.resolve(properties.get("FunctionResponseTypes", [])),
                    max_concurrency=int(self.resolve(concurrency)) if concurrency is not None else None,
                )
            )
        return sources

    def schedules(self) -> list[Schedule]:
        schedules = []
        for event_type, expression_key in (("Schedule", "Schedule"), ("ScheduleV2", "ScheduleExpression")):
            for function, event_name, properties in self._events(event_type):
                raw_input = self.resolve(properties.get("Input"))
                schedules.append(
                    Schedule(
                        function=function,
                        event=event_name,
                        expression=str(self.resolve(properties[expression_key])),
                        input=json.loads(raw_input) if raw_input else None,
                    )
                )
        return schedules


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of `rate(N unit)`; None for cron() and at(), which only run on a tick."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def _text(value: Any) -> str:
    """A value as CloudFormation passes it on: numbers and booleans become their template text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
