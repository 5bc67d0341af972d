"""The whole local stack: emulator, functions, gateway, event sources and the outbox, from template.yaml."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from local import client, iam
from local.emulator import Emulator
from local.event_sources import SqsPoller, Ticker
from local.functions import LocalFunction, from_template
from local.gateway import Gateway, LambdaAuthorizer, Route
from local.outbox import Outbox, SesEmail, SnsPush, SnsSms
from local.ses_events import SesEventPublisher
from local.template import ACCOUNT_ID, REGION, STACK_NAME, HttpRoute, Template
from local.timeouts import scale_emulator_timeouts
from local.webhook_receiver import PATH as WEBHOOKS_PATH
from local.webhook_receiver import WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parent.parent
PUSH_PLATFORMS = ("APNS", "APNS_SANDBOX", "GCM")  # the SNS platforms each local push app exists on
DEFAULT_SENDER_DOMAIN = "example.com"
# Variables that would send boto3 elsewhere than the emulator (or to real AWS) if left in place.
_UNSAFE_ENVIRONMENT = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")

DEMO_CAMPAIGN: dict[str, Any] = {
    "name": "Welcome (demo)",
    "type": "transactional",
    "channel": "email",
    "sender": {"fromEmail": "hello@example.com", "fromName": "Demo"},
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "subject": "Welcome, {{ profile.firstName | default('there') }}",
                "html": "<h1>Hi {{ profile.firstName | default('there') }}</h1>"
                "<p>Your code is <b>{{ context.code }}</b>.</p>",
            }
        },
    },
}


def demo_trigger(campaign_id: str, request_id: str = "demo-1") -> dict[str, Any]:
    return {
        "requestId": request_id,
        "campaignId": campaign_id,
        "recipients": [
            {
                "type": "aep",
                "userId": "ada@example.com",
                "namespace": "email",
                "channelData": {"emailAddress": "ada@example.com"},
                "profile": {"firstName": "Ada"},
                "context": {"code": "123456"},
            }
        ],
    }


# The local deployment takes every other parameter's default: SES events are published as in AWS
# (DeliveryEvents=all, tests/unit/test_ses_event_publishing.py).
LOCAL_PARAMETERS: dict[str, str] = {}


def local_parameters(sender_domains: list[str], push_apps: list[str]) -> dict[str, str]:
    """The template's parameters for a local deployment: LOCAL_PARAMETERS, and the sender identities
    and push applications the emulator holds (the delivery role may use these only)."""
    sns = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:app"
    return {
        **LOCAL_PARAMETERS,
        "SenderIdentityArns": ",".join(f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{d}" for d in sender_domains),
        "PushApplicationArns": ",".join(f"{sns}/{platform}/{app}" for app in push_apps for platform in PUSH_PLATFORMS),
    }


def local_push_apps() -> list[str]:
    """The push apps the local stack creates SNS platform applications for (LOCAL_PUSH_APPS)."""
    return [a for a in (a.strip() for a in os.environ.get("LOCAL_PUSH_APPS", "com.example.app").split(",")) if a]


class SeedError(RuntimeError):
    pass


class _Admin:
    """Default of `Stack.request(key=...)`: the seeded admin key."""


ADMIN = _Admin()


class Stack:
    """`Stack(port=0, moto_port=0).start()` ... `.stop()`; also a context manager.

    One stack per process: functions read os.environ, which the stack sets for them."""

    _running: ClassVar[Stack | None] = None
    _running_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        port: int = 3000,
        moto_port: int = 5000,
        root: Path = REPO_ROOT,
        api_key: str | None = None,
        sender_domains: list[str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.port = port
        self.emulator = Emulator(moto_port)
        self.api_key = api_key or os.environ.get("LOCAL_API_KEY") or ""
        extra = sender_domains if sender_domains is not None else os.environ.get("LOCAL_SENDER_DOMAINS", "").split(",")
        self.sender_domains = list(dict.fromkeys([DEFAULT_SENDER_DOMAIN, *(d.strip() for d in extra if d.strip())]))
        self.template: Template | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.gateway: Gateway | None = None
        self.pollers: list[SqsPoller] = []
        self.ticker: Ticker | None = None
        self.outbox: Outbox | None = None
        self.ses_events: SesEventPublisher | None = None
        self.webhooks = WebhookReceiver()  # what webhooks POSTed to /_local/webhooks/<name>
        self._saved_environment: dict[str, str | None] = {}
        self._iam: iam.Enforcer | None = None
        self._undo_timeouts: Callable[[], None] | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Stack:
        with Stack._running_lock:
            if Stack._running is not None:
                raise RuntimeError("a local stack already runs in this process (they would share os.environ)")
            Stack._running = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        moto_url = self.emulator.start()
        self._undo_timeouts = scale_emulator_timeouts(moto_url)
        template = self.template = Template.load(
            self.root / "template.yaml",
            endpoint_url=moto_url,
            parameters={**local_parameters(self.sender_domains, local_push_apps()), **self._key_parameters()},
        )
        # Every function's AWS calls run under exactly what its template role grants (local/iam.py).
        self._iam = iam.install(iam.Enforcer.from_template(template))
        environment = {**template.environment(), **self.emulator.environment()}
        self._set_environment(environment)
        self.emulator.create_resources(template, self.sender_domains)
        self._create_push_applications()
        self._load_functions(template)

        authorizers = {
            name: LambdaAuthorizer(spec, self.functions[spec.function]) for name, spec in template.authorizers().items()
        }
        routes = [Route.compile(spec, self.functions[spec.function]) for spec in template.http_routes()]
        self.gateway = Gateway([*routes, *self._local_routes(template)], authorizers, port=self.port)
        sqs = self.emulator.client("sqs")
        self.pollers = [
            SqsPoller(
                source,
                self.functions[source.function],
                sqs,
                queue_url=template.get_att(source.queue, "QueueUrl"),
                queue_arn=template.get_att(source.queue, "Arn"),
            )
            for source in template.sqs_sources()
        ]
        self.ticker = Ticker([(schedule, self.functions[schedule.function]) for schedule in template.schedules()])
        self.outbox = Outbox(
            [SesEmail(), SnsSms(), SnsPush()],
            self.emulator.client("dynamodb"),
            environment.get("EXECUTIONS_TABLE"),
            environment.get("CAMPAIGNS_TABLE"),
        )
        # The mailbox simulator's delivery events, to the functions the template subscribes to aws.ses.
        self.ses_events = SesEventPublisher.from_template(template, self.functions, sqs)

        self.api_key = self._seed_admin_key()
        self.ses_events.start()
        self.gateway.start()
        self._allow_local_webhooks()
        # Links in emails (tracking, unsubscribe) point at this gateway, not at the AWS URL the template names.
        self._set_environment({"TRACKING_BASE_URL": self.gateway.url})
        for poller in self.pollers:
            poller.start()
        self.ticker.start()

    def stop(self) -> None:
        """Stop serving, then polling, then the emulator; restore the environment. Safe to call twice."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None
        if self.ses_events is not None:
            self.ses_events.stop()
            self.ses_events = None
        self.emulator.stop()
        iam.uninstall(self._iam)
        self._iam = None
        if self._undo_timeouts is not None:
            self._undo_timeouts()
            self._undo_timeouts = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}
        with Stack._running_lock:
            if Stack._running is self:
                Stack._running = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self.gateway is not None, "start() first"  # nosec B101  # a local-stack precondition
        return self.gateway.url

    @property
    def moto_url(self) -> str:
        return self.emulator.url

    # -- setup steps -----------------------------------------------------------

    def _set_environment(self, environment: dict[str, str]) -> None:
        unsafe = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_") or name in _UNSAFE_ENVIRONMENT]
        for name in [*environment, *unsafe]:
            self._saved_environment.setdefault(name, os.environ.get(name))
        for name in unsafe:
            del os.environ[name]
        os.environ.update(environment)

    def _load_functions(self, template: Template) -> None:
        specs = template.functions()
        layers = [self.root / uri / "python" for uri in template.layer_dirs()]
        code = [self.root / spec.code_uri for spec in specs.values()]
        # A cold start, as in Lambda: modules from this code that an earlier user of the process
        # imported (tests, say) may hold clients and settings made before the environment was set.
        roots = [str(path.resolve()) + os.sep for path in [*layers, *code]]
        for name, module in list(sys.modules.items()):
            source = getattr(module, "__file__", None) or ""
            if any(os.path.realpath(source).startswith(root) for root in roots):
                del sys.modules[name]
        for layer in reversed(layers):  # Lambda's /opt/python
            if layer.is_dir() and str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        self.functions = {logical_id: from_template(spec, self.root) for logical_id, spec in specs.items()}

    def _create_push_applications(self) -> None:
        """SNS platform applications for the apps in LOCAL_PUSH_APPS (push finds its application by appID)."""
        sns = self.emulator.client("sns")
        for app in local_push_apps():
            for platform in PUSH_PLATFORMS:
                sns.create_platform_application(Name=app, Platform=platform, Attributes={})

    def _key_parameters(self) -> dict[str, str]:
        """A chosen LOCAL_API_KEY that lacks the key format's checksum works only if the authorizer looks
        such keys up (AcceptUncheckedKeys): turned on for it, and only for it."""
        if not self.api_key:
            return {}
        try:
            from campaign_engine.key_format import is_well_formed
        except ImportError:  # a repository without the key format: its authorizer looks every key up
            return {}
        return {} if is_well_formed(self.api_key) else {"AcceptUncheckedKeys": "true"}

    def _seed_admin_key(self) -> str:
        # Imported here, after the cold start above, so the key lands through the fresh modules.
        try:
            from campaign_engine.auth import create_api_key
        except ImportError as error:
            raise RuntimeError(f"cannot seed the admin key: campaign_engine.auth is missing ({error})") from error
        return create_api_key("local-admin", ["admin"], key=self.api_key or None)

    def _local_routes(self, template: Template) -> list[Route]:
        """The local-only routes, behind the same authorizer as the API and checked for the admin scope."""
        authorizer = template.default_authorizer()

        def route(method: str, path: str, handler: Any, *, open_to_all: bool = False) -> Route:
            name = f"{STACK_NAME}-local-routes"
            target = LocalFunction(
                logical_id="LocalRoutes",
                name=name,
                arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
                memory_mb=128,
                timeout_seconds=60,
                handler=handler,
                has_template_role=False,
            )
            return Route.compile(HttpRoute(method, path, "LocalRoutes", None if open_to_all else authorizer), target)

        return [
            route("GET", "/_local/outbox", self._outbox_route),
            route("DELETE", "/_local/outbox", self._outbox_route),
            route("POST", "/_local/tick", self._tick_route),
            # A webhook sender has no key: the receiver's POST is open, reading what arrived takes the admin key.
            route("POST", WEBHOOKS_PATH + "/{name}", self._webhook_post_route, open_to_all=True),
            route("GET", WEBHOOKS_PATH, self._webhooks_route),
            route("DELETE", WEBHOOKS_PATH, self._webhooks_route),
        ]

    def _allow_local_webhooks(self) -> None:
        """Webhooks may call this stack's own receiver (and only it) on loopback: WEBHOOKS_LOCAL_RECEIVER, which
        template.yaml never sets. Set once the gateway's port is known; settings are read again after it."""
        self._set_environment({"WEBHOOKS_LOCAL_RECEIVER": f"{self.base_url}{WEBHOOKS_PATH}/"})
        settings = sys.modules.get("campaign_engine.settings")
        if settings is not None:
            settings.get_settings.cache_clear()

    def _webhook_post_route(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return self.webhooks.receive(event)

    def _webhooks_route(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        if denied := _admin_denied(event):
            return denied
        if event["requestContext"]["http"]["method"] == "DELETE":
            self.webhooks.clear()
            return {"statusCode": 204}
        name = (event.get("queryStringParameters") or {}).get("name")
        return _json(200, {"items": self.webhooks.items(name)})

    def _outbox_route(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        assert self.outbox is not None  # nosec B101  # narrows a type
        if denied := _admin_denied(event):
            return denied
        if event["requestContext"]["http"]["method"] == "DELETE":
            self.outbox.clear()
            return {"statusCode": 204}
        return _json(200, {"items": self.outbox.items()})

    def _tick_route(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        assert self.ticker is not None  # nosec B101  # narrows a type
        if denied := _admin_denied(event):
            return denied
        ran, failed = self.ticker.tick()
        return _json(200, {"ran": ran, "failed": failed})

    # -- using the stack -----------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        key: str | _Admin | None = ADMIN,
        *,
        timeout: float | None = client.TIMEOUT_SECONDS,
    ) -> client.Answer:
        """Call the local API; the admin key by default, `key=None` for no Authorization header;
        `timeout=None` waits for the answer however long it takes."""
        bearer = self.api_key if isinstance(key, _Admin) else key
        return client.request(self.base_url, method, path, body=body, headers=headers, key=bearer, timeout=timeout)

    def seed_demo(self, campaign: dict[str, Any] = DEMO_CAMPAIGN) -> str:
        """Create and activate the demo email campaign (or `campaign`) through the API itself; its id."""
        status, _, created = self.request("POST", "/campaigns", campaign)
        if status != 201 or not isinstance(created, dict) or "id" not in created:
            raise SeedError(f"POST /campaigns answered {status}: {created}")
        campaign_id = str(created["id"])
        status, _, activated = self.request("POST", f"/campaigns/{campaign_id}/activate")
        if status != 200:
            raise SeedError(f"POST /campaigns/{campaign_id}/activate answered {status}: {activated}")
        return campaign_id


def _json(status: int, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": json.dumps(body)}


def _admin_denied(event: dict[str, Any]) -> dict[str, Any] | None:
    """Problem+json 401/403 unless the authorizer's context is a principal with the admin scope,
    read by the same code the API's routes use."""
    from campaign_engine.auth import principal_from_context, require
    from campaign_engine.errors import DomainError

    try:
        require(principal_from_context(event["requestContext"].get("authorizer", {}).get("lambda")), "admin")
    except DomainError as error:
        problem = {
            "type": "about:blank",
            "title": error.title,
            "status": error.status,
            "detail": error.detail,
            "code": error.code,
            "errors": [],
        }
        return _json(error.status, problem, "application/problem+json")
    return None
