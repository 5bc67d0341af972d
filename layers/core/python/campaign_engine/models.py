"""Request and response shapes of the public API (contract v1).

These pydantic models are the single source of the API's validation and of its OpenAPI
document. Stored items are kept apart (see `store`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from campaign_engine.addresses import MAX_EMAIL_CHARS, MAX_PHONE_CHARS, email_problem

Channel = Literal["email", "sms", "push"]
CampaignType = Literal["transactional", "marketing"]
CampaignStatus = Literal["draft", "scheduled", "live", "stopped", "completed", "archived"]
RecipientStatus = Literal[
    "queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed", "excluded"
]

LOCALE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
# Bounds of the short strings bodies hold (every string a body accepts has one: tests/unit/
# test_input_limits.py walks the OpenAPI document for any without).
MAX_LOCALE_CHARS = 64
MAX_ID_CHARS = 128
MAX_LABEL_CHARS = 128
MAX_NAMESPACE_CHARS = 64
MAX_TIMEZONE_CHARS = 64
MAX_TOKEN_CHARS = 4096  # a push token, a nextToken
# Line breaks and other control characters (C0, DEL, C1, and U+2028/U+2029 which some mail
# clients treat as line ends) in a value that becomes a header, or a header's template.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def refuse_control_characters(value: str | None) -> str | None:
    if value is not None and (found := _CONTROL.search(value)):
        raise PydanticCustomError(
            "control_character",
            "must be one line without control characters (found {code})",
            {"code": f"U+{ord(found.group()):04X}"},
        )
    return value


OneLine = AfterValidator(refuse_control_characters)


# defer_build: a model's validator and serialiser are built when it is first used, not when this module
# is imported. The api function's cold start is the console's first request, which uses a handful of
# the models here; building all of them (a third of its cold start) was paid for the rest.
class ApiModel(BaseModel):
    """Answers: built by field name in code, serialised by the contract's camelCase aliases."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)


class StrictModel(BaseModel):
    """Campaign documents refuse unknown fields, so a typo is an error instead of a silent no-op."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class OpenModel(BaseModel):
    """AJO-compatible bodies accept and ignore what they do not use (mergePolicyName, ...)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


# ---------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------
# Template sizes: the same bounds as render.limits.TEMPLATE_SOURCE_LIMITS (not imported here, so
# that reading models does not load Jinja2).
class LocaleContent(StrictModel):
    subject: Annotated[
        str | None, Field(description="Email subject (template); one line", max_length=2000), OneLine
    ] = None
    html: Annotated[str | None, Field(description="Email HTML body (template, autoescaped)", max_length=200_000)] = None
    text: Annotated[
        str | None, Field(description="Email plain-text body; derived from html when absent", max_length=200_000)
    ] = None
    body: Annotated[str | None, Field(description="SMS or push body (template)", max_length=20_000)] = None
    title: Annotated[str | None, Field(description="Push title (template); one line", max_length=2000), OneLine] = None
    data: Annotated[
        dict[str, Annotated[str, Field(max_length=20_000)]] | None,
        Field(description="Push custom data; each value is a template"),
    ] = None


class Content(StrictModel):
    default_locale: Annotated[
        str,
        Field(
            alias="defaultLocale",
            pattern=LOCALE_PATTERN,
            max_length=MAX_LOCALE_CHARS,
            description="Locale used when none matches",
        ),
    ] = "en-US"
    fallback: Annotated[
        bool,
        Field(
            description="Send the default locale to recipients whose language has no content; when false "
            "they are excluded as no_matching_locale"
        ),
    ] = True
    locales: Annotated[dict[str, LocaleContent], Field(description="Content per locale, e.g. en-US, pt-BR")] = {}

    @field_validator("locales")
    @classmethod
    def _locale_names(cls, value: dict[str, LocaleContent]) -> dict[str, LocaleContent]:

        for name in value:
            if not re.match(LOCALE_PATTERN, name):
                raise ValueError(f"{name!r} is not a locale tag such as en-US")
        return value


