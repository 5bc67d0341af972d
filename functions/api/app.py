"""Campaigns, execution status, health, the OpenAPI document and the web console's files."""

from pathlib import Path

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine import console
from campaign_engine.observability import logger, metrics, tracer
from campaign_engine.routes import (
    audience_executions,
    audiences,
    campaigns,
    executions,
    keys,
    meta,
    profiles,
    rules,
    webhooks,
)
from campaign_engine.routes.resolver import new_resolver, resolve

app = new_resolver(
    meta.router,
    campaigns.router,
    executions.status_router,
    audience_executions.router,
    profiles.router,
    audiences.router,
    rules.router,
    keys.router,
    webhooks.router,
)
# The console's static files ship with this function (its CodeUri), beside this module.
CONSOLE_ROOT = Path(__file__).resolve().parent / "console"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
# Never the response or the error in the trace: answers hold previews and recipient lists.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if console.is_console_request(event):
        return console.respond(CONSOLE_ROOT, event)
    return resolve(app, event, context)
