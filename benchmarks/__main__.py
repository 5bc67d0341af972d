"""`make bench` (python -m benchmarks [--quick]): every figure report.TARGETS holds to a target, one run.

Prints a table (figure, value, target, PASS/FAIL) and writes benchmarks/results.json. Progress goes
to standard error. The run takes about 45 minutes on two cores, most of it the 100,000-member audience
fan-out on the local stack (`--audience-members N` sets its size, 0 leaves it out); the throttle's
accuracy at 5, 50 and 200 messages a second takes about 2 more. --quick is a smoke run with fewer
iterations, 500 emails, a 5,000-member audience and shorter throttle runs (its figures are noisier).
Benchmarks are measurements, not tests: the exit status is 0 whether targets hold or not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: fewer iterations, 500 emails")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--skip-local", action="store_true", help="leave out the local stack (debugging)")
    parser.add_argument(
        "--audience-members",
        type=int,
        default=None,
        help="members of the audience fan-out run (default 100,000, about 25 minutes; 5,000 with --quick; 0: none)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {"machine": report.machine(args.quick)}

    from benchmarks import cold_start

    log("cold starts (fresh processes)")
    cold = cold_start.run(quick=args.quick)
    results["init_ratio"] = {name: c.ratio for name, c in cold.items()}
    log("the api's first request after a cold start (fresh processes)")
    results["init_first_request_ms"] = {"api": statistics.median(cold_start.first_request(quick=args.quick))}

    from benchmarks import aws_requests, cpu
    from benchmarks.workload import Workload

    with Workload() as work:
        log("CPU: trigger and delivery handlers against their floors")
        cpu_results = cpu.run(work, quick=args.quick)
        from benchmarks import tracking_cpu

        log("CPU: a click on a tracked link against its floor")
        click = tracking_cpu.run(work, quick=args.quick)
        log("AWS requests per email, end to end")
        mixes = aws_requests.run(work, quick=args.quick)
        memory_mb = dict(work.memory_mb)
        fake_queue_url = work.queue_url
        setup_items = {table: list(items.values()) for table, items in work.fake.tables.items() if "campaign" in table}
    del work  # the fake's tables and queues: nothing of this phase should weigh on the next

    results["trigger_cpu_ms"] = {str(n): f.ms for n, f in cpu_results.trigger.items()}
    results["trigger_cpu_ratio"] = {str(n): f.ratio for n, f in cpu_results.trigger.items()}
    results["delivery_cpu_ms_per_email"] = {mix: f.ms for mix, f in cpu_results.delivery.items()}
    results["delivery_cpu_ratio"] = {mix: f.ratio for mix, f in cpu_results.delivery.items()}
    results["tracking_cpu_ms_per_click"] = click.ms
    results["tracking_cpu_ratio"] = click.ratio
    results["aws_requests_per_email"] = {name: mix.requests_per_email() for name, mix in mixes.items()}

    costs, cost_inputs, cost_with_events = _costs(mixes, cpu_results, memory_mb)
    results.update(_cost_figures(costs, mixes))

    local = None
    if not args.skip_local:
        import gc

        from benchmarks import local_stack

        # What this process built so far stays alive (the recorded requests) but out of the collector's way.
        gc.collect()
        gc.freeze()

        emails = 500 if args.quick else 5000
        log(f"local stack: {emails} emails from 16 concurrent callers, then the emulator alone")
        local = local_stack.run(
            mixes["single"].capture, setup_items, fake_queue_url, emails=emails, concurrency=16, replay_share=0.5
        )
        results.update(_local_figures(local))

    members = args.audience_members if args.audience_members is not None else (5000 if args.quick else 100_000)
    if members and not args.skip_local:
        from benchmarks import audience_fanout

        log(f"audience fan-out: {members} members on the local stack, then the emulator alone")
        fanout = audience_fanout.run(members, log=log)
        results["audience_fanout"] = fanout.figures()

    if not args.skip_local:
        from benchmarks import throttle_accuracy

        log("throttle accuracy: campaigns throttled at 5, 50 and 200 messages a second on the local stack")
        results["throttle_accuracy"], throttle_details = throttle_accuracy.run(
            seconds=6 if args.quick else throttle_accuracy.SECONDS, log=log
        )

    results["targets"] = report.verdicts(results)
    results["details"] = _details(cold, cpu_results, mixes, cost_inputs, cost_with_events, memory_mb)
    if local is not None:
        results["details"]["local"] = _local_details(local)
    if "audience_fanout" in results:
        results["details"]["audience_fanout_requests"] = fanout.requests
    if "throttle_accuracy" in results:
        results["details"]["throttle_accuracy"] = throttle_details
    results["details"]["run_seconds"] = time.monotonic() - started

    report.write(results, args.output)
    print(report.table(results))
    print(f"\nwritten to {args.output} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


def _details(
    cold: dict[str, Any],
    cpu_results: Any,
    mixes: dict[str, Any],
    cost_inputs: dict[str, Any],
    cost_with_events: dict[str, Any],
    memory_mb: dict[str, Any],
) -> dict[str, Any]:
    """What the headline figures were worked out from, for whoever questions them."""
    from benchmarks import aws_requests, cost

    return {
        "init_ms": {
            name: {
                "cold_cpu": report.median(c.cpu_ms),
                "floor_cpu": report.median(c.floor_cpu_ms),
                "cold_wall": report.median(c.wall_ms),
                "floor_wall": report.median(c.floor_wall_ms),
                "clients": c.services,
            }
            for name, c in cold.items()
        },
        "trigger_floor_cpu_ms": {str(n): f.floor_ms for n, f in cpu_results.trigger.items()},
        "delivery_floor_cpu_ms_per_email": {mix: f.floor_ms for mix, f in cpu_results.delivery.items()},
        "aws_requests_per_email_by_phase_and_operation": {
            name: mix.operations_per_email() for name, mix in mixes.items()
        },
        "delivery_events_published_by_default": any(mix.feedback_by_default for mix in mixes.values()),
        "aws_requests_per_email_with_delivery_events": {
            name: mix.requests_per_email(aws_requests.PHASES) for name, mix in mixes.items() if mix.feedback_invocations
        },
        "cost_per_million_emails_usd_with_delivery_events": cost_with_events,
        "dynamodb_and_sqs_usd_per_million_emails_by_phase": {
            name: cost.requests_by_phase(mix) for name, mix in mixes.items()
        },
        "feedback_error": {name: mix.feedback_error for name, mix in mixes.items() if mix.feedback_error},
        "ses_send_email_per_email": {
            name: mix.per_email(mix.requests[("sesv2", "SendEmail")]) for name, mix in mixes.items()
        },
        "emails_counted": {name: mix.emails for name, mix in mixes.items()},
        "cost_inputs": cost_inputs,
        "prices_usd_us_east_1": cost.PRICES_USD,
        "memory_mb": memory_mb,
        "assumptions": cost.ASSUMPTIONS,
    }


def _costs(mixes: dict[str, Any], cpu_results: Any, memory_mb: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Per mix: the cost of a million emails, what it was worked out from, and the cost with delivery events."""
    from benchmarks import cost

    costs: dict[str, Any] = {}
    cost_inputs: dict[str, Any] = {}
    cost_with_events: dict[str, Any] = {}
    for name, mix in mixes.items():
        measured: dict[str, Any] = {
            "trigger_cpu_ms": cpu_results.trigger[mix.per_call].ms if mix.per_call in cpu_results.trigger else 0.0,
            # delivery's CPU per email as measured for the same number per call (returning people alike)
            "delivery_cpu_ms_per_email": cpu_results.delivery["single" if mix.per_call == 1 else "per20"].ms,
            "memory_mb": memory_mb,
        }
        costs[name], cost_inputs[name] = cost.per_million(mix, **measured)
        if mix.feedback_invocations:
            cost_with_events[name], _ = cost.per_million(mix, **measured, with_feedback=True)
            # DeliveryEvents=problems: no Delivery event per email (SES's rare events are left out too)
            cost_with_events[f"{name}_without_delivery_events"], _ = cost.per_million(
                mix, **measured, with_feedback=False
            )
    return costs, cost_inputs, cost_with_events


