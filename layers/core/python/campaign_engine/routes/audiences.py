"""/audiences: static lists filled in chunks, and rule-based audiences (campaign_engine/audiences.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import audiences
from campaign_engine.audiences import Audience, AudienceCreate, AudienceDeleting, AudienceList, MembersAdd, MembersAdded
from campaign_engine.routes.resolver import caller, json_response

router = Router()
AudienceId = Annotated[str, Path(description="Audience id", min_length=1, max_length=64)]


def _answer(status: int, model: Any, description: str = "OK") -> dict[int, OpenAPIResponse]:
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


@router.post(
    "/audiences",
    summary="Create a static audience (with up to 1,000 first members) or a rule-based one",
    tags=["audiences"],
    responses=_answer(201, Audience, "Created"),
)
def create_audience(body: AudienceCreate):
    return json_response(201, audiences.create(body, caller(router)))


@router.get(
    "/audiences", summary="List audiences, newest first", tags=["audiences"], responses=_answer(200, AudienceList)
)
def list_audiences(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    nextToken: Annotated[str | None, Query(max_length=4096)] = None,
):
    return json_response(200, audiences.list_audiences(caller(router), limit=limit, next_token=nextToken))


@router.get(
    "/audiences/<audienceId>",
    summary="Read an audience (count=true: count its members now, within a few seconds)",
    tags=["audiences"],
    responses=_answer(200, Audience),
)
def get_audience(
    audienceId: AudienceId,
    count: Annotated[
        bool, Query(description="Count the members now (a rule audience: the profiles its rule selects)")
    ] = False,
):
    return json_response(200, audiences.get(audienceId, caller(router), count=count))


@router.delete(
    "/audiences/<audienceId>",
    summary="Delete an audience and its members",
    tags=["audiences"],
    responses={
        204: {"description": "Deleted"},
        **_answer(202, AudienceDeleting, "Out of reach; a very large list's members are still being deleted"),
    },
)
def delete_audience(audienceId: AudienceId):
    pending = audiences.delete(audienceId, caller(router))
    return Response(status_code=204, body="") if pending is None else json_response(202, pending)


@router.post(
    "/audiences/<audienceId>/members",
    summary="Add up to 1,000 members to a static audience (and, optionally, their profiles)",
    tags=["audiences"],
    responses=_answer(200, MembersAdded),
)
def add_members(audienceId: AudienceId, body: MembersAdd):
    return json_response(200, audiences.add_members(audienceId, body, caller(router)))
