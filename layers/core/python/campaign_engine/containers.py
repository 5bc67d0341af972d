"""What a Lambda container keeps between invocations, declared where it is kept.

A warm container reuses its clients, settings and read-through caches; that is what keeps the
hot paths cheap. A harness that runs many "containers" in one process (the tests, the
benchmarks) must forget all of them between runs, or a client made for one emulator, settings
read from an old environment or a campaign cached by an earlier test leak into the next. Each
such cache registers itself here where it is defined, so `reset_all()` cannot miss one:

    @per_container
    @cache
    def dynamodb() -> Any: ...

    _snapshots: dict[str, Snapshot] = per_container({})

Caches keyed only by their inputs (compiled templates, parsed schemas) need not register: they
give the same answer in any container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class _FunctionCache(Protocol):
    def cache_clear(self) -> None: ...


class _Collection(Protocol):
    def clear(self) -> None: ...


Kept = TypeVar("Kept", bound=_FunctionCache | _Collection)

_resets: list[Callable[[], None]] = []


def per_container(kept: Kept) -> Kept:
    """Registers a `functools.cache`/`lru_cache` function or a mutable collection; returns it unchanged."""
    cache_clear = getattr(kept, "cache_clear", None)
    _resets.append(cache_clear if callable(cache_clear) else kept.clear)  # type: ignore[union-attr]
    return kept


def reset_all() -> None:
    """Forgets everything every imported module keeps per container, as a cold start would."""
    for reset in _resets:
        reset()
