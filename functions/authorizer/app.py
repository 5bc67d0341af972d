"""HTTP API Lambda authorizer (simple responses): resolves the Bearer key to its principal.

It allows, passing either the principal or why there is none: the functions then answer
401/403 as problem+json, which API Gateway's own denials cannot be (unless the stack is set
to refuse bad keys at the gateway: auth.authorizer_answer)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.auth import authorizer_answer
from campaign_engine.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = event.get("headers") or {}
    answer = authorizer_answer(headers.get("authorization"))
    if not answer["context"].get("authenticated"):  # only refusals are worth a log line (and a log bill)
        logger.info("not authenticated", reason=answer["context"].get("error"))
    return answer
