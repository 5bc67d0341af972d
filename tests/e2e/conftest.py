"""The local stack (`python -m local`), started once in this process for every e2e test.

`local_stack` is a started `local.Stack`: `.base_url`, `.moto_url`, `.api_key` (admin) and
`.request(method, path, body=None, headers=None, key=...) -> (status, headers, parsed body)`,
which sends the admin key unless given another `key` (or `key=None` for no Authorization)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from local import Stack

T = TypeVar("T")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark e2e tests, and run them last: the stack's emulator shares moto's state with the
    in-process mocks other tests use, and lives until the session ends."""
    e2e = [item for item in items if HERE in item.path.parents]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    chosen = set(map(id, e2e))
    items[:] = [item for item in items if id(item) not in chosen] + e2e


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    stack = Stack(port=0, moto_port=0).start()
    try:
        yield stack
    finally:
        stack.stop()


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Polls until `probe` returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still {value!r} after {timeout} s")
        time.sleep(interval)
