"""IAM for the template's functions, locally and in the tests: each function's AWS calls are allowed
only where the role SAM would deploy for it allows them, and refused as AWS refuses them.

Why: the emulator (moto) lets every call through, so a role missing `dynamodb:BatchGetItem` passed
every test and failed on AWS. Here a function's calls run under exactly its template role.

How, in four parts:
- The roles: template.yaml goes through SAM's own translator (samtranslator, which `sam build` and
  `sam deploy` use), so policy templates (`DynamoDBCrudPolicy`, `SQSSendMessagePolicy`, ...) expand
  exactly as SAM expands them, and the managed policies SAM attaches (basic execution, X-Ray, the
  SQS event source's) are there too. The generated `AWS::IAM::Role` of each function is then
  resolved for the local deployment by local.template (tables, queues, parameters, conditions).
- The caller: whoever invokes a handler (local.functions for `make run` and the e2e tests,
  tests/conftest.py for the integration tests) runs it inside `acting_as(logical_id)`, a context
  variable. Work the function hands to a thread pool carries the caller with it (see
  `_carry_caller_into_thread_pools`): delivery sends on pools.
- The check: a botocore event hook on every client (`before-parameter-build`, which sees the call's
  own arguments) maps the call to the IAM actions and resource ARNs AWS authorises it against
  (`BatchGetItem` on each table of `RequestItems`, each `TransactItems` entry as its own action,
  SES v2 calls as `ses:` actions on the sender identity and the configuration set, SNS `Publish`
  on the topic or endpoint, SQS batch calls as their single-message actions) and evaluates them as
  IAM does: allowed only if some Allow statement matches the action and the resource (with `*`
  and `?` wildcards), and an explicit Deny wins.
- The answer: a refused call never reaches the emulator. `before-call` answers it with the error
  AWS gives (DynamoDB and SES `AccessDeniedException`, SQS `AccessDenied`, SNS
  `AuthorizationError`), whose message names the action and the resource, so the code under test
  meets what it would meet on AWS. Every refusal is also recorded: the test fixtures fail the
  test that caused one even if the code swallowed the error ("DeliveryFunction lacks
  dynamodb:BatchGetItem on arn:aws:dynamodb:...:table/local-executions").

Why not moto's own IAM enforcement (`INITIAL_NO_AUTH_ACTION_COUNT`): it authorises DynamoDB, SES
and SNS calls against the resource "*" (moto only works out resources for S3, SQS, IAM and STS),
so a role allowed `dynamodb:BatchGetItem` on one table passes it on every table - exactly the
defect it must catch; it needs each function to sign with its own role's keys, while all
functions share one process and one set of cached clients (campaign_engine.aws); and it is
process-wide, so the test harness's own calls would need credentials too.

Only calls made while a function runs are checked: the harness's own calls (creating tables,
seeding, reading the queue as the event source mapping does) are not a function's and pass.

What is not modelled: IAM condition keys, NotAction/NotResource and resource-based policies (a
template statement using them is refused loudly rather than guessed); SES authorises a send
against the address identity when the address itself is a verified identity and against its
domain otherwise: here the domain identity is checked, unless the call names
FromEmailAddressIdentityArn.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse

from local.template import ACCOUNT_ID, AWS_ENDPOINT, REGION, Template, TemplateError

log = logging.getLogger("local.iam")
P = ParamSpec("P")
R = TypeVar("R")

# The function whose code is running (its logical id in template.yaml); None: not a function's call.
_caller: ContextVar[str | None] = ContextVar("local_iam_caller", default=None)

# The AWS managed policies SAM attaches to function roles, as AWS publishes them (only the
# statements that matter locally: all of them are on "*").
_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": _LOGS, "Resource": "*"},
    ],
}

# The error AWS answers a refused call with, per client: (HTTP status, error code).
_REFUSALS = {
    "dynamodb": (400, "AccessDeniedException"),
    "sesv2": (403, "AccessDeniedException"),
    "sns": (403, "AuthorizationError"),
    "sqs": (403, "AccessDenied"),
}
_CONTEXT_KEY = "local_iam_refusal"


# ---------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------


def _pattern(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    """An IAM action or resource pattern: `*` any run of characters, `?` any one, the rest literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