def _cost_figures(costs: dict[str, Any], mixes: dict[str, Any]) -> dict[str, Any]:
    """The measured cost, the floor the contract's guarantees set (requests only), and how far above it."""
    from benchmarks import cost

    floors = {name: cost.floor_per_million(mix) for name, mix in mixes.items()}
    return {
        "cost_per_million_emails_usd": costs,
        "cost_floor_per_million_emails_usd": floors,
        "cost_ratio_to_floor": {name: costs[name]["total"] / floors[name]["total"] for name in costs},
    }


def _local_figures(local: Any) -> dict[str, Any]:
    return {
        "local_emails_per_second": local.emails_per_second,
        "local_throughput_ratio": local.throughput_ratio,
        "local_latency_ms": {q: local.percentile(local.latencies_ms, float(q[1:])) for q in ("p50", "p95", "p99")},
        "local_latency_ratio": {q: local.latency_ratio(float(q[1:])) for q in ("p50", "p95", "p99")},
        "local_emulator_latency_ms": {
            q: local.percentile(local.emulator_latencies_ms, float(q[1:])) for q in ("p50", "p95", "p99")
        },
        "local_emulator_emails_per_second": local.emulator_emails_per_second,
    }


def _local_details(local: Any) -> dict[str, Any]:
    return {
        "emails": local.emails,
        "received": local.received,
        "rejected_calls": local.rejected_calls,
        "seconds": local.seconds,
        "trigger_http_ms": {q: local.percentile(local.trigger_ms, float(q[1:])) for q in ("p50", "p95", "p99")},
        "emulator_emails": local.emulator_emails,
        "emulator_seconds": local.emulator_seconds,
        "emulator_errors": local.emulator_errors,
    }


if __name__ == "__main__":
    sys.exit(main())
