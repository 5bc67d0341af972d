"""The trigger's own DynamoDB value conversion reads and writes what store.people does."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_engine.store import known_people, people

VALUES: list[Any] = [
    "text",
    "",
    0,
    -12,
    10**37,
    1.5,
    -2.25e-3,
    True,
    False,
    None,
    [],
    {},
    {"person": {"name": {"firstName": "Ada"}, "tags": ["a", 1, None, {"x": [True]}]}},
]


@pytest.mark.parametrize("value", VALUES)
def test_values_round_trip_as_store_people_reads_and_writes_them(value: Any) -> None:
    written = known_people.attribute(value)
    assert people.from_attribute(written) == value
    assert known_people.plain(people.to_attribute(value)) == value
    assert known_people.plain(written) == value


@pytest.mark.parametrize("value", [10**200, 1e200, float("inf"), float("nan"), 1e-200, {"k": object()}])
def test_values_dynamodb_would_refuse_are_refused_before_the_write(value: Any) -> None:
    with pytest.raises(known_people.Unstorable):
        known_people.attribute(value)


def test_nesting_deeper_than_dynamodb_keeps_is_refused() -> None:
    value: Any = "bottom"
    for _ in range(32):
        value = [value]
    known_people.attribute(value)  # 32 levels: DynamoDB's limit
    with pytest.raises(known_people.Unstorable):
        known_people.attribute([value])
