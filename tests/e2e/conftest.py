"""The local stack (`python -m local`), started once in this process for every e2e test.

`local_stack` (tests/conftest.py, shared with tests/browser) is a started `local.Stack`: `.base_url`, `.moto_url`, `.api_key` (admin) and
`.request(method, path, body=None, headers=None, key=...) -> (status, headers, parsed body)`,
which sends the admin key unless given another `key` (or `key=None` for no Authorization).

Every wait here is on progress, never on a wall-clock guess: the stack's pace depends on the
machine and on what else runs on it (its functions, pollers and emulator share one process).
A wait goes on while something it watches still moves, and fails once nothing has moved for
STALL_SECONDS, saying what it saw last. Tests assert outcomes, never durations."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import local.gateway
from local import Stack, client
from local.stack import ADMIN

T = TypeVar("T")

# Nothing in the stack moved for this long: it is stuck, not slow. Longer than the pauses the
# design itself makes - a record that meets another run's claim comes back 30 s later
# (WAIT_FOR_CLAIM_SECONDS), after a delivery run of up to its 30 s timeout, and a replay's copies
# wait up to 10 s (FIRST_CALL_MAX_SECONDS) - during which no count changes.
STALL_SECONDS = float(os.environ.get("E2E_STALL_SECONDS") or 120)


class Stalled(AssertionError):
    pass


def wait_for(
    probe: Callable[[], T],
    *,
    until: Callable[[T], Any] = bool,
    progress: Callable[[], Any] | None = None,
    stall: float = STALL_SECONDS,
    interval: float = 0.1,
    timeout: float | None = None,
) -> T:
    """Calls `probe` until `until(value)` holds (by default: until the value is truthy); that value.

    Fails only when neither the probe's value nor `progress()` (a snapshot of whatever shows the
    system at work, such as `stack_progress`) changed for `stall` seconds, with what was seen last.
    `timeout`, from callers written for the wall-clock version, is taken as a stall limit (never
    under STALL_SECONDS)."""
    if timeout is not None:
        stall = max(stall, timeout)
    last: tuple[Any, Any] | None = None
    moved_at = time.monotonic()
    while True:
        value = probe()
        if until(value):
            return value
        seen = (value, progress() if progress is not None else None)
        if seen != last:
            last, moved_at = seen, time.monotonic()
        elif time.monotonic() - moved_at > stall:
            detail = f"; progress last seen: {seen[1]!r}" if progress is not None else ""
            raise Stalled(f"nothing moved for {stall:.0f} s: the probe last answered {_short(value)}{detail}")
        time.sleep(interval)


def _short(value: Any, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def queue_progress(sqs: Any) -> Callable[[], dict[str, tuple[int, ...]]]:
    """What each queue of the emulator holds (visible, in flight, delayed): moves while any record
    is received, deleted, comes back or becomes due."""
    urls = sqs.list_queues().get("QueueUrls", [])
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def snapshot() -> dict[str, tuple[int, ...]]:
        queues = {}
        for url in urls:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            queues[url.rsplit("/", 1)[-1]] = tuple(int(attributes.get(name, 0)) for name in names)
        return queues

    return snapshot


def stack_progress(stack: Stack) -> Callable[[], dict[str, Any]]:
    """A snapshot of the stack's delivery work, for `wait_for(progress=...)`: the messages each
    channel has sent (read in-process) and what each queue holds."""
    queues = queue_progress(stack.emulator.client("sqs"))

    def snapshot() -> dict[str, Any]:
        assert stack.outbox is not None
        return {"sent": [len(channel.messages()) for channel in stack.outbox.channels], "queues": queues()}

    return snapshot


_GATEWAY_SOURCES = {local.gateway.__file__, os.path.realpath(local.gateway.__file__)}


def _handlers_at() -> list[tuple[tuple[str, int], ...]]:
    """Where every thread now serving a gateway request is: its stack, as (file, line) pairs."""
    stacks = []
    for frame in sys._current_frames().values():
        frames: list[tuple[str, int]] = []
        serving = False
        current = frame
        while current is not None:
            frames.append((current.f_code.co_filename, current.f_lineno))
            serving = serving or current.f_code.co_filename in _GATEWAY_SOURCES
            current = current.f_back
        if serving:
            stacks.append(tuple(frames))
    return sorted(stacks)


class _HandlerActivity:
    """`_handlers_at()`, read at most once per interval however many requests wait on it."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._value: list[tuple[tuple[str, int], ...]] = []

    def __call__(self) -> list[tuple[tuple[str, int], ...]]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._interval:
                self._value, self._read_at = _handlers_at(), time.monotonic()
            return self._value


class WatchedStack(Stack):
    """The local stack, whose answers are awaited as long as its request handlers keep moving: a
    handler that computes or calls the emulator changes its stack; a stuck one (a deadlock, a
    loop on one line, a call that never returns) does not, and the request fails naming where."""

    _activity = _HandlerActivity()

    def request(  # type: ignore[override]
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        key: Any = ADMIN,
        *,
        timeout: float | None = None,
    ) -> client.Answer:
        answers: list[client.Answer] = []
        errors: list[BaseException] = []

        def send() -> None:
            try:
                answers.append(Stack.request(self, method, path, body, headers, key, timeout=timeout))
            except BaseException as error:
                errors.append(error)

        sender = threading.Thread(target=send, name=f"e2e {method} {path}", daemon=True)
        sender.start()
        last: Any = None
        moved_at = time.monotonic()
        while sender.is_alive():
            sender.join(0.2)
            if not sender.is_alive():
                break
            seen = self._activity()
            if seen != last:
                last, moved_at = seen, time.monotonic()
            elif time.monotonic() - moved_at > STALL_SECONDS:
                where = "; ".join(f"{Path(f).name}:{n}" for stack in seen for f, n in stack[:3]) or "no handler running"
                raise Stalled(
                    f"{method} {path}: no answer, and no request handler moved for {STALL_SECONDS:.0f} s: {where}"
                )
        if errors:
            raise errors[0]
        return answers[0]
