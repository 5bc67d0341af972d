"""Where the time goes, for whoever fixes a figure make bench reports.

    python -m benchmarks.profiling trigger --recipients 1000     # cProfile of warm trigger calls
    python -m benchmarks.profiling delivery --per-call 1         # cProfile of warm delivery invocations
    python -m benchmarks.profiling import trigger                # -X importtime of a cold start, by package
    python -m benchmarks.profiling local --emails 1000           # the local stack under load, sampled

The local profile samples every thread of the stack's process (the gateway, the functions, the SQS
pollers and the emulator all run in it) every 5 ms while loadgen.py drives it: where the CPU goes,
by the package of the innermost frame that is not waiting, and by the outermost frames of ours.

The handlers run exactly as in make bench (in-process fake AWS, template environment); the import
profile uses cold_start.py's Lambda-like layout (own code not precompiled, X-Ray on).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _print_stats(profile: cProfile.Profile, limit: int, sort: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    print(out.getvalue())


def profile_trigger(recipients: int, calls: int, limit: int) -> None:
    from benchmarks.workload import Workload

    with Workload() as work, work.frozen():
        work.trigger(work.trigger_event(recipients, "warm"))
        profile = _profiled(work.trigger, [work.trigger_event(recipients, "profile") for _ in range(calls)])
    _print_stats(profile, limit, "cumulative")
    _print_stats(profile, limit, "tottime")


def profile_delivery(per_call: int, invocations: int, limit: int) -> None:
    from benchmarks.cpu import _delivery_events
    from benchmarks.workload import Workload

    with Workload() as work, work.frozen():
        work.deliver(_delivery_events(work, per_call, 1)[0])
        profile = _profiled(work.deliver, _delivery_events(work, per_call, invocations))
    _print_stats(profile, limit, "cumulative")
    _print_stats(profile, limit, "tottime")


def _profiled(handler: Callable[[Any], Any], events: list[Any]) -> cProfile.Profile:
    """The handler's calls on events built beforehand, so that building them is not in the profile."""
    profile = cProfile.Profile()
    profile.enable()
    for event in events:
        handler(event)
    profile.disable()
    return profile


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def profile_import(folder: str, limit: int) -> None:
    from benchmarks import cold_start
    from benchmarks import environment as env

    tpl = env.template()
    spec = env.function_spec(tpl, folder)
    policies = (tpl.resources[spec.logical_id].get("Properties") or {}).get("Policies") or []
    services = ",".join(cold_start.services_of(policies))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        task, layer = cold_start._layout(Path(tmp), folder)
        environment = cold_start._environment(folder, task, layer)
        # What the figure measures: init, and the first request for a function whose cold start is one (the api).
        code, args = cold_start._function_run(folder, task, services, spec.name, Path(tmp))
        done = env.run_python(
            ["-B", "-X", "importtime", "-c", code, *args],
            what="cold start with -X importtime",
            timeout=120,
            env=environment,
            cwd=task,
        )
    by_package: Counter[str] = Counter()
    cumulative: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, module = int(match[1]), int(match[2]), match[3], match[4]
        by_package[module.split(".")[0]] += self_us
        if len(indent) <= 4:
            cumulative.append((cumulative_us, module))
    wall, cpu = done.stdout.split()[-2:]
    print(f"{folder}: cold start {float(wall) * 1000:.0f} ms wall, {float(cpu) * 1000:.0f} ms CPU (with -X importtime)")
    print("\nself import time by top-level package (ms):")
    for package, us in by_package.most_common(limit):
        print(f"  {us / 1000:8.1f}  {package}")
    print("\nlargest imports, cumulative (ms), top levels of the tree:")
    for us, module in sorted(cumulative, reverse=True)[:limit]:
        print(f"  {us / 1000:8.1f}  {module}")


_WAITING = (
    ("threading.py", "wait"),
    ("threading.py", "_wait_for_tstate_lock"),
    ("selectors.py", "select"),
    ("socket.py", "readinto"),
    ("socket.py", "accept"),
    ("socketserver.py", "serve_forever"),
    ("queue.py", "get"),
    ("thread.py", "_worker"),
    ("ssl.py", "read"),
)


def _package(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            if marker != "site-packages/":
                rest = rest.split("/", 1)[1] if "/" in rest else rest
                return "stdlib:" + rest.split("/")[0].removesuffix(".py")
            return rest.split("/")[0].removesuffix(".py")
    for ours in ("campaign_engine", "local", "functions", "benchmarks"):
        if f"/{ours}/" in path:
            return ours
    return path.rsplit("/", 1)[-1]


def profile_local(emails: int, limit: int) -> None:
    import threading
    import time

    from benchmarks import environment as env
    from benchmarks import local_stack
    from local import Stack

    leaf: Counter[str] = Counter()
    leaf_functions: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    samples = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal samples
        me = threading.get_ident()
        while not stop.wait(0.005):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                code = frame.f_code
                if (Path(code.co_filename).name, code.co_name) in _WAITING or code.co_name in ("wait", "select"):
                    continue
                samples += 1
                leaf[_package(code.co_filename)] += 1
                caller = frame.f_back.f_code if frame.f_back is not None else code
                leaf_functions[
                    f"{_package(code.co_filename)}:{Path(code.co_filename).name}:{code.co_name}"
                    f" <- {Path(caller.co_filename).name}:{caller.co_name}"
                ] += 1
                seen = set()
                walker: Any = frame
                while walker is not None:
                    c = walker.f_code
                    if _package(c.co_filename) in ("campaign_engine", "local") and c.co_name not in seen:
                        seen.add(c.co_name)
                        ours[f"{Path(c.co_filename).name}:{c.co_name}"] += 1
                    walker = walker.f_back

    with local_stack.env_quiet(), Stack(port=0, moto_port=0) as stack:
        campaign_id = stack.seed_demo(env.campaign_body())
        local_stack._loadgen(stack, campaign_id, f"warm{time.time_ns():x}", 32, 16)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        local_stack._loadgen(stack, campaign_id, f"prof{time.time_ns():x}", emails, 16)
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
    print(f"{emails} trigger calls answered in {elapsed:.1f} s; {samples} busy-thread samples")
    print("\nbusy samples by package of the innermost frame:")
    for name, n in leaf.most_common(limit):
        print(f"  {100 * n / samples:5.1f} %  {name}")
    print("\nbusy samples by innermost function (and its caller):")
    for name, n in leaf_functions.most_common(limit):
        print(f"  {100 * n / samples:5.1f} %  {name}")
    print("\nbusy samples with a frame of ours on the stack (inclusive):")
    for name, n in ours.most_common(limit):
        print(f"  {100 * n / samples:5.1f} %  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    trigger = sub.add_parser("trigger")
    trigger.add_argument("--recipients", type=int, default=1)
    trigger.add_argument("--calls", type=int, default=0)
    delivery = sub.add_parser("delivery")
    delivery.add_argument("--per-call", type=int, default=1)
    delivery.add_argument("--invocations", type=int, default=10)
    cold = sub.add_parser("import")
    cold.add_argument("function")
    local = sub.add_parser("local")
    local.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args(argv)
    if args.what == "trigger":
        calls = args.calls or max(2, 200 // args.recipients)
        profile_trigger(args.recipients, calls, args.limit)
    elif args.what == "delivery":
        profile_delivery(args.per_call, args.invocations, args.limit)
    elif args.what == "local":
        profile_local(args.emails, args.limit)
    else:
        profile_import(args.function, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
