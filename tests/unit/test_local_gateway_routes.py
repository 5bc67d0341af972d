"""The local gateway picks the route API Gateway would for a path (local/gateway.py: Gateway.route_for),
on the template's own routes: a trailing slash no route matches takes the route of the path without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.gateway import Gateway, Route
from local.template import HttpRoute, Template

ROOT = Path(__file__).resolve().parents[2]


def _gateway(extra: tuple[HttpRoute, ...] = ()) -> Gateway:
    specs = [*Template.load(ROOT / "template.yaml").http_routes(), *extra]
    target: Any = None  # no function runs: only the routes are matched
    return Gateway([Route.compile(spec, target) for spec in specs], {})


def _route_key(gateway: Gateway, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = gateway.route_for(method, path)
    return None if found is None else (found[0].spec.route_key, found[1])


def test_the_console_folder_takes_the_console_route() -> None:
    gateway = _gateway()
    assert _route_key(gateway, "GET", "/console/") == ("GET /console", {})
    assert _route_key(gateway, "GET", "/console") == ("GET /console", {})
    assert _route_key(gateway, "GET", "/console/index.html") == ("GET /console/{proxy+}", {"proxy": "index.html"})
    assert _route_key(gateway, "GET", "/console/js/") == ("GET /console/{proxy+}", {"proxy": "js/"})


def test_a_trailing_slash_is_matched_without_it_only_where_no_route_matches() -> None:
    gateway = _gateway()
    assert _route_key(gateway, "GET", "/campaigns/") == ("GET /campaigns", {})
    assert _route_key(gateway, "GET", "/campaigns/c-1/") == ("GET /campaigns/{campaignId}", {"campaignId": "c-1"})
    assert _route_key(gateway, "PUT", "/im/health/") is None, "no PUT /im/health: still API Gateway's 404"
    assert _route_key(gateway, "GET", "/nope/") is None
    assert _route_key(gateway, "GET", "/") is None


def test_a_default_route_does_not_take_what_a_route_takes_without_the_slash() -> None:
    gateway = _gateway((HttpRoute("ANY", "$default", "ApiFunction", None),))
    assert _route_key(gateway, "GET", "/console/") == ("GET /console", {})
    assert _route_key(gateway, "GET", "/nope/") == ("ANY $default", {})
