"""Finding a deployed stack's resources for the operator scripts."""

from __future__ import annotations

import os

import boto3


def stack_output(stack_name: str, key: str) -> str:
    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no output {key}")


def resolve(explicit: str | None, env_name: str, stack_name: str | None, output_key: str) -> str:
    """An explicit value, else the environment (set by the local stack), else the stack's output."""
    if explicit:
        return explicit
    if os.environ.get(env_name):
        return os.environ[env_name]
    if stack_name:
        return stack_output(stack_name, output_key)
    raise SystemExit(f"name the resource: pass it explicitly, set {env_name}, or pass --stack-name")
