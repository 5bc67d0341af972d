"""/profiles and /suppressions: the people campaigns reach, and the addresses they never reach."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import profiles, suppressions
from campaign_engine.profiles import MAX_ID_CHARS, ErasureAccepted, ProfileBody, StoredProfile
from campaign_engine.routes.resolver import caller, json_response
from campaign_engine.suppressions import Suppression, SuppressionsAdded, SuppressionsBody

router = Router()
# Checked by the domain (profiles.identity_errors) with messages of its own; declared here for the document.
Namespace = Annotated[str, Path(description="Identity namespace: email, phone, ecid or your own", max_length=64)]
ProfileId = Annotated[str, Path(description="The person's id in that namespace", max_length=MAX_ID_CHARS)]
ChannelParam = Annotated[str, Path(description="email, sms or push", max_length=16)]
Address = Annotated[
    str, Path(description="The email address, E.164 number or push token, percent-encoded", max_length=4096)
]


def _ok(model: Any, status: int = 200, description: str = "OK") -> dict[int, OpenAPIResponse]:
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


@router.put(
    "/profiles/<namespace>/<profileId>",
    summary="Create or replace a profile (scope profiles:write)",
    description="The whole profile: fields left out are removed. Its `createdAt` is kept from the profile it "
    "replaces. At most 200 KB as JSON.",
    tags=["profiles"],
    responses=_ok(StoredProfile),
)
def put_profile(namespace: Namespace, profileId: ProfileId, body: Annotated[ProfileBody, Body()]):
    return json_response(200, profiles.put_profile(namespace, profileId, body, caller(router)))


@router.get(
    "/profiles/<namespace>/<profileId>",
    summary="Read a profile (scope campaigns:read or profiles:write)",
    tags=["profiles"],
    responses=_ok(StoredProfile),
)
def get_profile(namespace: Namespace, profileId: ProfileId):
    return json_response(200, profiles.get_profile(namespace, profileId, caller(router)))


@router.delete(
    "/profiles/<namespace>/<profileId>",
    summary="Erase a person (scope profiles:write)",
    description="Deletes the profile at once, and the address in clear from the suppression entries of its "
    "email, phone and push tokens (the entries stay: the addresses stay suppressed). A background job then "
    "replaces the person's id in execution records by a pseudonym and removes them from static audiences. "
    "Answers 202 whether or not a profile was stored (`profileFound`): records may know the person without one.",
    tags=["profiles"],
    responses=_ok(ErasureAccepted, 202, "Accepted: the profile is deleted, the erasure of records is under way"),
)
def delete_profile(namespace: Namespace, profileId: ProfileId):
    return json_response(202, profiles.erase_profile(namespace, profileId, caller(router)))


@router.post(
    "/suppressions",
    summary="Add addresses to the suppression list (scope profiles:write)",
    description="Up to 1,000 entries per call. An address already listed keeps its entry.",
    tags=["suppressions"],
    responses=_ok(SuppressionsAdded),
)
def add_suppressions(body: Annotated[SuppressionsBody, Body()]):
    return json_response(200, suppressions.add(body, caller(router)))


@router.get(
    "/suppressions/<channel>/<address>",
    summary="Is this address suppressed? (scope campaigns:read or profiles:write)",
    tags=["suppressions"],
    responses=_ok(Suppression),
)
def get_suppression(channel: ChannelParam, address: Address):
    return json_response(200, suppressions.get(channel, address, caller(router)))


@router.delete(
    "/suppressions/<channel>/<address>",
    summary="Take an address off the suppression list (scope profiles:write)",
    tags=["suppressions"],
    responses={204: {"description": "Removed"}},
)
def delete_suppression(channel: ChannelParam, address: Address):
    suppressions.remove(channel, address, caller(router))
    return Response(status_code=204, body="")
