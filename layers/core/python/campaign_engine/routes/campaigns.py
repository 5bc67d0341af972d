"""/campaigns: authoring and lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import campaigns, reports
from campaign_engine.models import (
    Campaign,
    CampaignCreate,
    CampaignList,
    CampaignPatch,
    CampaignReport,
    CampaignStatus,
    Channel,
    PreviewRequest,
    PreviewResult,
    ReviewResult,
    TriggerRequestExample,
)
from campaign_engine.routes.resolver import caller, json_response

router = Router()
CampaignId = Annotated[str, Path(description="Campaign id", min_length=1, max_length=128)]


def _ok(model: Any) -> dict[int, OpenAPIResponse]:
    return {200: {"description": "OK", "content": {"application/json": {"model": model}}}}


@router.post(
    "/campaigns",
    summary="Create a draft campaign",
    tags=["campaigns"],
    responses={201: {"description": "Created", "content": {"application/json": {"model": Campaign}}}},
)
def create_campaign(body: CampaignCreate):
    return json_response(201, campaigns.create(body, caller(router)))


@router.get("/campaigns", summary="List campaigns", tags=["campaigns"], responses=_ok(CampaignList))
def list_campaigns(
    status: Annotated[CampaignStatus | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    nextToken: Annotated[str | None, Query(max_length=4096)] = None,
):
    found = campaigns.list_campaigns(
        caller(router), status=status, channel=channel, tag=tag, limit=limit, next_token=nextToken
    )
    return json_response(200, found)


@router.get("/campaigns/<campaignId>", summary="Read a campaign", tags=["campaigns"], responses=_ok(Campaign))
def get_campaign(
    campaignId: CampaignId,
    version: Annotated[
        Literal["current", "draft"],
        Query(description="draft: the pending draft of a live or scheduled campaign (else the campaign itself)"),
    ] = "current",
):
    return json_response(200, campaigns.get(campaignId, caller(router), draft=version == "draft"))


@router.patch(
    "/campaigns/<campaignId>",
    summary="Edit a draft (a live campaign: its pending draft)",
    description="JSON merge patch (RFC 7396): objects merge, null removes a field.",
    tags=["campaigns"],
    responses=_ok(Campaign),
)
def patch_campaign(campaignId: CampaignId, body: Annotated[CampaignPatch, Body()]):
    raw = router.current_event.json_body
    return json_response(200, campaigns.patch(campaignId, raw, caller(router)))


@router.delete(
    "/campaigns/<campaignId>", summary="Delete a draft", tags=["campaigns"], responses={204: {"description": "Deleted"}}
)
def delete_campaign(campaignId: CampaignId):
    campaigns.delete(campaignId, caller(router))
    return Response(status_code=204, body="")


@router.post(
    "/campaigns/<campaignId>/review",
    summary="Run every activation check",
    tags=["campaigns"],
    responses=_ok(ReviewResult),
)
def review_campaign(campaignId: CampaignId):
    return json_response(200, campaigns.review(campaignId, caller(router)))


@router.post(
    "/campaigns/<campaignId>/activate",
    summary="Review, then make live (or scheduled)",
    tags=["campaigns"],
    responses=_ok(Campaign),
)
def activate_campaign(campaignId: CampaignId):
    return json_response(200, campaigns.activate(campaignId, caller(router)))


@router.post(
    "/campaigns/<campaignId>/stop", summary="Stop accepting triggers", tags=["campaigns"], responses=_ok(Campaign)
)
def stop_campaign(campaignId: CampaignId):
    return json_response(200, campaigns.stop(campaignId, caller(router)))


@router.post("/campaigns/<campaignId>/archive", summary="Archive", tags=["campaigns"], responses=_ok(Campaign))
def archive_campaign(campaignId: CampaignId):
    return json_response(200, campaigns.archive(campaignId, caller(router)))


@router.post(
    "/campaigns/<campaignId>/duplicate",
    summary="Copy into a new draft",
    tags=["campaigns"],
    responses={201: {"description": "Created", "content": {"application/json": {"model": Campaign}}}},
)
def duplicate_campaign(campaignId: CampaignId):
    return json_response(201, campaigns.duplicate(campaignId, caller(router)))


@router.post(
    "/campaigns/<campaignId>/preview",
    summary="Render with sample data; nothing is sent",
    tags=["campaigns"],
    responses={**_ok(PreviewResult), 422: {"description": "render_error"}},
)
def preview_campaign(campaignId: CampaignId, body: PreviewRequest):
    from campaign_engine import previews  # the renderer: only previews need it

    return json_response(200, previews.preview(campaignId, body, caller(router)))


@router.get(
    "/campaigns/<campaignId>/trigger-request",
    summary="A ready cURL and example body for this campaign",
    tags=["campaigns"],
    responses=_ok(TriggerRequestExample),
)
def trigger_request(campaignId: CampaignId):
    event = router.current_event
    host = event.headers.get("host") or event.raw_event["requestContext"].get("domainName", "localhost")
    scheme = event.headers.get("x-forwarded-proto") or ("http" if host.startswith(("127.", "localhost")) else "https")
    from campaign_engine import previews

    return json_response(200, previews.trigger_request_example(campaignId, caller(router), f"{scheme}://{host}"))


@router.get(
    "/campaigns/<campaignId>/report",
    summary="What happened to the campaign's recipients: targeted to clicked, by reason, locale and day",
    tags=["campaigns"],
    responses=_ok(CampaignReport),
)
def campaign_report(
    campaignId: CampaignId,
    since: Annotated[datetime | None, Query(description="Only outcomes from this time (hour precision)")] = None,
    by: Annotated[Literal["day"] | None, Query(description="`day`: also the counts of each UTC day")] = None,
):
    return json_response(200, reports.campaign_report(campaignId, caller(router), since, by))
