"""The one logger, tracer and metrics object every module uses.

Log structured keys (ids, counts, reason codes); never message bodies, addresses or
phone numbers."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
