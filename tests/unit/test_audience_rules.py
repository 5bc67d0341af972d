"""The audience rule language: what it accepts, what it refuses (naming the part at fault), and
that `Rule.matches` and the DynamoDB filter it gives select the same profiles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from campaign_engine import aws
from campaign_engine.audience_rules import MAX_CONDITIONS, parse_rule
from campaign_engine.settings import get_settings
from campaign_engine.store import audiences as audience_store
from campaign_engine.store import people


def profile(**values: Any) -> dict[str, Any]:
    return {"namespace": "email", "id": "ada@example.com", **values}


@pytest.mark.parametrize(
    ("rule", "inside", "outside"),
    [
        (
            {"attribute": "attributes.tier", "op": "eq", "value": "gold"},
            profile(attributes={"tier": "gold"}),
            profile(attributes={"tier": "Gold"}),
        ),
        (
            {"attribute": "consents.email", "op": "ne", "value": "out"},
            profile(),  # never asked: not "out"
            profile(consents={"email": "out"}),
        ),
        (
            {"attribute": "preferredLanguage", "op": "in", "value": ["fr", "fr-CA"]},
            profile(preferredLanguage="fr-CA"),
            profile(preferredLanguage="en"),
        ),
        (
            {"attribute": "attributes.score", "op": "gte", "value": 10},
            profile(attributes={"score": 10.0}),
            profile(attributes={"score": "11"}),  # a string is never compared with a number
        ),
        (
            {"attribute": "email", "op": "beginsWith", "value": "ada@"},
            profile(email="ada@example.com"),
            profile(email="bob@example.com"),
        ),
        (
            {"attribute": "attributes.tags", "op": "contains", "value": "vip"},
            profile(attributes={"tags": ["new", "vip"]}),
            profile(attributes={"tags": ["vipish"]}),
        ),
        ({"attribute": "phone", "op": "exists"}, profile(phone="+14155550100"), profile()),
        ({"attribute": "timezone", "op": "notExists"}, profile(), profile(timezone="Europe/Lisbon")),
        (
            {
                "all": [
                    {"attribute": "attributes.tier", "op": "in", "value": ["gold", "platinum"]},
                    {"not": {"attribute": "attributes.account.closed", "op": "eq", "value": True}},
                    {
                        "any": [
                            {"attribute": "timezone", "op": "beginsWith", "value": "Europe/"},
                            {"attribute": "attributes.score", "op": "lt", "value": 0},
                        ]
                    },
                ]
            },
            profile(attributes={"tier": "gold", "account": {"closed": False}}, timezone="Europe/Paris"),
            profile(attributes={"tier": "gold", "account": {"closed": True}}, timezone="Europe/Paris"),
        ),
    ],
)
def test_a_rule_selects_the_profiles_it_says(rule: dict[str, Any], inside: dict, outside: dict) -> None:
    parsed = parse_rule(rule)
    assert parsed.matches(inside)
    assert not parsed.matches(outside)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ([], "rule: must be an object"),
        ({}, "rule.attribute: is required"),
        ({"all": []}, "rule.all: must be a list of 1 to 20 rules"),
        ({"all": [{"attribute": "email", "op": "exists"}], "any": []}, "rule: a group has exactly one"),
        (
            {"all": [{"attribute": "email", "op": "exists"}] * 2 + [{"attribute": "email", "op": "like"}]},
            "rule.all[2].op: must be one of eq, ne, in",
        ),
        ({"attribute": "password", "op": "exists"}, "rule.attribute: must be one of"),
        ({"attribute": "attributes.a b", "op": "exists"}, "rule.attribute: 'a b' is not an attribute name"),
        ({"attribute": "attributes.a.b.c.d.e", "op": "exists"}, "rule.attribute: must be one of"),
        ({"attribute": "email", "op": "exists", "value": 1}, "rule.value: exists takes no value"),
        ({"attribute": "email", "op": "eq"}, "rule.value: is required for eq"),
        ({"attribute": "email", "op": "eq", "value": None}, "rule.value: must be a string, a number or a boolean"),
        ({"attribute": "email", "op": "eq", "value": {"$ne": 1}}, "rule.value: must be a string"),
        ({"attribute": "email", "op": "in", "value": []}, "rule.value: must be a list of 1 to 100 values"),
        ({"attribute": "email", "op": "in", "value": ["a", [1]]}, "rule.value[1]: must be a string"),
        ({"attribute": "email", "op": "eq", "value": "x" * 257}, "rule.value: is longer than 256"),
        ({"attribute": "attributes.n", "op": "gt", "value": 1e16}, "rule.value: must be a number within"),
        ({"attribute": "attributes.n", "op": "gt", "value": True}, "rule.value: gt compares numbers or strings"),
        ({"attribute": "email", "op": "beginsWith", "value": 1}, "rule.value: beginsWith takes a string"),
        ({"attribute": "email", "op": "contains", "value": ""}, "rule.value: must not be empty"),
        ({"not": {"not": {"not": {"not": {"attribute": "id", "op": "exists"}}}}}, "is nested more than 4 levels"),
        ({"attribute": "email", "op": "exists", "extra": 1}, "rule.extra: is not a known field"),
        (
            {"any": [{"all": [{"attribute": "id", "op": "exists"}] * 20}] * 2},
            f"the rule has more than {MAX_CONDITIONS} conditions",
        ),
        (
            {"all": [{"attribute": "id", "op": "in", "value": list(range(100))}] * 3},
            "rule.all[2].value: the rule has more than 200 values",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_part_at_fault(rule: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rule(rule)


def test_a_rule_is_never_code_a_string_that_looks_like_an_expression_is_a_value() -> None:
    rule = parse_rule({"attribute": "email", "op": "eq", "value": "x) OR (attribute_exists(pk)"})
    found = rule.scan_filter()
    assert "attribute_exists(pk)" not in found.expression
    assert {"S": "x) OR (attribute_exists(pk)"} in found.values.values()
    assert not rule.matches(profile(email="ada@example.com"))


# ---------------------------------------------------------------------------
# matches() and the DynamoDB filter agree (against the emulator)
# ---------------------------------------------------------------------------
SCALARS = st.sampled_from(["gold", "Gold", "go", "silver", "é", "10", 0, 1, 1.5, -2, 10, 1000.0, True, False])
ATTRIBUTE_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.fixed_dictionaries({}, optional={"level": SCALARS, "tier": SCALARS}),
)
PATHS = st.sampled_from(
    [
        "attributes.tier",
        "attributes.score",
        "attributes.tags",
        "attributes.nested",
        "attributes.nested.level",
        "attributes.nested.tier",
        "consents.email",
        "preferredLanguage",
        "email",
        "namespace",
    ]
)


@st.composite
def profiles(draw: st.DrawFn, index: int) -> dict[str, Any]:
    values: dict[str, Any] = {"namespace": draw(st.sampled_from(["email", "ecid"])), "id": f"p{index}"}
    attributes = draw(
        st.fixed_dictionaries({}, optional=dict.fromkeys(("tier", "score", "tags", "nested"), ATTRIBUTE_VALUES))
    )
    if attributes:
        values["attributes"] = attributes
    if draw(st.booleans()):
        values["consents"] = {"email": draw(st.sampled_from(["in", "out"]))}
    for name, choices in (("preferredLanguage", ["fr", "fr-CA", "en"]), ("email", ["go@x.io", "gold@x.io"])):
        if draw(st.booleans()):
            values[name] = draw(st.sampled_from(choices))
    return values


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(
        st.sampled_from(["eq", "ne", "in", "exists", "notExists", "gt", "gte", "lt", "lte", "beginsWith", "contains"])
    )
    condition: dict[str, Any] = {"attribute": draw(PATHS), "op": op}
    if op == "in":
        condition["value"] = draw(st.lists(SCALARS, min_size=1, max_size=4))
    elif op in ("gt", "gte", "lt", "lte"):
        condition["value"] = draw(SCALARS.filter(lambda v: not isinstance(v, bool)))
    elif op == "beginsWith":
        condition["value"] = draw(st.sampled_from(["g", "go", "gold", "fr", "é"]))
    elif op == "contains":
        condition["value"] = draw(SCALARS.filter(lambda v: v != ""))
    elif op not in ("exists", "notExists"):
        condition["value"] = draw(SCALARS)
    return condition


RULES = st.recursive(
    conditions(),
    lambda inner: st.one_of(
        st.builds(lambda members: {"all": members}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda members: {"any": members}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda member: {"not": member}, inner),
    ),
    max_leaves=6,
)


def _write_population(population: list[dict[str, Any]]) -> None:
    table = get_settings().profiles_table
    client = aws.dynamodb()
    for item in client.scan(TableName=table, ProjectionExpression="pk, sk")["Items"]:
        client.delete_item(TableName=table, Key=item)
    for values in population:
        key = people.profile_key(values["namespace"], values["id"])
        client.put_item(TableName=table, Item={**key, **people.to_item(values)})
    # A suppression entry is never a profile, whatever the rule.
    client.put_item(
        TableName=table,
        Item={
            **people.suppression_key("email", "gold@x.io"),
            **people.to_item({"channel": "email", "reason": "manual"}),
        },
    )


def _scanned_ids(rule: Any) -> set[str]:
    """What the DynamoDB filter alone selects (no second check in Python)."""
    found = rule.scan_filter()
    response = aws.dynamodb().scan(
        TableName=get_settings().profiles_table,
        FilterExpression=found.expression,
        ExpressionAttributeNames=found.names,
        ExpressionAttributeValues=found.values,
    )
    return {item["id"]["S"] for item in response["Items"]}


# Seeded, as the API fuzz test is: CI runs the same 150 cases every time (other seeds were tried by hand).
@seed(20261201)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_matches_and_the_dynamodb_filter_select_the_same_profiles(aws_env: Any, data: st.DataObject) -> None:
    population = [data.draw(profiles(i)) for i in range(data.draw(st.integers(1, 6)))]
    rule = parse_rule(data.draw(RULES))
    _write_population(population)
    in_python = {values["id"] for values in population if rule.matches(values)}
    assert _scanned_ids(rule) == in_python, (rule.source, population)
    assert {p["id"] for p in audience_store.rule_page(rule, None, 100)[0]} == in_python


def test_rule_page_pages_through_the_profiles_and_skips_suppression_entries(aws_env: Any) -> None:
    population = [profile(id=f"p{i:02}", attributes={"score": i}) for i in range(30)]
    _write_population(population)
    rule = parse_rule({"attribute": "attributes.score", "op": "gte", "value": 10})
    seen: list[str] = []
    cursor: dict[str, Any] | None = None
    pages = 0
    while True:
        page, cursor = audience_store.rule_page(rule, cursor, 7)
        pages += 1
        seen += [p["id"] for p in page]
        if cursor is None:
            break
        assert json.loads(json.dumps(cursor)) == cursor  # checkpointed as is
    assert sorted(seen) == [f"p{i:02}" for i in range(10, 30)]
    assert pages >= 4
