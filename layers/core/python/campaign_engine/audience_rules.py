"""The rule language of rule-based audiences (placeholder interface; the full language is being
written). A rule is JSON; `parse_rule` checks it and answers a Rule, `Rule.matches` evaluates it
on a stored profile's values (store.people.from_item), and `Rule.scan_filter` gives the DynamoDB
FilterExpression that selects the same profiles in a scan of the profiles table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScanFilter:
    expression: str
    names: dict[str, str]
    values: dict[str, Any]  # DynamoDB attribute values


@dataclass(frozen=True)
class Rule:
    source: dict[str, Any]

    def matches(self, profile: dict[str, Any]) -> bool:
        return True

    def scan_filter(self) -> ScanFilter | None:
        return None


def parse_rule(value: Any) -> Rule:
    """Raises ValueError (its message names the part of the rule at fault)."""
    if not isinstance(value, dict):
        raise ValueError("rule must be a JSON object")
    return Rule(value)
