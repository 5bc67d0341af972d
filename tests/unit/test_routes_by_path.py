"""The api function imports a router when a request on its paths first arrives (routes/by_path.py):
every route must be found under the router that declares it, whatever its path parameters hold."""

from __future__ import annotations

import re

import pytest

from campaign_engine.routes import by_path
from local.harness import api_event
from tests.conftest import Api

ALL = list(dict.fromkeys(name for _, name in by_path.ROUTERS))


def _paths(name: str) -> list[str]:
    router = by_path.load_router(name)
    return sorted({path for path, *_ in router._routes})


def _concrete(path: str) -> str:
    """A path as a caller sends it: each <parameter> filled with a value."""
    return re.sub(r"<[^>]+>", "x-1%2Fy", path)


@pytest.mark.parametrize("name", ALL)
def test_every_route_is_served_by_the_router_that_declares_it(name: str) -> None:
    paths = _paths(name)
    assert paths, name
    for path in paths:
        assert by_path.router_name(_concrete(path)) == name, path


def test_no_path_belongs_to_two_routers() -> None:
    seen: dict[str, str] = {}
    for name in ALL:
        for path in _paths(name):
            assert path not in seen or seen[path] == name, f"{path}: {seen.get(path)} and {name}"
            seen[path] = name


def test_a_path_no_router_serves_is_answered_by_all_of_them(api: Api) -> None:
    assert by_path.router_name("/nowhere") == by_path.EVERY_ROUTER
    event = api_event("api/list_campaigns.json")
    event.update(routeKey="GET /nowhere", rawPath="/nowhere", rawQueryString="", queryStringParameters=None)
    event["requestContext"].update(
        routeKey="GET /nowhere", http={**event["requestContext"]["http"], "path": "/nowhere"}
    )
    answer = api.call_event("api", event)
    assert answer.status == 404, answer


def test_a_named_stage_is_not_part_of_the_path() -> None:
    event = {"rawPath": "/prod/campaigns", "requestContext": {"stage": "prod"}}
    assert by_path.router_name(by_path.request_path(event)) == "campaigns:router"
    assert by_path.request_path({"rawPath": "/campaigns", "requestContext": {"stage": "$default"}}) == "/campaigns"
