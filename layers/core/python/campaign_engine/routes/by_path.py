"""The api function's routers, each imported when a request first needs it.

A cold api container answers the console's first request, a static file (campaign_engine.console)
that needs no resolver at all: so nothing of the resolver is imported or built here until the first
request that is not the console's. The validating resolver (Powertools' event handler, pydantic, its
OpenAPI machinery, our error handlers: about a third of the function's cold start on their own) is
built on that first API request; and importing every router (and the domain modules behind it:
audience executions, profiles, keys...) would be paid before a GET /campaigns that needs none of
them, so the router that serves a request's path is added when a request on that path first arrives,
and stays for the container's life. Every path belongs to exactly one router
(tests/unit/test_routes_by_path.py checks the table against the routers' own routes), so the
resolver answers every request on a path, 404 and 405 included, as one of all routers would.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.api_gateway import Router

# (raw path pattern, "module:router"), first match wins.
ROUTERS: tuple[tuple[str, str], ...] = (
    (r"/im/health$|/openapi\.json$", "meta:router"),
    (r"/campaigns/[^/]+/webhook/secret$", "webhooks:router"),
    (r"/campaigns(/|$)", "campaigns:router"),
    (r"/im/executions/audience$|/im/executions/schedules(/|$)", "audience_executions:router"),
    (r"/im/executions(/|$)", "executions:status_router"),
    (r"/profiles(/|$)|/suppressions(/|$)", "profiles:router"),
    (r"/audiences(/|$)", "audiences:router"),
    (r"/rules/frequency$", "rules:router"),
    (r"/rules/webhook$", "webhooks:router"),
    (r"/keys(/|$)", "keys:router"),
)
_PATTERNS = tuple((re.compile(pattern), name) for pattern, name in ROUTERS)
# A path no router serves: a resolver of every router answers it (404, 405) as it always has.
EVERY_ROUTER = "*"


def router_name(path: str) -> str:
    for pattern, name in _PATTERNS:
        if pattern.match(path):
            return name
    return EVERY_ROUTER


def request_path(event: dict[str, Any]) -> str:
    """The path Powertools routes on: the raw path, without a named stage's prefix."""
    path = str(event.get("rawPath") or "")
    stage = (event.get("requestContext") or {}).get("stage")
    if stage and stage != "$default" and path.startswith(f"/{stage}/"):
        return path[len(stage) + 1 :]
    return path


def load_router(name: str) -> Router:
    module, attribute = name.split(":")
    router: Router = getattr(importlib.import_module(f"campaign_engine.routes.{module}"), attribute)
    return router


class RoutersOnDemand:
    """A resolver built on the first request it answers, that takes in each router when a request on
    its paths first arrives."""

    def __init__(self) -> None:
        self._app: APIGatewayHttpResolver | None = None
        self.loaded: set[str] = set()

    @property
    def app(self) -> APIGatewayHttpResolver:
        if self._app is None:
            from campaign_engine.routes.resolver import new_resolver

            self._app = new_resolver()
        return self._app

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from campaign_engine.routes.resolver import resolve

        app = self.app
        name = router_name(request_path(event))
        for each in dict.fromkeys(n for _, n in ROUTERS) if name == EVERY_ROUTER else (name,):
            if each not in self.loaded:
                app.include_router(load_router(each))
                self.loaded.add(each)
        return resolve(app, event, context)
