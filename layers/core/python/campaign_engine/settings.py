"""Configuration, read from the environment once per container.

A msgspec Struct, not a pydantic model: every function imports this on its cold start, and
pydantic's first model costs about 80 ms (see benchmarks/cold_start.py)."""

from __future__ import annotations

import os
from functools import lru_cache

import msgspec

from campaign_engine.containers import per_container


class Settings(msgspec.Struct, frozen=True):
    campaigns_table: str  # DynamoDB table of campaigns and their versions
    executions_table: str  # DynamoDB table of executions and recipient outcomes
    api_keys_table: str  # DynamoDB table of hashed API keys
    delivery_queue_url: str  # SQS queue the trigger writes and delivery reads
    profiles_table: str = "profiles"  # DynamoDB table of profiles and the suppression list
    audiences_table: str = "audiences"  # DynamoDB table of audiences and their members
    jobs_queue_url: str = ""  # SQS queue of background job steps (audience fan-out, erasure)
    throttle_table: str = "throttle"  # DynamoDB table of the send budgets' per-second counters (throttle.py)
    # The delivery queue's dead-letter queue, and the receive after which SQS moves a message there.
    delivery_dead_letter_queue_url: str = ""
    delivery_max_receive_count: int = 12
    # The stack's share of the account's SES sending rate, emails per second (SesMaxSendRate); 0: not paced here.
    ses_max_send_rate: int = 0
    idempotency_hours: int = 24  # how long a requestId replays its answer
    ses_configuration_set: str = ""  # SES configuration set named on each email
    campaign_cache_seconds: float = 1.0  # how long a trigger container reuses a campaign read
    max_recipients_per_call: int = 1000
    # A request body bigger than this is refused with 413 before it is parsed.
    max_body_bytes: int = 6 * 1024 * 1024
    # The request- and recipient-level context together, per recipient (AJO allows 200 KB).
    max_context_bytes: int = 200 * 1024
    # A recipient's profile, as JSON in UTF-8. With the context it must fit one queue message
    # (queue_message.MAX_ENTRY_BYTES); the entry as a whole is checked against that too.
    max_profile_bytes: int = 200 * 1024
    # The SNS platform applications push may use, as "<SNS platform>/<appID>" (PushApplicationArns).
    push_applications: frozenset[str] = frozenset()
    webhooks_queue_url: str = ""  # SQS queue of webhook deliveries (webhooks.py writes, the webhooks function reads)
    # Set by the local stack alone (never by template.yaml): its own receiver's URL prefix, which webhooks
    # may call over HTTP on loopback (webhook_guard.py). Empty in AWS: loopback is refused like the rest.
    webhooks_local_receiver: str = ""
    # Whether the authorizer looks up keys that are not of key_format's shape (keys made before it,
    # a chosen LOCAL_API_KEY) instead of refusing them unread (AcceptUncheckedKeys).
    accept_unchecked_keys: bool = False
    # Whether the authorizer denies a request without a valid key, so that API Gateway answers it (403,
    # not the contract's 401 problem) and no function runs (RefuseUnknownKeysAtGateway).
    refuse_at_gateway: bool = False
    # Whether a requestId is also looked up as recorded before idempotency was scoped per calling key
    # (one more read per call with a requestId): while upgrading such a stack (ReadUnscopedRequestIds).
    read_unscoped_request_ids: bool = False

    def __post_init__(self) -> None:
        # A misconfigured stack fails its first invocation loudly rather than misbehaving.
        if self.idempotency_hours < 1:
            raise ValueError("IDEMPOTENCY_HOURS must be at least 1")
        if self.ses_max_send_rate < 0:
            raise ValueError("SES_MAX_SEND_RATE must not be negative")
        if self.campaign_cache_seconds < 0:
            raise ValueError("CAMPAIGN_CACHE_SECONDS must not be negative")


@per_container
@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        campaigns_table=env.get("CAMPAIGNS_TABLE", "campaigns"),
        executions_table=env.get("EXECUTIONS_TABLE", "executions"),
        api_keys_table=env.get("API_KEYS_TABLE", "api-keys"),
        delivery_queue_url=env.get("DELIVERY_QUEUE_URL", ""),
        profiles_table=env.get("PROFILES_TABLE", "profiles"),
        audiences_table=env.get("AUDIENCES_TABLE", "audiences"),
        jobs_queue_url=env.get("JOBS_QUEUE_URL", ""),
        throttle_table=env.get("THROTTLE_TABLE", "throttle"),
        delivery_dead_letter_queue_url=env.get("DELIVERY_DEAD_LETTER_QUEUE_URL", ""),
        delivery_max_receive_count=int(env.get("DELIVERY_MAX_RECEIVE_COUNT") or 12),
        ses_max_send_rate=int(env.get("SES_MAX_SEND_RATE") or 0),
        idempotency_hours=int(env.get("IDEMPOTENCY_HOURS") or 24),
        ses_configuration_set=env.get("SES_CONFIGURATION_SET", ""),
        campaign_cache_seconds=float(env.get("CAMPAIGN_CACHE_SECONDS") or 1.0),
        accept_unchecked_keys=env.get("ACCEPT_UNCHECKED_KEYS", "false").lower() == "true",
        refuse_at_gateway=env.get("REFUSE_UNKNOWN_KEYS_AT_GATEWAY", "false").lower() == "true",
        read_unscoped_request_ids=env.get("READ_UNSCOPED_REQUEST_IDS", "false").lower() == "true",
        push_applications=frozenset(
            arn.partition(":app/")[2] for arn in env.get("PUSH_APPLICATION_ARNS", "").split(",") if ":app/" in arn
        ),
        webhooks_queue_url=env.get("WEBHOOKS_QUEUE_URL", ""),
        webhooks_local_receiver=env.get("WEBHOOKS_LOCAL_RECEIVER", ""),
    )
