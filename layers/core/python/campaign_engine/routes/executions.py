"""/im/executions: triggering (the trigger function) and reading outcomes (the API function)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from campaign_engine.audience_models import AudienceExecutionStatus
from campaign_engine.executions import execution_status, find_execution
from campaign_engine.models import ExecutionStatus, TriggerAccepted, TriggerRequest
from campaign_engine.routes.resolver import caller, json_response
from campaign_engine.trigger import TriggerCall, trigger_unitary

trigger_router = Router()
status_router = Router()
# A unitary execution's answer, or an audience execution's (ids starting "aud_").
StatusAnswer = ExecutionStatus | AudienceExecutionStatus
ExecutionId = Annotated[str, Path(description="Execution id from the trigger's answer", max_length=64)]


@trigger_router.post(
    "/im/executions/unitary",
    summary="Trigger a campaign for up to 1,000 recipients (AJO Interactive Message Execution API)",
    tags=["executions"],
    responses={
        202: {
            "description": "Accepted: a verdict per recipient; accepted ones are queued",
            "content": {"application/json": {"model": TriggerAccepted}},
        }
    },
)
def trigger(body: TriggerRequest):
    # The trigger function serves this route through routes/unitary.py, without this resolver;
    # the route stays here so that the OpenAPI document describes it from the same models.
    return json_response(202, trigger_unitary(TriggerCall.from_model(body), caller(trigger_router)))


def _status(execution_id: str, limit: int, next_token: str | None):
    return json_response(200, execution_status(execution_id, caller(status_router), limit=limit, next_token=next_token))


@status_router.get(
    "/im/executions",
    summary="Find an execution by the campaignId and requestId of the call that made it",
    description="Answers as GET /im/executions/{executionId} does (unitary and audience executions).",
    tags=["executions"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": StatusAnswer}}}},
)
def find_execution_by_request(
    campaignId: Annotated[str, Query(min_length=1, max_length=128)],
    requestId: Annotated[str, Query(min_length=1, max_length=256)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    nextToken: Annotated[str | None, Query(max_length=4096)] = None,
):
    found = find_execution(campaignId, requestId, caller(status_router), limit=limit, next_token=nextToken)
    return json_response(200, found)


@status_router.get(
    "/im/executions/<executionId>",
    summary="Status of every recipient of an execution (unitary), or an audience execution's status and counts",
    tags=["executions"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": StatusAnswer}}}},
)
def get_execution(
    executionId: ExecutionId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    nextToken: Annotated[str | None, Query(max_length=4096)] = None,
):
    return _status(executionId, limit, nextToken)


@status_router.get(
    "/im/executions/audience/<executionId>",
    summary="Alias of GET /im/executions/{executionId}",
    tags=["executions"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": StatusAnswer}}}},
)
def get_audience_execution(
    executionId: ExecutionId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    nextToken: Annotated[str | None, Query(max_length=4096)] = None,
):
    return _status(executionId, limit, nextToken)
