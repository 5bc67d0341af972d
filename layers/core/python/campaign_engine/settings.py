"""Configuration, read from the environment once per container."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    campaigns_table: str = Field(description="DynamoDB table of campaigns and their versions")
    executions_table: str = Field(description="DynamoDB table of executions and recipient outcomes")
    api_keys_table: str = Field(description="DynamoDB table of hashed API keys")
    delivery_queue_url: str = Field(description="SQS queue the trigger writes and delivery reads")
    idempotency_hours: int = Field(24, ge=1, description="How long a requestId replays its answer")
    ses_configuration_set: str = Field("", description="SES configuration set named on each email")
    campaign_cache_seconds: float = Field(1.0, ge=0, description="How long a trigger container reuses a campaign read")
    max_recipients_per_call: int = 1000
    # A request body bigger than this is refused with 413 before it is parsed.
    max_body_bytes: int = 6 * 1024 * 1024
    # The request- and recipient-level context together, per recipient (AJO allows 200 KB).
    max_context_bytes: int = 200 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        campaigns_table=env.get("CAMPAIGNS_TABLE", "campaigns"),
        executions_table=env.get("EXECUTIONS_TABLE", "executions"),
        api_keys_table=env.get("API_KEYS_TABLE", "api-keys"),
        delivery_queue_url=env.get("DELIVERY_QUEUE_URL", ""),
        idempotency_hours=int(env.get("IDEMPOTENCY_HOURS") or 24),
        ses_configuration_set=env.get("SES_CONFIGURATION_SET", ""),
        campaign_cache_seconds=float(env.get("CAMPAIGN_CACHE_SECONDS") or 1.0),
    )
