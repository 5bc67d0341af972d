"""The registry of what a Lambda container keeps (campaign_engine.containers): one reset forgets all of it.

The tests and benchmarks run many "containers" in one process; a cache that a reset misses carries
one test's clients, settings or campaigns into the next (a flaky test far from its cause)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import campaign_engine
from campaign_engine import aws, campaign_gate, containers, settings

# Cached functions of no arguments that are not per-container state, and why.
NOT_PER_CONTAINER = {
    # Built once and captured at import by the modules that use it: a reset could reach none of them.
    "campaign_engine.observability._tracer": "captured at import",
    # A class made from code alone: the same in every container, whatever the environment.
    "campaign_engine.context_schema._validator_class": "built from code alone",
    # A library imported on first use (the trigger's cold start does without): the same module everywhere.
    "campaign_engine.addresses._email_validator": "a module, imported on first use",
    "campaign_engine.addresses._phonenumbers": "a module, imported on first use",
}


def _cached_functions_without_arguments() -> Iterator[tuple[str, Any]]:
    for module_info in pkgutil.walk_packages(campaign_engine.__path__, "campaign_engine."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__ or not hasattr(value, "cache_clear"):
                continue
            if not inspect.signature(value).parameters:
                yield f"{module.__name__}.{name}", value


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield
    containers.reset_all()  # nothing built here outlives the test


def test_every_cache_without_arguments_is_forgotten_by_a_reset() -> None:
    # A cached function of no arguments holds what the container built from its environment.
    found = dict(_cached_functions_without_arguments())
    assert "campaign_engine.settings.get_settings" in found
    for name, function in found.items():
        if name in NOT_PER_CONTAINER:
            continue
        function()
        assert function.cache_info().currsize == 1, name
        containers.reset_all()
        assert function.cache_info().currsize == 0, (
            f"{name} is not registered: decorate it with @per_container (campaign_engine.containers), or name it"
            " in NOT_PER_CONTAINER with the reason it is the same in every container"
        )


def test_a_reset_is_a_cold_start_for_settings_clients_and_campaign_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGNS_TABLE", "before")
    containers.reset_all()
    assert settings.get_settings().campaigns_table == "before"
    client = aws.sqs()
    campaign_gate._snapshots["c1"] = (0.0, None)

    monkeypatch.setenv("CAMPAIGNS_TABLE", "after")
    assert settings.get_settings().campaigns_table == "before", "warm: settings are read once"
    containers.reset_all()

    assert settings.get_settings().campaigns_table == "after"
    assert aws.sqs() is not client
    assert "c1" not in campaign_gate._snapshots
