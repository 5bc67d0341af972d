"""Infrastructure cost per million emails, from the measured requests, units and CPU, at AWS's prices.

Prices are AWS's published on-demand prices for us-east-1 (US East, N. Virginia), first tier, no
free tier (it is negligible at millions of emails):
- API Gateway HTTP API: $1.00 per million requests (first 300 million a month), metered per 512 KB
  (https://aws.amazon.com/api-gateway/pricing/);
- Lambda: $0.20 per million requests; arm64 duration $0.0000133334 per GB-second (first 7.5 billion
  GB-s a month) (https://aws.amazon.com/lambda/pricing/);
- DynamoDB on-demand: $0.625 per million write request units and $0.125 per million read request
  units (since the November 2024 reduction); storage $0.25 per GB-month, point-in-time recovery
  $0.20 per GB-month (https://aws.amazon.com/dynamodb/pricing/on-demand/). A write unit is 1 KB of
  item, a strongly consistent read 4 KB (eventually consistent: half), transactions count double;
- SQS standard: $0.40 per million requests, each 64 KB chunk of payload a request
  (https://aws.amazon.com/sqs/pricing/);
- SNS mobile push $0.50 per million publishes (no email goes through SNS);
- CloudWatch Logs ingestion of Lambda logs: $0.50 per GB (https://aws.amazon.com/cloudwatch/pricing/);
- SES $0.10 per 1,000 emails, the same whatever the design: not included. Its events reach the
  feedback queue through EventBridge's default bus, which does not charge for AWS service events;
  the rule's put is one SQS request per event, and the queue's event source mapping hands them to
  the feedback function in batches (its ReceiveMessage and DeleteMessageBatch counted).

Billed Lambda duration, per invocation = CPU time measured here x max(1, 1769 MB / memory)
(Lambda gives a function a share of one vCPU proportional to its memory, a full one at 1,769 MB;
a core of this machine is taken as equal to a Graviton one) + the time it waits on AWS, measured
with every request answered after a typical in-region latency (fake_aws.DEFAULT_LATENCY_SECONDS:
DynamoDB 5 ms, SQS 10 ms, SES and SNS 25 ms) while the process computes nothing else. Memory
sizes come from template.yaml. Cold starts (init is billed since August 2025) are left out:
per email they vanish when containers are reused. The authorizer's answer is cached by API Gateway
for 5 minutes per key, so it costs nothing per email either. X-Ray (Tracing: Active) is left out:
$5.00 per million traces recorded, at the default sampling (1 a second, then 5 %) about $0.25 per
million trigger calls at high volume.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.aws_requests import PLATFORM_LOG_BYTES_PER_INVOCATION, Mix
from benchmarks.fake_aws import DEFAULT_LATENCY_SECONDS

PRICES_USD: dict[str, float] = {
    "apigateway_http_per_million_requests": 1.00,
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "dynamodb_storage_per_gb_month": 0.25,
    "dynamodb_pitr_per_gb_month": 0.20,
    "sqs_per_million_requests": 0.40,
    "sns_push_per_million_publishes": 0.50,
    "cloudwatch_logs_per_gb_ingested": 0.50,
}
FULL_VCPU_MB = 1769
APIGATEWAY_METERING_BYTES = 512 * 1024
RETENTION_DAYS = 30  # claims and request records (trigger.RETENTION)
ASSUMPTIONS = [
    "us-east-1 on-demand prices, first tier, free tiers ignored; SES ($100 per million emails) excluded",
    "requests per email count DynamoDB, SQS (the event source mapping's ReceiveMessage and DeleteMessageBatch "
    "included) and SNS; API Gateway requests and Lambda invocations are priced from their own counts",
    "event source batches are full (BatchSize messages): the steady state of a busy queue; idle long polls "
    "(a few hundred thousand receives a month, about $0.25) are not per email",
    "billed Lambda duration = CPU measured here x max(1, 1769 MB / memory) + time waiting on AWS",
    "AWS answers after "
    + ", ".join(f"{s} {1000 * v:g} ms" for s, v in DEFAULT_LATENCY_SECONDS.items())
    + " (typical in-region latencies); waits overlapping in delivery's thread pool count once",
    "cold starts, the cached authorizer and X-Ray (about $0.25 per million traced calls at 5 % sampling) excluded",
    f"CloudWatch Logs: what the functions print, plus {PLATFORM_LOG_BYTES_PER_INVOCATION} bytes of "
    "START/END/REPORT lines per invocation when template.yaml's SystemLogLevel lets Lambda write them "
    "(its default, WARN, does not)",
    f"DynamoDB storage: items written per email (+100 bytes each) kept {RETENTION_DAYS} days, with point-in-time "
    "recovery only if template.yaml enables it by default (ExecutionsPointInTimeRecovery)",
]


def template_defaults() -> tuple[int, bool]:
    """(platform log bytes per invocation, executions table PITR) as template.yaml deploys by default."""
    from benchmarks import environment

    document = environment.template().document
    logging = document.get("Globals", {}).get("Function", {}).get("LoggingConfig", {})
    system_level = str(logging.get("SystemLogLevel", "INFO")).upper()
    platform_bytes = PLATFORM_LOG_BYTES_PER_INVOCATION if system_level in ("INFO", "DEBUG") else 0
    pitr = document.get("Parameters", {}).get("ExecutionsPointInTimeRecovery", {}).get("Default", "true")
    return platform_bytes, str(pitr).lower() == "true"


def requests_by_phase(mix: Mix) -> dict[str, dict[str, float]]:
    """Dollars per million emails of DynamoDB (read and write units) and SQS, by phase: where the requests
    the total counts are spent (trigger, delivery, feedback)."""
    p = PRICES_USD
    out: dict[str, dict[str, float]] = {}
    for phase, units in mix.units_phase.items():
        out[phase] = {
            "dynamodb_writes": mix.per_email(units.get("dynamodb.wru", 0.0)) * p["dynamodb_per_million_wru"],
            "dynamodb_reads": mix.per_email(units.get("dynamodb.rru", 0.0)) * p["dynamodb_per_million_rru"],
            "sqs": mix.per_email(units.get("sqs.billed", 0.0)) * p["sqs_per_million_requests"],
        }
    return out


def billed_ms(cpu_ms: float, io_ms: float, memory_mb: int) -> float:
    return cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb) + io_ms


def per_million(
    mix: Mix,
    *,
    trigger_cpu_ms: float,
    delivery_cpu_ms_per_email: float,
    memory_mb: dict[str, int],
    with_feedback: bool | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Dollars per million emails sent this way, by line, and the inputs each line used.

    `with_feedback`: count SES's Delivery events and the feedback function (default: as the template has it)."""
    p = PRICES_USD
    million = 1_000_000
    emails = mix.emails
    if with_feedback is None:
        with_feedback = mix.feedback_by_default
    phases = ("trigger", "delivery", "feedback") if with_feedback else ("trigger", "delivery")
    calls_per_email = mix.trigger_calls / emails
    feedback_per_email = mix.feedback_invocations / emails if with_feedback else 0.0
    invocations_per_email = calls_per_email + mix.delivery_invocations / emails + feedback_per_email
    api_units = calls_per_email * max(1, math.ceil((mix.body_bytes / mix.trigger_calls) / APIGATEWAY_METERING_BYTES))

    trigger_ms = billed_ms(trigger_cpu_ms, mix.trigger_io_ms, memory_mb["trigger"])
    delivery_ms = billed_ms(
        delivery_cpu_ms_per_email * mix.delivery_emails_per_invocation, mix.delivery_io_ms, memory_mb["delivery"]
    )
    feedback_memory = memory_mb.get("feedback", 256)
    feedback_ms = billed_ms(mix.feedback_cpu_ms, mix.feedback_io_ms, feedback_memory)
    gb_seconds_per_email = (
        calls_per_email * trigger_ms / 1000 * memory_mb["trigger"] / 1024
        + (mix.delivery_invocations / emails) * delivery_ms / 1000 * memory_mb["delivery"] / 1024
        + feedback_per_email * feedback_ms / 1000 * feedback_memory / 1024
    )

    units = mix.units_by_phase(phases)
    wru, rru = mix.per_email(units["dynamodb.wru"]), mix.per_email(units["dynamodb.rru"])
    storage_gb_month = mix.per_email(mix.stored_bytes) / 1e9 * RETENTION_DAYS / 30
    sqs_billed = mix.per_email(units["sqs.billed"])
    sns = mix.per_email(units["sns.publishes"])
    log_bytes = sum(mix.log_bytes_by_phase.get(phase, 0) for phase in phases)
    platform_log_bytes, pitr = template_defaults()
    log_gb = (mix.per_email(log_bytes) + invocations_per_email * platform_log_bytes) / 1e9

    lines = {
        "apigateway": api_units * p["apigateway_http_per_million_requests"],
        "lambda_requests": invocations_per_email * p["lambda_per_million_requests"],
        "lambda_duration": gb_seconds_per_email * p["lambda_arm64_per_gb_second"] * million,
        "dynamodb_requests": wru * p["dynamodb_per_million_wru"] + rru * p["dynamodb_per_million_rru"],
        "dynamodb_storage": storage_gb_month
        * (p["dynamodb_storage_per_gb_month"] + (p["dynamodb_pitr_per_gb_month"] if pitr else 0.0))
        * million,
        "sqs": sqs_billed * p["sqs_per_million_requests"],
        "sns": sns * p["sns_push_per_million_publishes"],
        "cloudwatch_logs": log_gb * p["cloudwatch_logs_per_gb_ingested"] * million,
    }
    # `total` is the figure the cost target holds to: everything a million emails cost on AWS, requests
    # and compute at AWS's prices and what the functions print (logs) and keep (storage) (issue 16).
    # `requests_and_compute` is the first round's figure, which the "$4.60 for a straightforward
    # design" it was compared with counts.
    lines["requests_and_compute"] = sum(v for k, v in lines.items() if k not in ("cloudwatch_logs", "dynamodb_storage"))
    lines["total"] = lines["requests_and_compute"] + lines["cloudwatch_logs"] + lines["dynamodb_storage"]
    inputs: dict[str, Any] = {
        "trigger_calls_per_email": calls_per_email,
        "lambda_invocations_per_email": invocations_per_email,
        "trigger_billed_ms_per_call": trigger_ms,
        "delivery_billed_ms_per_invocation": delivery_ms,
        "delivery_emails_per_invocation": mix.delivery_emails_per_invocation,
        "feedback_invocations_per_email": feedback_per_email,
        "feedback_billed_ms_per_invocation": feedback_ms if feedback_per_email else 0.0,
        "trigger_io_wait_ms_per_call": mix.trigger_io_ms,
        "delivery_io_wait_ms_per_invocation": mix.delivery_io_ms,
        "dynamodb_wru_per_email": wru,
        "dynamodb_rru_per_email": rru,
        "dynamodb_stored_bytes_per_email": mix.per_email(mix.stored_bytes),
        "sqs_billed_requests_per_email": sqs_billed,
        "log_bytes_per_email": mix.per_email(log_bytes),
    }
    return lines, inputs


