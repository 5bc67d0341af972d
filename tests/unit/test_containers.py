"""The registry of what a Lambda container keeps (campaign_engine.containers): one reset forgets all of it.

The tests and benchmarks run many "containers" in one process; a cache that a reset misses carries
one test's clients, settings or campaigns into the next (a flaky test far from its cause)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
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


# What a cold start loads for good (boto3, and in Lambda each client's model) is frozen out of the
# collector, so later full collections do not walk it (campaign_engine.aws). Outside Lambda clients are
# dropped at every reset, and a frozen client would never be collected: they must stay unfrozen there.
_FREEZE_PROBE = """
import gc, json
frozen_before = gc.get_freeze_count()
from campaign_engine import aws
frozen_after_import = gc.get_freeze_count()
aws.dynamodb()
print(json.dumps([frozen_before, frozen_after_import, gc.get_freeze_count()]))
"""


@pytest.mark.parametrize("execution_env", ["AWS_Lambda_python3.13", None])
def test_boto3_is_frozen_at_import_and_clients_only_in_lambda(execution_env: str | None) -> None:
    import json
    import os
    import subprocess  # nosec B404  # runs this interpreter on a fixed script
    import sys

    env = {k: v for k, v in os.environ.items() if k != "AWS_EXECUTION_ENV"}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": os.pathsep.join(sys.path)})
    if execution_env:
        env["AWS_EXECUTION_ENV"] = execution_env
    ran = subprocess.run(  # nosec B603  # this interpreter, a fixed script
        [sys.executable, "-c", _FREEZE_PROBE], capture_output=True, text=True, check=True, env=env
    )
    before, after_import, after_client = json.loads(ran.stdout.strip().splitlines()[-1])
    assert before == 0
    assert after_import > 20_000  # boto3's and botocore's modules (about 44,000 objects)
    if execution_env:
        assert after_client > after_import + 1_000  # the client's service model and endpoint rules
    else:
        assert after_client <= after_import  # (frozen objects freed by their count leave it)


def test_the_layer_defines_its_records_as_structs_not_dataclasses() -> None:
    """Every function imports dozens of the layer's record types on its cold start. A dataclass is
    built by generating and compiling its methods' source (about 0.7 ms each, a frozen one), a
    msgspec Struct in C (about 15 µs): delivery's import read 77 → 51 ms when its 25 went."""
    import ast
    import importlib.util

    found = []
    for module_info in pkgutil.walk_packages(campaign_engine.__path__, "campaign_engine."):
        spec = importlib.util.find_spec(module_info.name)
        assert spec is not None
        assert spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if ast.unparse(target).split(".")[-1] == "dataclass":
                        found.append(f"{module_info.name}.{node.name}")
    assert found == [], f"use msgspec.Struct (or a plain class for an exception): {found}"