class Sender(StrictModel):
    """Every field becomes a header or a sender identity: one line, no control characters."""

    from_email: Annotated[
        str | None, Field(alias="fromEmail", description="Verified SES identity", max_length=MAX_EMAIL_CHARS)
    ] = None
    from_name: Annotated[str | None, Field(alias="fromName", max_length=200), OneLine] = None
    reply_to: Annotated[str | None, Field(alias="replyTo", max_length=MAX_EMAIL_CHARS)] = None
    origination_identity: Annotated[
        str | None,
        Field(
            alias="originationIdentity",
            description="SMS sender id, phone number or pool (id or ARN)",
            max_length=512,
        ),
        OneLine,
    ] = None

    @field_validator("from_email", "reply_to")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and (problem := email_problem(value)):
            raise PydanticCustomError("email", problem)
        return value


class Audience(StrictModel):
    namespace: Annotated[
        str,
        Field(description="Identity namespace of userId (email, phone, crmId, ...)", max_length=MAX_NAMESPACE_CHARS),
    ] = "email"
    create_profiles: Annotated[
        bool, Field(alias="createProfiles", description="Serve recipients unknown to the profile store")
    ] = True
    audience_id: Annotated[str | None, Field(alias="audienceId", max_length=MAX_ID_CHARS)] = None


class Schedule(StrictModel):
    start: datetime | None = None
    end: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a UTC offset, e.g. 2026-12-01T09:00:00Z")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Throttle(StrictModel):
    messages_per_second: Annotated[int | None, Field(alias="messagesPerSecond", ge=1, le=20000)] = None


class QuietHours(StrictModel):
    """Marketing only. Times of day in the recipient's time zone (the profile's, else `timezone`, else UTC);
    an end before the start crosses midnight (21:00 to 08:00)."""

    start: Annotated[str, Field(description="HH:MM, the recipient's local time", examples=["21:00"], max_length=5)]
    end: Annotated[str, Field(description="HH:MM, the recipient's local time", examples=["08:00"], max_length=5)]
    timezone: Annotated[
        str | None,
        Field(
            description="IANA time zone for recipients whose profile has none (default UTC)",
            max_length=MAX_TIMEZONE_CHARS,
        ),
    ] = None
    action: Annotated[
        Literal["defer", "discard"],
        Field(description="defer: sent when the quiet period ends; discard: excluded as quiet_hours"),
    ] = "defer"

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        from campaign_engine.quiet_hours import parse_hhmm

        parse_hhmm(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        from campaign_engine.quiet_hours import zone

        if value is not None and zone(value) is None:
            raise ValueError("must be an IANA time zone, e.g. Europe/Paris")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ (an end before the start crosses midnight)")
        return self


class Tracking(StrictModel):
    opens: bool = False
    clicks: bool = False


WebhookEventType = Literal["sent", "delivered", "bounced", "complained", "opened", "clicked", "failed"]
WEBHOOK_EVENT_TYPES: list[WebhookEventType] = [
    "sent",
    "delivered",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "failed",
]


class Webhook(StrictModel):
    """Where this campaign's recipient events are POSTed, signed (Webhook-Signature), with retries."""

    url: Annotated[
        str,
        Field(
            max_length=2048,
            description="https:// URL of a public host (never loopback, private, link-local or reserved addresses, "
            "checked again on every send)",
            examples=["https://hooks.example.org/campaign-events"],
        ),
    ]
    events: Annotated[
        list[WebhookEventType],
        Field(min_length=1, max_length=7, description="The events to POST (default: all of them)"),
    ] = WEBHOOK_EVENT_TYPES

    @field_validator("url")
    @classmethod
    def _allowed_url(cls, value: str) -> str:
        from campaign_engine.settings import get_settings
        from campaign_engine.webhook_guard import url_problem

        if problem := url_problem(value, local_receiver=get_settings().webhooks_local_receiver):
            raise PydanticCustomError("webhook_url", problem)
        return value

    @field_validator("events")
    @classmethod
    def _no_repeats(cls, value: list[WebhookEventType]) -> list[WebhookEventType]:
        return list(dict.fromkeys(value))


class Privacy(StrictModel):
    retain_messages: Annotated[
        bool,
        Field(
            alias="retainMessages",
            description="false for one-time codes and reset links: no copy of a rendered message or of a "
            "recipient's context is kept once it is handed to the provider. The recipient status keeps "
            "its status and reason, and a fixed detail instead of one that could quote the message; the "
            "local outbox shows the envelope without the message; a delivery that keeps failing is "
            "recorded as failed rather than left, context and all, in the dead-letter queue.",
        ),
    ] = True


Tag = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS), OneLine]


