"""How many batches an SQS event source mapping of the local stack processes at once.

All its runs share one process with the emulator, so a run lasts about as long as the work of
every run in flight takes this machine: the mapping starts with a few at once, adds one after
each quick run whose batch came back full (messages were waiting, as Lambda scales with the
backlog), gives one back when a batch came back short (the queue drained) and cuts them in
proportion after a slow one, so that its runs stay well inside the function's timeout on a slow or
busy machine, and a queue filled a message at a time is read in batches rather than one by one."""

from __future__ import annotations

import threading

from local.event_sources import START_BATCHES, Concurrency

TIMEOUT = 30  # the delivery function's; slow is over 10 s, quick under 5 s
RUNNING = threading.Event()  # never set: the stack keeps running


def run(concurrency: Concurrency, seconds: float, backlog: bool = True) -> None:
    started = concurrency.acquire(RUNNING)
    assert started is not None
    concurrency.release(started, seconds, backlog=backlog)


def test_a_mapping_starts_with_a_few_batches_and_adds_one_per_quick_full_batch_up_to_its_pollers() -> None:
    concurrency = Concurrency(16, TIMEOUT)
    assert concurrency.limit == START_BATCHES < 16
    run(concurrency, 4.0)
    assert concurrency.limit == START_BATCHES + 1
    run(concurrency, 7.0)
    assert concurrency.limit == START_BATCHES + 1, "neither quick nor slow: unchanged"
    for _ in range(30):
        run(concurrency, 0.2)
    assert concurrency.limit == 16


def test_short_batches_give_batches_back_down_to_the_start_and_never_add_any() -> None:
    concurrency = Concurrency(16, TIMEOUT)
    for _ in range(5):
        run(concurrency, 0.2, backlog=False)
    assert concurrency.limit == START_BATCHES, "a queue read dry: no more pollers than at the start"
    for _ in range(30):
        run(concurrency, 0.2)
    assert concurrency.limit == 16
    for _ in range(4):
        run(concurrency, 0.2, backlog=False)
    assert concurrency.limit == 12, "one fewer per short batch"
    empty = concurrency.acquire(RUNNING)
    assert empty is not None
    concurrency.release(empty, None)  # an empty receive: the queue is drained too
    assert concurrency.limit == 11
    for _ in range(30):
        run(concurrency, 0.2, backlog=False)
    assert concurrency.limit == START_BATCHES


def test_a_slow_run_cuts_the_batches_in_proportion_once_for_the_runs_then_in_flight() -> None:
    concurrency = Concurrency(16, TIMEOUT)
    for _ in range(30):
        run(concurrency, 0.2)
    first = concurrency.acquire(RUNNING)
    second = concurrency.acquire(RUNNING)
    assert first is not None
    assert second is not None
    concurrency.release(first, 20.0)
    assert concurrency.limit == 8, "16 runs at once took 20 s each: 8 take about 10 s"
    concurrency.release(second, 20.0)
    assert concurrency.limit == 8, "it ran alongside the first: no news about 8 at once"
    run(concurrency, 40.0)
    assert concurrency.limit == 2
    run(concurrency, 100.0)
    run(concurrency, 100.0)
    assert concurrency.limit == 1, "never fewer than one"


def test_pollers_over_the_limit_wait_for_a_slot_and_stop_when_the_stack_stops() -> None:
    concurrency = Concurrency(START_BATCHES + 2, TIMEOUT)
    held = [concurrency.acquire(RUNNING) for _ in range(START_BATCHES)]
    stopping = threading.Event()
    stopping.set()
    assert concurrency.acquire(stopping) is None, "no slot: it waited, and gave up when told to stop"

    got: list[float | None] = []
    waiter = threading.Thread(target=lambda: got.append(concurrency.acquire(RUNNING)))
    waiter.start()
    first = held[0]
    assert first is not None
    concurrency.release(first, None)  # an empty receive: a slot freed, never fewer than at the start
    waiter.join()
    assert got
    assert got[0] is not None
    assert concurrency.limit == START_BATCHES
