"""/keys: API keys (admin scope): create (shown once), list, read, revoke, rotate (campaign_engine/api_keys.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import api_keys
from campaign_engine.api_keys import ApiKey, ApiKeyList, KeyCreate, KeyRotation, NewApiKey
from campaign_engine.routes.resolver import caller, json_response

router = Router()
KeyId = Annotated[str, Path(description="The key's id (`key_...`), never the key", min_length=1, max_length=64)]
_CACHE = (
    "The authorizer's answers are cached by API Gateway for up to 5 minutes per key: a revoked or expired key may "
    "work for up to 5 minutes more, and a new key works at once."
)


def _answer(status: int, model: Any, description: str = "OK") -> dict[int, OpenAPIResponse]:
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


@router.post(
    "/keys",
    summary="Create an API key (scope admin): the key is in this answer only",
    description="Stored as its SHA-256: the key itself is never shown again. An admin key may create any key "
    "(admin included); `labels` limit a non-admin key to the campaigns all of whose labels it holds. " + _CACHE,
    tags=["keys"],
    responses=_answer(201, NewApiKey, "Created: the key, shown this once"),
)
def create_key(body: KeyCreate):
    return json_response(201, api_keys.create(body, caller(router)))


@router.get(
    "/keys",
    summary="List API keys (scope admin): never the keys themselves",
    tags=["keys"],
    responses=_answer(200, ApiKeyList),
)
def list_keys(
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    nextToken: Annotated[str | None, Query()] = None,
):
    return json_response(200, api_keys.list_keys(caller(router), limit=limit, next_token=nextToken))


@router.get("/keys/<keyId>", summary="Read an API key (scope admin)", tags=["keys"], responses=_answer(200, ApiKey))
def get_key(keyId: KeyId):
    return json_response(200, api_keys.get(keyId, caller(router)))


@router.delete(
    "/keys/<keyId>",
    summary="Revoke an API key (scope admin)",
    description="The key is kept, revoked (`revokedAt`), so the list says who had access; revoking it again "
    "changes nothing. The last active admin key cannot be revoked: create another first. " + _CACHE,
    tags=["keys"],
    responses={204: {"description": "Revoked"}},
)
def revoke_key(keyId: KeyId):
    api_keys.revoke(keyId, caller(router))
    return Response(status_code=204, body="")


@router.post(
    "/keys/<keyId>/rotate",
    summary="Rotate an API key (scope admin): a new key with the same name, scopes and labels",
    description="The old key is revoked now, or keeps working until `oldKeyExpiresAt` (a grace period to deploy "
    "the new key). The body is optional. The new key is in this answer only. " + _CACHE,
    tags=["keys"],
    responses=_answer(201, NewApiKey, "Created: the new key, shown this once"),
)
def rotate_key(keyId: KeyId, body: Annotated[KeyRotation | None, Body()] = None):
    return json_response(201, api_keys.rotate(keyId, body or KeyRotation(), caller(router)))
