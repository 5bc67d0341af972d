"""`GET` / `PUT /rules/frequency` (admin scope): the frequency caps across campaigns, per channel.

`PUT` replaces every channel's cap at once: a channel left out (or null) has none. What delivery
does with them is `frequency.py`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from campaign_engine import frequency
from campaign_engine.auth import Principal, require
from campaign_engine.models import StrictModel
from campaign_engine.store import frequency as store


class FrequencyCap(StrictModel):
    count: Annotated[
        int,
        Field(
            ge=frequency.MIN_COUNT,
            le=frequency.MAX_COUNT,
            description="At most this many marketing messages per person per period on the channel (1 to 1000)",
        ),
    ]
    period: Annotated[
        str,
        Field(
            description="ISO-8601 duration in weeks, days, hours, minutes or seconds, from PT1H to P90D",
            examples=["P7D"],
            max_length=32,
        ),
    ]

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if (problem := frequency.period_problem(value)) is not None:
            raise ValueError(problem)
        return value


class FrequencyRulesBody(StrictModel):
    """Per channel; a channel left out or null has no cap. Transactional campaigns are never capped."""

    email: FrequencyCap | None = None
    sms: FrequencyCap | None = None
    push: FrequencyCap | None = None


class FrequencyRules(FrequencyRulesBody):
    updated_at: Annotated[datetime | None, Field(alias="updatedAt", description="When they were last set")] = None


def _view(rules: dict[str, Any], updated_at: str | None) -> FrequencyRules:
    caps = {
        channel: {"count": rule["count"], "period": rule["period"]}
        for channel, rule in rules.items()
        if channel in frequency.CHANNELS
    }
    return FrequencyRules.model_validate({**caps, "updatedAt": updated_at})


def get_rules(principal: Principal) -> FrequencyRules:
    require(principal, "admin")
    return _view(*store.get_rules())


def put_rules(body: FrequencyRulesBody, principal: Principal) -> FrequencyRules:
    require(principal, "admin")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    rules = {
        channel: {"count": cap.count, "period": cap.period, "seconds": frequency.duration_seconds(cap.period)}
        for channel in frequency.CHANNELS
        if (cap := getattr(body, channel)) is not None
    }
    store.put_rules(rules, now)
    frequency.forget_rules()
    return _view(rules, now)