# What each request the floor counts buys (README: Performance, "What does not hold").
FLOOR_PARTS = {
    "apigateway": "the HTTPS trigger call itself",
    "lambda_requests": "one trigger invocation a call, one delivery (and feedback) invocation a batch",
    "request_record": "one write a call: a requestId replays its first answer or is refused (409) for 24 hours",
    "delivery_queue": "one SQS message a call, its receive and delete shared by the batch: nothing accepted is lost",
    "claim": "one write an email before its send: never sent twice, a crash strands at most that one",
    "profile": "one write a new person when createProfiles is on",
    "delivery_event": "SES's Delivery event: the rule's SQS put, the batch's receive and delete, and the "
    "recipient's one conditional move to delivered",
}


def floor_per_million(mix: Mix, *, with_feedback: bool | None = None) -> dict[str, float]:
    """The cheapest a million emails sent this way can be with the contract's guarantees: only the requests
    each guarantee needs (FLOOR_PARTS), at the batching this run measured, and no compute, logs or storage.

    The measured `total` over this is how far the design is from its floor; the floor over the target says
    whether a target can hold at all without giving a guarantee up."""
    p = PRICES_USD
    if with_feedback is None:
        with_feedback = mix.feedback_by_default
    calls = mix.trigger_calls / mix.emails if mix.emails else 0.0
    delivery_batches = mix.delivery_invocations / mix.emails if mix.emails else 0.0
    feedback_batches = (mix.feedback_invocations / mix.emails if mix.emails else 0.0) if with_feedback else 0.0
    write, sqs = p["dynamodb_per_million_wru"], p["sqs_per_million_requests"]
    parts = {
        "apigateway": calls * p["apigateway_http_per_million_requests"],
        "lambda_requests": (calls + delivery_batches + feedback_batches) * p["lambda_per_million_requests"],
        "request_record": calls * write,
        "delivery_queue": (calls + 2 * delivery_batches) * sqs,
        "claim": write,
        "profile": 0.0 if mix.returning else write,
        "delivery_event": (sqs + 2 * feedback_batches * sqs + write) if with_feedback else 0.0,
    }
    parts["total"] = sum(parts.values())
    return parts