@dataclass(frozen=True)
class Statement:
    allow: bool
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]

    @classmethod
    def parse(cls, statement: dict[str, Any], where: str) -> Statement:
        unsupported = sorted(set(statement) & {"Condition", "NotAction", "NotResource", "NotPrincipal", "Principal"})
        if unsupported:
            raise TemplateError(f"{where}: {', '.join(unsupported)} in a policy statement is not emulated")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise TemplateError(f"{where}: a statement's Effect must be Allow or Deny")
        return cls(
            allow=statement["Effect"] == "Allow",
            actions=tuple(_pattern(a, ignore_case=True) for a in _listed(statement.get("Action", []))),
            resources=tuple(_pattern(r, ignore_case=False) for r in _listed(statement.get("Resource", []))),
        )

    def matches(self, action: str, resource: str) -> bool:
        return any(a.match(action) for a in self.actions) and any(r.match(resource) for r in self.resources)


@dataclass(frozen=True)
class Policy:
    """What one function's role allows: its statements, inline and managed."""

    function: str
    statements: tuple[Statement, ...]

    def allows(self, action: str, resource: str) -> bool:
        matching = [s for s in self.statements if s.matches(action, resource)]
        return any(s.allow for s in matching) and not any(not s.allow for s in matching)


def _sam_transform(document: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """template.yaml as CloudFormation receives it from SAM (the roles SAM generates included)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(document)
    for resource in (document.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):  # what `sam package` puts there; the translator insists
            if isinstance(properties.get(key), str):
                properties[key] = "s3://local/code.zip"
    session = boto3.session.Session(region_name=REGION)
    values = {name: value for name, value in parameters.items() if value is not None}
    translated: dict[str, Any] = Translator(None, Parser(), boto_session=session).translate(
        document, parameter_values=values, get_managed_policy_map=lambda: {}
    )
    return translated


def role_policies(template: Template) -> dict[str, Policy]:
    """Each function's policy (by logical id), from the role SAM generates or the Role it names."""
    transformed = _sam_transform(template.document, template.parameters)
    resolver = Template(transformed, endpoint_url=template.endpoint_url, parameters=template.parameters)
    policies = {}
    for function in template.functions():
        role_ref = (transformed["Resources"][function].get("Properties") or {}).get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise TemplateError(f"{function}: only a role of this template (SAM's own or !GetAtt) is emulated")
        role_id = role_ref["Fn::GetAtt"][0]
        role = resolver.resolve(transformed["Resources"][role_id].get("Properties") or {})
        statements: list[Statement] = []
        for inline in role.get("Policies") or []:
            document = inline["PolicyDocument"]
            for statement in _listed_statements(document.get("Statement")):
                statements.append(Statement.parse(statement, f"{function} {inline.get('PolicyName')}"))
        for arn in role.get("ManagedPolicyArns") or []:
            name = str(arn).split(":policy/", 1)[-1]
            if name not in MANAGED_POLICIES:
                raise TemplateError(f"{function}: managed policy {arn} is not known to local.iam")
            statements.extend(Statement.parse(s, f"{function} {name}") for s in MANAGED_POLICIES[name])
        policies[function] = Policy(function, tuple(statements))
    return policies


def _listed_statements(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value] if isinstance(value, dict) else []


# ---------------------------------------------------------------------------
# What a call needs: IAM actions and resources
# ---------------------------------------------------------------------------


def _table(region: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def _queue(region: str, url: str) -> str:
    account, _, name = urlparse(url).path.strip("/").partition("/")
    return f"arn:aws:sqs:{region}:{account or ACCOUNT_ID}:{name}"


_DYNAMODB_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb(operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # No IAM action of their own: each entry needs its own action on its own table.
        needed = []
        for item in params.get("TransactItems") or []:
            for kind, spec in item.items():
                needed.append((f"dynamodb:{_DYNAMODB_TRANSACT_ACTIONS[kind]}", _table(region, spec["TableName"])))
        return needed
    if "RequestItems" in params:
        return [(f"dynamodb:{operation}", _table(region, name)) for name in params["RequestItems"]]
    if "TableName" in params:
        table = _table(region, params["TableName"])
        if params.get("IndexName"):
            table = f"{table}/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", table)]
    return [(f"dynamodb:{operation}", "*")]


def _sqs(operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    # The batch calls are authorised as their single-message actions (there is no sqs:SendMessageBatch).
    action = "sqs:" + operation.removesuffix("Batch")
    if "QueueUrl" in params:
        return [(action, _queue(region, params["QueueUrl"]))]
    if "QueueName" in params:
        return [(action, f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{params['QueueName']}")]
    return [(action, "*")]


def _sns(operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    action = f"sns:{operation}"
    for key in ("TopicArn", "TargetArn", "EndpointArn", "PlatformApplicationArn"):
        if params.get(key):
            return [(action, str(params[key]))]
    # Publish to a phone number involves no resource: IAM can only grant it on "*".
    return [(action, "*")]


def _sender(params: dict[str, Any]) -> str:
    if params.get("FromEmailAddress"):
        return str(params["FromEmailAddress"])
    raw = ((params.get("Content") or {}).get("Raw") or {}).get("Data")
    if isinstance(raw, str):
        raw = raw.encode()
    if isinstance(raw, bytes):
        return str(BytesHeaderParser().parsebytes(raw).get("From") or "")
    return ""


def _sesv2(operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    action = f"ses:{operation}"  # SES v2's actions are `ses:` actions
    prefix = f"arn:aws:ses:{region}:{ACCOUNT_ID}"
    if operation in ("SendEmail", "SendBulkEmail"):
        identity = params.get("FromEmailAddressIdentityArn")
        if not identity:
            address = parseaddr(_sender(params))[1]
            identity = f"{prefix}:identity/{address.rpartition('@')[2]}"
        needed = [(action, str(identity))]
        if params.get("ConfigurationSetName"):
            needed.append((action, f"{prefix}:configuration-set/{params['ConfigurationSetName']}"))
        return needed
    if params.get("EmailIdentity"):
        return [(action, f"{prefix}:identity/{params['EmailIdentity']}")]
    if params.get("ConfigurationSetName"):
        return [(action, f"{prefix}:configuration-set/{params['ConfigurationSetName']}")]
    return [(action, "*")]


def _secretsmanager(operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    secret_id = str(params.get("SecretId") or "")
    if secret_id and not secret_id.startswith("arn:"):
        secret_id = f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{secret_id}"
    return [(f"secretsmanager:{operation}", secret_id or "*")]


_SERVICES: dict[str, Callable[[str, dict[str, Any], str], list[tuple[str, str]]]] = {
    "secretsmanager": _secretsmanager,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "sns": _sns,
    "sesv2": _sesv2,
}


def required_permissions(service: str, operation: str, params: dict[str, Any], region: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs IAM checks for one call."""
    mapper = _SERVICES.get(service)
    if mapper is None:
        return [(f"{service}:{operation}", "*")]
    return mapper(operation, params, region)


# ---------------------------------------------------------------------------
# Enforcement
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"function {self.function} lacks {self.action} on {self.resource}"


@dataclass(frozen=True)
class Enforcer:
    """The policies in force."""

    policies: dict[str, Policy]

    @classmethod
    def from_template(cls, template: Template) -> Enforcer:
        return cls(role_policies(template))

    def check(self, function: str, needed: list[tuple[str, str]]) -> Denial | None:
        """The first permission the call lacks (recorded for take_denials), or None."""
        policy = self.policies.get(function)
        if policy is None:
            raise TemplateError(f"{function} is not a function of the template in force")
        for action, resource in needed:
            if not policy.allows(action, resource):
                denial = Denial(function, action, resource)
                with _denials_lock:
                    _denials.append(denial)
                log.warning("AWS would refuse this call: %s", denial)
                return denial
        return None


# Every refusal since the last take_denials(), whichever enforcer made it and on whichever thread.
_denials: list[Denial] = []
_denials_lock = threading.Lock()


def take_denials() -> list[Denial]:
    """The refusals recorded so far, oldest first; the record starts empty again."""
    with _denials_lock:
        taken = _denials[:]
        _denials.clear()
    return taken


class _InForce:
    """What this process enforces (one enforcer at a time), and whether the hooks are in place."""

    enforcer: Enforcer | None = None
    hooks_installed = False
    lock = threading.Lock()


def install(enforcer: Enforcer) -> Enforcer:
    """Puts `enforcer` in force for every boto3 client of this process, from now on."""
    _install_hooks()
    _InForce.enforcer = enforcer
    return enforcer


def uninstall(enforcer: Enforcer | None = None) -> None:
    """No checks any more (only if `enforcer`, when given, is still the one in force)."""
    if enforcer is None or _InForce.enforcer is enforcer:
        _InForce.enforcer = None


def current() -> Enforcer | None:
    return _InForce.enforcer


@cache
def enforcer_for(path: str, **parameters: str) -> Enforcer:
    """The enforcer of a template file deployed with `parameters` (cached: translating takes time)."""
    from pathlib import Path

    return Enforcer.from_template(Template.load(Path(path), endpoint_url=AWS_ENDPOINT, parameters=parameters))


@contextmanager
def acting_as(function: str) -> Iterator[None]:
    """Calls made inside run with `function`'s role (its logical id in template.yaml)."""
    token = _caller.set(function)
    try:
        yield
    finally:
        _caller.reset(token)


def as_function(function: str, handler: Callable[P, R]) -> Callable[P, R]:
    """`handler`, run with `function`'s role."""

    @wraps(handler)
    def invoke(*args: P.args, **kwargs: P.kwargs) -> R:
        with acting_as(function):
            return handler(*args, **kwargs)

    return invoke


def _check_call(**event: Any) -> None:
    """before-parameter-build: `params` are the call's own arguments; `context` lives until before-call."""
    function = _caller.get()
    enforcer = _InForce.enforcer
    if function is None or enforcer is None:
        return
    params, model, context = event["params"], event["model"], event["context"]
    service = model.service_model.service_name
    region = context.get("client_region") or REGION
    denial = enforcer.check(function, required_permissions(service, model.name, params, region))
    if denial is not None:
        context[_CONTEXT_KEY] = _refusal(service, denial)


def _refusal(service: str, denial: Denial) -> tuple[int, dict[str, Any]]:
    status, code = _REFUSALS.get(service, (403, "AccessDeniedException"))
    role = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{denial.function}Role/{denial.function}"
    message = (
        f"User: {role} is not authorized to perform: {denial.action} on resource: {denial.resource} "
        f"because no identity-based policy allows the {denial.action} action"
    )
    return status, {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }


def _answer_refused(**event: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """before-call: an answer returned here is used instead of sending the request (as botocore's Stubber does)."""
    refusal = event["context"].pop(_CONTEXT_KEY, None)
    if refusal is None:
        return None
    status, parsed = refusal
    return AWSResponse("", status, {}, None), parsed  # type: ignore[arg-type]


def _carry_caller_into_thread_pools() -> None:
    """Work submitted to a ThreadPoolExecutor runs with the submitter's caller, as in the submitting
    thread. Only this variable is carried: other context variables keep their per-thread values."""
    submit = concurrent.futures.ThreadPoolExecutor.submit

    def submit_as_caller(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        function = _caller.get()
        if function is None:
            return submit(self, fn, *args, **kwargs)

        def run(*a: Any, **k: Any) -> Any:
            with acting_as(function):
                return fn(*a, **k)

        return submit(self, run, *args, **kwargs)

    concurrent.futures.ThreadPoolExecutor.submit = submit_as_caller  # type: ignore[method-assign]


def _install_hooks() -> None:
    """On every botocore session made from now on (moto installs its own hook the same way), and on
    boto3's default session if it already exists."""
    with _InForce.lock:
        if _InForce.hooks_installed:
            return
        _InForce.hooks_installed = True
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _check_call))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _answer_refused))
        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION._session
            events.register("before-parameter-build", _check_call, unique_id="local-iam-check")
            # The stubs type handlers as returning None; a before-call handler's answer replaces the request.
            events.register("before-call", _answer_refused, unique_id="local-iam-answer")  # type: ignore[arg-type]
        _carry_caller_into_thread_pools()
