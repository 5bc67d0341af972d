"""How closely a throttled campaign's send rate keeps to its setting, on the local stack.

`python -m benchmarks.throttle_accuracy [--seconds S]` (and `make bench`):

1. The local stack starts (as `make run` does). First its ceiling: an unthrottled copy of the sample
   campaign is triggered for 1,000 recipients, and the steady rate at which they reach the emulator's
   SES is measured (below).
2. For each setting (5, 50 and 200 messages a second) a copy of the sample campaign throttled at it
   is triggered, in calls of up to 1,000 recipients, for about S seconds' worth at the rate it can
   reach (the setting, or the ceiling if that is lower).
3. A thread watches the emulator's SES and notes when each recipient's email arrives. The steady rate
   is the emails that arrived from one second after the first one, over the whole seconds that follow
   up to the last one (the first second is the start, the last one a partial window).

Each figure is measured ÷ set. A setting above the stack's ceiling cannot be reached at all here: it
is measured all the same and marked unreachable (`reachable`), and has no verdict in the report.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import environment as env

RATES = (5, 50, 200)
SECONDS = 12  # the steady part of each run lasts about this long
CEILING_RECIPIENTS = 1000
MAX_PER_CALL = 1000
STALL_SECONDS = 30.0


@dataclass
class RateRun:
    rate: int | None  # None: unthrottled (the ceiling)
    recipients: int
    received: int = 0
    duplicated: int = 0
    steady_per_second: float = float("nan")
    per_second: list[int] = field(default_factory=list)  # emails in each second from the first

    def figures(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "received": self.received,
            "duplicated": self.duplicated,
            "steady_per_second": self.steady_per_second,
            "per_second": self.per_second,
        }


def steady_rate(arrivals: list[float]) -> tuple[float, list[int]]:
    """(emails a second after the first second, up to the last whole second; emails in each second)."""
    if not arrivals:
        return float("nan"), []
    times = sorted(arrivals)
    start = times[0]
    per_second = [0] * (int(times[-1] - start) + 1)
    for moment in times:
        per_second[int(moment - start)] += 1
    whole = math.floor(times[-1] - start - 1)  # whole seconds after the first one
    if whole < 1:
        return float("nan"), per_second
    counted = sum(1 for moment in times if start + 1 <= moment < start + 1 + whole)
    return counted / whole, per_second


def _campaign(rate: int | None) -> dict[str, Any]:
    body = env.campaign_body()
    body["name"] = f"Throttle benchmark {rate or 'unthrottled'}"
    if rate:
        body["throttle"] = {"messagesPerSecond": rate}
    return body


def measure(stack: Any, watcher: Any, rate: int | None, recipients: int, run: str) -> RateRun:
    """Triggers a campaign (throttled at `rate`) for `recipients` and measures its steady send rate."""
    from benchmarks.audience_fanout import _wait

    campaign_id = stack.seed_demo(_campaign(rate))
    result = RateRun(rate=rate, recipients=recipients)
    wanted: set[str] = set()
    duplicates_before = watcher.duplicates
    for start in range(0, recipients, MAX_PER_CALL):
        request_id = f"{run}-{rate or 0}-{start}"
        count = min(MAX_PER_CALL, recipients - start)
        body = env.trigger_body(campaign_id, request_id, count)
        status, _, answer = stack.request("POST", "/im/executions/unitary", body, timeout=120)
        if status != 202:
            raise RuntimeError(f"POST /im/executions/unitary answered {status}: {answer}")
        wanted |= {r["userId"] for r in json.loads(body)["recipients"]}
    _wait(watcher, wanted, lambda message: None)
    arrivals = [watcher.seen[a] for a in wanted if a in watcher.seen]
    result.received = len(arrivals)
    result.duplicated = watcher.duplicates - duplicates_before
    result.steady_per_second, result.per_second = steady_rate(arrivals)
    return result


def run(seconds: int = SECONDS, log: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results["throttle_accuracy"], its details)."""
    from benchmarks.local_stack import _Watcher
    from local import Stack

    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    run_id = f"t{time.time_ns():x}"[-10:]
    runs: dict[str, RateRun] = {}
    with env.quiet_stdout(), Stack(port=0, moto_port=0) as stack:
        watcher = _Watcher()
        watcher.start()
        try:
            say(f"throttle accuracy: the stack's ceiling ({CEILING_RECIPIENTS} unthrottled recipients)")
            runs["unthrottled"] = measure(stack, watcher, None, CEILING_RECIPIENTS, run_id)
            ceiling = runs["unthrottled"].steady_per_second
            for rate in RATES:
                reach = min(rate, ceiling) if not math.isnan(ceiling) else rate
                recipients = max(rate * 2, math.ceil(reach * (seconds + 2)))
                say(f"throttle accuracy: {rate}/s, {recipients} recipients")
                runs[str(rate)] = measure(stack, watcher, rate, recipients, run_id)
        finally:
            watcher.stop()
    figures: dict[str, Any] = {str(rate): runs[str(rate)].steady_per_second / rate for rate in RATES}
    figures["throttle_ceiling_per_second"] = ceiling
    # A setting the stack cannot send at even unthrottled is out of reach here: measured, not judged.
    figures["reachable"] = {str(rate): bool(rate <= ceiling) for rate in RATES}
    details = {name: r.figures() for name, r in runs.items()}
    return figures, details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throttle_accuracy", description=__doc__)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    args = parser.parse_args(argv)
    figures, details = run(args.seconds)
    print(json.dumps({"throttle_accuracy": figures, "details": details}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
