"""results.json (figures, then the inputs behind them, in a fixed order) and the printed table."""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    figure: str  # a path into the results: "trigger_cpu_ratio.20"
    comparison: str  # "<=", ">=", or "within" (limit <= value <= upper)
    limit: float
    upper: float = math.nan
    # A path into the results: when its value is false (0), the figure is out of this machine's reach and
    # has no verdict (a throttle rate the local stack cannot send at even unthrottled).
    only_if: str | None = None

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.comparison == "within":
            return self.limit <= value <= self.upper
        compare: Callable[[float, float], bool] = operator.le if self.comparison == "<=" else operator.ge
        return compare(value, self.limit)

    def applies(self, results: dict[str, Any]) -> bool:
        return self.only_if is None or lookup(results, self.only_if) != 0

    @property
    def text(self) -> str:
        if self.comparison == "within":
            return f"{self.limit:g}..{self.upper:g}"
        return f"{self.comparison} {self.limit:g}"


TARGETS = [
    # Every function's cold start within 1.25x its floor (importing boto3 and the clients it uses). The api's
    # is a cold container importing its handler and answering the console's first request, GET
    # /console/index.html (benchmarks/cold_start.py: INIT_REQUESTS); its first API request, GET /campaigns,
    # is init_first_request_ms.api beside it, in ms of CPU, without a target.
    *(
        Target(f"init_ratio.{function}", "<=", 1.25)
        for function in (
            "trigger",
            "api",
            "authorizer",
            "delivery",
            "scheduler",
            "feedback",
            "jobs",
            "tracking",
            "webhooks",
        )
    ),
    Target("tracking_cpu_ratio", "<=", 1.5),
    Target("trigger_cpu_ratio.1", "<=", 1.5),
    Target("trigger_cpu_ratio.20", "<=", 1.5),
    Target("trigger_cpu_ratio.1000", "<=", 1.5),
    Target("delivery_cpu_ratio.single", "<=", 1.5),
    Target("delivery_cpu_ratio.per20", "<=", 1.5),
    Target("aws_requests_per_email.single.total", "<=", 3.5),
    Target("aws_requests_per_email.per20.total", "<=", 1.3),
    Target("cost_per_million_emails_usd.single.total", "<=", 3.50),
    Target("cost_per_million_emails_usd.per20.total", "<=", 1.20),
    Target("local_throughput_ratio", ">=", 0.7),
    # Tail latency as a ratio to the emulator's own for the same chains of requests: the absolute p95 is
    # shown beside it, without a target, since it differs between machines of the same kind.
    Target("local_latency_ratio.p95", "<=", 2),
    Target("audience_fanout.ratio_to_emulator", ">=", 0.7),
    Target("audience_fanout.lost", "<=", 0),
    Target("audience_fanout.duplicated", "<=", 0),
    # A throttled campaign's steady send rate over its setting, within 10 %, where the stack can reach it.
    *(
        Target(f"throttle_accuracy.{rate}", "within", 0.9, 1.1, only_if=f"throttle_accuracy.reachable.{rate}")
        for rate in ("5", "50", "200")
    ),
]


def rounded(value: Any, digits: int = 3) -> Any:
    """Floats to `digits` significant decimals (commit-friendly diffs); containers recursively."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value == 0:
            return 0.0
        magnitude = math.floor(math.log10(abs(value)))
        return round(value, max(0, digits - 1 - magnitude))
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def lookup(results: dict[str, Any], path: str) -> float:
    node: Any = results
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return float("nan")
        node = node[part]
    return float(node) if isinstance(node, int | float) else float("nan")


def machine(quick: bool) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "cpu": model or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "quick": quick,
        "command": "make bench" + (" ARGS=--quick" if quick else ""),
    }


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        value = lookup(results, target.figure)
        applies = target.applies(results)
        out.append(
            {
                "figure": target.figure,
                "value": rounded(value),
                "target": target.text if applies else f"{target.text} (out of reach here: no verdict)",
                "pass": target.holds(value) if applies else None,
            }
        )
    return out


# What a function's cold start includes beyond its import and clients, and what its first request is.
INIT_LABELS = {"api": "init_ratio.api (import + GET /console/index.html)"}
FIRST_REQUEST_LABELS = {"api": "init_first_request_ms.api (cold, GET /campaigns)"}


def write(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(rounded(results), indent=2, ensure_ascii=False) + "\n")


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    targets = {t.figure: t for t in TARGETS}

    def row(figure: str, label: str | None = None, unit: str = "") -> None:
        value = lookup(results, figure)
        target = targets.get(figure)
        shown = "n/a" if math.isnan(value) else f"{rounded(value):g}{unit}"
        if target is None:
            rows.append((label or figure, shown, "", ""))
        elif not target.applies(results):
            rows.append((label or figure, shown, target.text, "N/A (out of reach)"))
        else:
            verdict = "PASS" if target.holds(value) else "FAIL"
            rows.append((label or figure, shown, target.text, verdict))

    for folder in results.get("init_ratio", {}):
        row(f"init_ratio.{folder}", INIT_LABELS.get(folder))
    for folder in results.get("init_first_request_ms", {}):
        row(f"init_first_request_ms.{folder}", FIRST_REQUEST_LABELS.get(folder), unit=" ms")
    for n in results.get("trigger_cpu_ms", {}):
        row(f"trigger_cpu_ms.{n}", unit=" ms")
        row(f"trigger_cpu_ratio.{n}")
    for mix in results.get("delivery_cpu_ms_per_email", {}):
        row(f"delivery_cpu_ms_per_email.{mix}", unit=" ms")
        row(f"delivery_cpu_ratio.{mix}")
    if "tracking_cpu_ratio" in results:
        row("tracking_cpu_ms_per_click", unit=" ms")
        row("tracking_cpu_ratio")
    for mix, by_service in results.get("aws_requests_per_email", {}).items():
        for service in by_service:
            row(f"aws_requests_per_email.{mix}.{service}")
    for mix in results.get("cost_per_million_emails_usd", {}):
        row(f"cost_per_million_emails_usd.{mix}.total", unit=" $")
        row(f"cost_per_million_emails_usd.{mix}.requests_and_compute", unit=" $")
        row(f"cost_floor_per_million_emails_usd.{mix}.total", unit=" $")
        row(f"cost_ratio_to_floor.{mix}")
    row("local_emails_per_second", unit="/s")
    row("local_emulator_emails_per_second", unit="/s")
    row("local_throughput_ratio")
    for q in ("p50", "p95", "p99"):
        row(f"local_latency_ms.{q}", unit=" ms")
        row(f"local_emulator_latency_ms.{q}", unit=" ms")
        row(f"local_latency_ratio.{q}")
    row("audience_fanout.members")
    row("audience_fanout.seconds", unit=" s")
    row("audience_fanout.per_second", unit="/s")
    row("audience_fanout.emulator_per_second", unit="/s")
    for figure in ("ratio_to_emulator", "lost", "duplicated"):
        row(f"audience_fanout.{figure}")
    row("throttle_accuracy.throttle_ceiling_per_second", unit="/s")
    for rate in ("5", "50", "200"):
        row(f"throttle_accuracy.{rate}", f"throttle_accuracy.{rate} (measured / set)")
    widths = [max(len(r[i]) for r in [*rows, ("figure", "value", "target", "")]) for i in range(4)]
    lines = [f"{'figure':<{widths[0]}}  {'value':>{widths[1]}}  {'target':<{widths[2]}}  result"]
    lines.append("-" * (sum(widths) + 12))
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