class CampaignFields(StrictModel):
    """Fields a caller may set on create or patch."""

    name: Annotated[str | None, Field(min_length=1, max_length=200), OneLine] = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    tags: Annotated[list[Tag] | None, Field(max_length=50)] = None
    labels: Annotated[list[Tag] | None, Field(description="Access labels", max_length=50)] = None
    content: Content | None = None
    sender: Sender | None = None
    audience: Audience | None = None
    schedule: Schedule | None = None
    throttle: Throttle | None = None
    tracking: Tracking | None = None
    privacy: Privacy | None = None
    quiet_hours: Annotated[QuietHours | None, Field(alias="quietHours")] = None
    webhook: Annotated[Webhook | None, Field(description="Feedback webhook for this campaign's recipient events")] = (
        None
    )
    context_schema: Annotated[
        dict[str, Any] | None,
        Field(
            alias="contextSchema",
            description="JSON Schema (2020-12) every recipient's context must satisfy: at most 64 KB and 32 "
            "levels deep; $ref only inside the schema; patterns are run with a time limit",
        ),
    ] = None

    @field_validator("context_schema")
    @classmethod
    def _usable_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from campaign_engine.context_schema import schema_problems

            if problems := schema_problems(value):
                # A custom error: its message is shown as is, without pydantic's "Value error, ".
                raise PydanticCustomError("context_schema", "; ".join(problems[:3]))
        return value


class CampaignCreate(CampaignFields):
    name: Annotated[str, Field(min_length=1, max_length=200), OneLine]
    type: Annotated[CampaignType, Field(description="Fixed at creation")] = "transactional"
    channel: Channel


class CampaignPatch(CampaignFields):
    """Every field optional; `type` and `channel` are fixed at creation."""


class Campaign(ApiModel):
    id: str
    name: str
    description: str | None = None
    tags: list[str] = []
    labels: list[str] = []
    type: CampaignType
    channel: Channel
    status: CampaignStatus
    version: Annotated[int, Field(description="Version number of this document")]
    live_version: Annotated[int | None, Field(alias="liveVersion", description="Version triggers use")] = None
    draft_version: Annotated[
        int | None, Field(alias="draftVersion", description="Pending draft of a live campaign, if any")
    ] = None
    content: Content = Content()
    sender: Sender = Sender()
    audience: Audience = Audience()
    schedule: Schedule = Schedule()
    throttle: Throttle = Throttle()
    tracking: Tracking = Tracking()
    privacy: Privacy = Privacy()
    quiet_hours: Annotated[QuietHours | None, Field(alias="quietHours")] = None
    webhook: Webhook | None = None
    webhook_secret: Annotated[
        str | None,
        Field(
            alias="webhookSecret",
            description="The webhook's signing secret, in the answer that created it only (POST "
            "/campaigns/{id}/webhook/secret makes a new one)",
        ),
    ] = None
    context_schema: Annotated[dict[str, Any] | None, Field(alias="contextSchema")] = None
    created_at: Annotated[datetime, Field(alias="createdAt")]
    updated_at: Annotated[datetime, Field(alias="updatedAt")]
    activated_at: Annotated[datetime | None, Field(alias="activatedAt")] = None


