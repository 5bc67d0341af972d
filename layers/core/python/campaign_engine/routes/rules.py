"""/rules: rules across campaigns (admin scope). Today the frequency caps (campaign_engine/frequency_rules.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import frequency_rules
from campaign_engine.frequency_rules import FrequencyRules, FrequencyRulesBody
from campaign_engine.routes.resolver import caller, json_response

router = Router()
_OK: dict[int, OpenAPIResponse] = {
    200: {"description": "OK", "content": {"application/json": {"model": FrequencyRules}}}
}


@router.get(
    "/rules/frequency",
    summary="Read the frequency caps (scope admin)",
    description="Per channel: at most `count` marketing messages per person per `period`, across campaigns.",
    tags=["rules"],
    responses=_OK,
)
def get_frequency_rules():
    return json_response(200, frequency_rules.get_rules(caller(router)))


@router.put(
    "/rules/frequency",
    summary="Set the frequency caps (scope admin)",
    description="Replaces every channel's cap: a channel left out or null has none. `count` 1 to 1000; `period` "
    "an ISO-8601 duration from PT1H to P90D (weeks, days, hours, minutes, seconds: P7D, PT12H, P1DT6H). A marketing "
    "recipient already sent `count` messages on the channel within `period` (any campaign) is excluded as "
    "`frequency_capped`; transactional campaigns are neither counted nor capped. Delivery sees a change within "
    "a few seconds.",
    tags=["rules"],
    responses=_OK,
)
def put_frequency_rules(body: Annotated[FrequencyRulesBody, Body()]):
    return json_response(200, frequency_rules.put_rules(body, caller(router)))
