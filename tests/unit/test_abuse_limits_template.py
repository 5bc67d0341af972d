"""The stage's throttles and the functions' reserved concurrency, as template.yaml deploys them: the trigger
route throttled apart from the rest, and no reservation by default (a new account's quota of 10 could not
hold one: Lambda keeps 10 unreserved), each function's own when its parameter is set."""

from __future__ import annotations

from typing import Any

import pytest

from local.harness import ROOT
from local.template import Template

RESERVABLE = {
    "TriggerFunction": "TriggerReservedConcurrency",
    "ApiFunction": "ApiReservedConcurrency",
    "AuthorizerFunction": "AuthorizerReservedConcurrency",
    "DeliveryFunction": "DeliveryReservedConcurrency",
}


SENDER = {"SenderIdentityArns": "arn:aws:ses:us-east-1:123456789012:identity/example.com"}


def _template(**parameters: str) -> Template:
    return Template.load(ROOT / "template.yaml", parameters={**SENDER, **parameters})


def _resolved(template: Template, logical_id: str) -> dict[str, Any]:
    return template.resolve(template._properties(logical_id))  # type: ignore[no-any-return]


def _numbers(settings: dict[str, Any]) -> dict[str, int]:
    """As CloudFormation reads a Number parameter: a parameter given on the command line is a string."""
    return {name: int(value) for name, value in settings.items()}


def test_the_trigger_route_has_its_own_throttle_and_every_other_route_the_default() -> None:
    template = _template(TriggerThrottleRateLimit="750")
    properties = template._properties("HttpApi")
    api = {name: template.resolve(properties[name]) for name in ("DefaultRouteSettings", "RouteSettings")}
    assert _numbers(api["DefaultRouteSettings"]) == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    assert list(api["RouteSettings"]) == ["POST /im/executions/unitary"]
    trigger = _numbers(api["RouteSettings"]["POST /im/executions/unitary"])
    assert trigger == {"ThrottlingBurstLimit": 2000, "ThrottlingRateLimit": 750}
    assert "POST /im/executions/unitary" in {route.route_key for route in template.http_routes()}


def test_no_function_reserves_concurrency_by_default() -> None:
    template = _template()
    for function in RESERVABLE:
        assert "ReservedConcurrentExecutions" not in _resolved(template, function), function


@pytest.mark.parametrize(("function", "parameter"), sorted(RESERVABLE.items()))
def test_a_reservation_is_the_functions_own_parameter(function: str, parameter: str) -> None:
    template = _template(**{parameter: "25"})
    assert int(_resolved(template, function)["ReservedConcurrentExecutions"]) == 25
    others = set(RESERVABLE) - {function}
    assert all("ReservedConcurrentExecutions" not in _resolved(template, other) for other in others)


def test_the_authorizer_cache_is_at_most_five_minutes() -> None:
    (authorizer,) = _template().authorizers().values()
    assert 0 < authorizer.ttl_seconds <= 300