class CampaignList(ApiModel):
    items: list[Campaign]
    next_token: Annotated[str | None, Field(alias="nextToken")] = None


class ReviewIssue(ApiModel):
    field: str
    message: str
    code: str


class ReviewResult(ApiModel):
    ok: bool
    errors: list[ReviewIssue]
    warnings: list[ReviewIssue]


# ---------------------------------------------------------------------------
# Trigger (AJO Interactive Message Execution API)
# ---------------------------------------------------------------------------
class PushInfo(OpenModel):
    app_id: Annotated[str | None, Field(alias="appID", max_length=256)] = None
    platform: Annotated[str | None, Field(max_length=32)] = None
    token: Annotated[str | None, Field(max_length=MAX_TOKEN_CHARS)] = None


class ChannelData(OpenModel):
    """Longer than these bounds the body is malformed (400); within them, an address that is not one
    rejects that recipient alone as invalid_address."""

    email_address: Annotated[str | None, Field(alias="emailAddress", max_length=MAX_EMAIL_CHARS)] = None
    mobile_phone_number: Annotated[str | None, Field(alias="mobilePhoneNumber", max_length=MAX_PHONE_CHARS)] = None
    push_info: Annotated[PushInfo | None, Field(alias="pushInfo")] = None


class Recipient(OpenModel):
    def __repr__(self) -> str:
        # Never addresses or personal data in a repr (Powertools logs route arguments at debug level).
        return f"Recipient(<{len(self.context or {})} context keys>)"

    type: Annotated[Literal["aep", "external"], Field(description="aep: a profile; external: just an address")] = "aep"
    user_id: Annotated[str, Field(alias="userId", min_length=1, max_length=256)]
    namespace: Annotated[str | None, Field(max_length=MAX_NAMESPACE_CHARS)] = None
    channel_data: Annotated[ChannelData | None, Field(alias="channelData")] = None
    profile: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


# The caller's idempotency key, of a trigger and of an audience execution alike.
RequestId = Annotated[
    str | None,
    Field(
        alias="requestId",
        min_length=1,
        max_length=256,
        description="Caller's id; the same id and body within the idempotency window replays the answer",
    ),
]


class TriggerRequest(OpenModel):
    request_id: RequestId = None
    campaign_id: Annotated[str, Field(alias="campaignId", min_length=1, max_length=128)]
    recipients: Annotated[list[Recipient], Field(min_length=1, max_length=1000)]
    context: dict[str, Any] | None = None
    merge_policy_name: Annotated[
        str | None, Field(alias="mergePolicyName", description="Accepted, ignored", max_length=256)
    ] = None

    def __repr__(self) -> str:
        # Short and free of personal data: Powertools formats route arguments into a debug line on
        # every call (eagerly), which for 1,000 recipients costs 15 ms and would log their addresses.
        return f"TriggerRequest(campaignId={self.campaign_id!r}, recipients={len(self.recipients)})"


class RecipientVerdict(ApiModel):
    user_id: Annotated[str, Field(alias="userId")]
    status: Literal["accepted", "rejected"]
    reason: str | None = None
    detail: str | None = None


class TriggerAccepted(ApiModel):
    execution_id: Annotated[str, Field(alias="executionId")]
    request_id: Annotated[str, Field(alias="requestId")]
    campaign_id: Annotated[str, Field(alias="campaignId")]
    created_at: Annotated[datetime, Field(alias="createdAt")]
    recipients: list[RecipientVerdict]


# ---------------------------------------------------------------------------
# Executions
# ---------------------------------------------------------------------------
class RecipientOutcome(ApiModel):
    user_id: Annotated[str, Field(alias="userId")]
    status: RecipientStatus
    reason: str | None = None
    detail: str | None = None
    message_id: Annotated[str | None, Field(alias="messageId")] = None
    locale: str | None = None
    updated_at: Annotated[datetime | None, Field(alias="updatedAt")] = None
    unsubscribed_at: Annotated[
        datetime | None,
        Field(alias="unsubscribedAt", description="When the person unsubscribed through this email's one-click link"),
    ] = None


