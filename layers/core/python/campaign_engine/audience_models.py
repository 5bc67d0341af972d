"""The contract's shapes for audience executions (POST /im/executions/audience, its status, its schedules)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from campaign_engine.models import ApiModel, RecipientOutcome, RequestId, StrictModel


class AudienceRef(StrictModel):
    id: Annotated[
        str | None,
        Field(min_length=1, max_length=128, description="The audience to send to (required: never 'everyone')"),
    ] = None


class ScheduleRequest(StrictModel):
    execute_at: Annotated[
        datetime,
        Field(alias="executeAt", description="When to start: ISO 8601 with an offset, in the future, within a year"),
    ]


class AudienceExecutionRequest(StrictModel):
    campaign_id: Annotated[str, Field(alias="campaignId", min_length=1, max_length=128)]
    request_id: RequestId = None
    audience: Annotated[AudienceRef | None, Field(description="Required: {'id': <audience id>}")] = None
    context: dict[str, Any] | None = None
    schedule: ScheduleRequest | None = None
    dry_run: Annotated[
        bool,
        Field(
            alias="dryRun", description="Count the audience and its exclusions; nothing is sent, queued or scheduled"
        ),
    ] = False

    def __repr__(self) -> str:
        return f"AudienceExecutionRequest(campaignId={self.campaign_id!r})"


class AudienceExecutionAccepted(ApiModel):
    execution_id: Annotated[str | None, Field(alias="executionId")] = None
    schedule_id: Annotated[str | None, Field(alias="scheduleId")] = None
    execute_at: Annotated[str | None, Field(alias="executeAt")] = None
    request_id: Annotated[str, Field(alias="requestId")]
    campaign_id: Annotated[str, Field(alias="campaignId")]
    audience_id: Annotated[str, Field(alias="audienceId")]
    status: Literal["queued", "scheduled"]
    created_at: Annotated[str, Field(alias="createdAt")]


class AudienceDryRun(ApiModel):
    count: Annotated[int, Field(description="Members counted")]
    excluded: Annotated[dict[str, int], Field(description="Members that would be excluded, by reason")]
    would_send: Annotated[int, Field(alias="wouldSend", description="Members that would be queued")]
    complete: Annotated[bool, Field(description="False when the audience was too large to count within the time limit")]


class AudienceCounts(ApiModel):
    targeted: Annotated[int, Field(description="Members read from the audience so far")]
    queued: Annotated[int, Field(description="Members handed to delivery")]
    excluded: Annotated[dict[str, int], Field(description="Members excluded at fan-out, by reason")]


class AudienceExecutionStatus(ApiModel):
    execution_id: Annotated[str, Field(alias="executionId")]
    request_id: Annotated[str, Field(alias="requestId")]
    campaign_id: Annotated[str, Field(alias="campaignId")]
    campaign_version: Annotated[int | None, Field(alias="campaignVersion")] = None
    audience_id: Annotated[str, Field(alias="audienceId")]
    schedule_id: Annotated[str | None, Field(alias="scheduleId")] = None
    created_at: Annotated[datetime, Field(alias="createdAt")]
    status: Annotated[
        Literal["queued", "running", "completed", "cancelled"],
        Field(description="completed once every member was read and queued or excluded (delivery may still run)"),
    ]
    detail: Annotated[str | None, Field(description="Why the execution was cancelled")] = None
    counts: AudienceCounts
    recipients: Annotated[
        list[RecipientOutcome],
        Field(description="Recipients excluded at fan-out or reached by delivery, a page at a time"),
    ]
    next_token: Annotated[str | None, Field(alias="nextToken")] = None


class ScheduleStatus(ApiModel):
    schedule_id: Annotated[str, Field(alias="scheduleId")]
    campaign_id: Annotated[str, Field(alias="campaignId")]
    audience: dict[str, str]
    execute_at: Annotated[str, Field(alias="executeAt")]
    status: Literal["scheduled", "started", "cancelled"]
    execution_id: Annotated[str | None, Field(alias="executionId")] = None
    request_id: Annotated[str, Field(alias="requestId")]
    created_at: Annotated[str, Field(alias="createdAt")]
