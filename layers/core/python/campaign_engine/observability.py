"""The one logger, tracer and metrics object every module uses.

Log structured keys (ids, counts, reason codes); never message bodies, addresses or
phone numbers.

The tracer is built on first use: the X-Ray SDK it loads costs about 100 ms of cold start, so
the hot-path functions (trigger, delivery) go without its per-call subsegments; Lambda's
active tracing still records each of their invocations."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()


@cache
def _tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer()


def __getattr__(name: str) -> Any:
    if name == "tracer":
        return _tracer()
    raise AttributeError(name)