class ExecutionStatus(ApiModel):
    execution_id: Annotated[str, Field(alias="executionId")]
    request_id: Annotated[str, Field(alias="requestId")]
    campaign_id: Annotated[str, Field(alias="campaignId")]
    campaign_version: Annotated[int, Field(alias="campaignVersion")]
    created_at: Annotated[datetime, Field(alias="createdAt")]
    status: Annotated[
        Literal["in_progress", "completed"], Field(description="completed once no recipient is still queued")
    ]
    counts: Annotated[dict[str, int], Field(description="Recipients per status, plus total")]
    recipients: list[RecipientOutcome]
    next_token: Annotated[str | None, Field(alias="nextToken")] = None


class Health(ApiModel):
    status: Literal["ok"] = "ok"


class PreviewRequest(StrictModel):
    profile: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    locale: Annotated[
        str | None,
        Field(description="Preferred locale; the campaign's matching rules apply", max_length=MAX_LOCALE_CHARS),
    ] = None


class PreviewResult(ApiModel):
    locale: str
    channel: Channel
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None
    title: str | None = None
    data: dict[str, str] | None = None


class TriggerRequestExample(ApiModel):
    curl: Annotated[str, Field(description="A ready cURL command (set $API_KEY)")]
    body: Annotated[dict[str, Any], Field(description="An example trigger body for this campaign")]


class EngagementCounts(ApiModel):
    unique: Annotated[int, Field(description="Recipients who did it at least once")]
    total: Annotated[int, Field(description="Every time it happened, repeats included")]
    machine: Annotated[
        int,
        Field(description="Done by machines (mail privacy proxies, link scanners): in neither unique nor total"),
    ]


class ReportCounts(ApiModel):
    targeted: Annotated[
        int,
        Field(
            description="Recipients the campaign was asked to reach: accepted + rejected + those an audience's "
            "screening excluded"
        ),
    ]
    accepted: Annotated[
        int,
        Field(
            description="Accepted recipients that delivery has taken up (sent, failed or excluded there); "
            "one still waiting in the queue is counted once delivery takes it up"
        ),
    ]
    rejected: Annotated[int, Field(description="Refused before queueing: the trigger's `rejected` verdicts")]
    excluded: Annotated[
        int,
        Field(description="Left out by an audience's screening or at delivery (excludedByReason)"),
    ]
    sent: Annotated[int, Field(description="Handed to the channel (whatever happened after: delivered, bounced...)")]
    delivered: Annotated[int, Field(description="Delivered (opened, clicked and complained ones included)")]
    bounced: int
    complained: int
    failed: Annotated[int, Field(description="Could not be sent (failedByReason)")]
    opened: EngagementCounts
    clicked: EngagementCounts
    unsubscribed: int


class ReportDay(ApiModel):
    day: Annotated[str, Field(description="A UTC day, YYYY-MM-DD", examples=["2026-12-01"])]
    counts: ReportCounts


class CampaignReport(ApiModel):
    campaign_id: Annotated[str, Field(alias="campaignId")]
    since: datetime | None = None
    generated_at: Annotated[datetime, Field(alias="generatedAt")]
    total: Annotated[int, Field(description="Recipients with a final outcome (rejected ones count as excluded)")]
    by_status: Annotated[dict[str, int], Field(alias="byStatus")]
    by_reason: Annotated[dict[str, int], Field(alias="byReason")]
    by_locale: Annotated[dict[str, int], Field(alias="byLocale")]
    counts: ReportCounts
    excluded_by_reason: Annotated[dict[str, int], Field(alias="excludedByReason")]
    rejected_by_reason: Annotated[dict[str, int], Field(alias="rejectedByReason")]
    failed_by_reason: Annotated[dict[str, int], Field(alias="failedByReason")]
    days: Annotated[
        list[ReportDay] | None,
        Field(description="With `by=day`: the counts of each UTC day that has any, oldest first"),
    ] = None
