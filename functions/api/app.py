"""Campaigns, execution status, health, the OpenAPI document and the web console's files.

A cold start here is the console's first request, a static file that needs nothing but the logger,
the metrics and campaign_engine.console: the validating resolver (Powertools' event handler,
pydantic, its error handling) is built on the first API request, and each router is taken in on the
first request on its paths (campaign_engine.routes.by_path). No Powertools tracer: Lambda's active
tracing records each invocation, and the X-Ray SDK the tracer loads cost about a sixth of this
function's cold start."""

from pathlib import Path

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine import console
from campaign_engine.observability import logger, metrics
from campaign_engine.routes.by_path import RoutersOnDemand

app = RoutersOnDemand()
# The console's static files ship with this function (its CodeUri), beside this module.
CONSOLE_ROOT = Path(__file__).resolve().parent / "console"


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # API Gateway's request id, read directly (as the decorator's correlation_id_path would, by JMESPath).
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    if console.is_console_request(event):
        return console.respond(CONSOLE_ROOT, event)
    return app.resolve(event, context)
