"""context_schema: the fast answer never accepts what JSON Schema rejects; a stored schema that escaped
the checks on create fails its own recipients instead of running; review names unusable schemas."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from campaign_engine import context_schema
from campaign_engine.context_schema import ContextChecker, fast_check, schema_problems
from campaign_engine.review import review_campaign
from tests.conftest import ROOT

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}},
    {
        "type": "object",
        "required": ["orderId", "total"],
        "properties": {
            "orderId": {"type": "string", "pattern": "^[0-9]+$", "minLength": 1, "maxLength": 8},
            "total": {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1000},
            "count": {"type": "integer", "maximum": 10, "exclusiveMinimum": 0},
            "tier": {"enum": ["gold", "silver", 1, None, True]},
            "flag": {"const": False},
            "when": {"type": "string", "format": "date-time"},
            "email": {"format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "customer": {
                "type": "object",
                "properties": {"age": {"type": "integer"}},
                "additionalProperties": {"type": "string"},
            },
        },
        "dependentRequired": {"coupon": ["couponExpires"]},
        "additionalProperties": False,
    },
    {
        "$defs": {
            "money": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]},
            "node": {
                "type": "object",
                "properties": {"customer": {"$ref": "#/$defs/node"}, "age": {"type": "integer"}},
            },
        },
        "allOf": [{"$ref": "#/$defs/node"}, {"required": ["orderId"]}],
        "properties": {
            "total": {"$ref": "#/$defs/money"},
            "tags": {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}, "uniqueItems": True},
            "tier": {"anyOf": [{"const": "gold"}, {"type": "integer", "maximum": 1}]},
        },
        "patternProperties": {"^o": {"type": "string", "maxLength": 2}, "^[ot]": {"minLength": 2}},
        "additionalProperties": {"type": ["string", "array", "null"]},
        "propertyNames": {"maxLength": 8},
        "minProperties": 1,
        "maxProperties": 3,
        "dependentSchemas": {"coupon": {"required": ["couponExpires"]}},
    },
]
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    2.5,
    -1,
    999.5,
    1000,
    "",
    "12",
    "abc",
    "123456789",
    "gold",
    "a@b.co",
    "2026-12-01T09:00:00Z",
    "2026-13-01T09:00:00Z",
    [],
    ["a"],
    ["a", 1],
    ["a", "b", "c"],
    {},
    {"age": 3},
    {"age": "3"},
    {"age": 3, "name": "x"},
    {"name": 1},
]
KEYS = ["orderId", "total", "count", "tier", "flag", "when", "email", "tags", "customer", "coupon", "other"]


def _contexts() -> list[Any]:
    contexts: list[Any] = [[], "text", None]
    for first, second in itertools.product(KEYS, KEYS[:4]):
        for value in VALUES:
            contexts.append({"orderId": "12", "total": 1, first: value, second: value})
            contexts.append({first: value})
    contexts.append({"orderId": "12", "total": 1, "coupon": "x", "couponExpires": "y"})
    contexts += [
        {"orderId": "ab", "customer": {"customer": {"age": 3}}},
        {"orderId": "ab", "customer": {"customer": {"age": "3"}}},
        {"orderId": "ab", "tags": ["a", 1, 2]},
        {"orderId": "ab", "tags": [1, 1]},
        {"orderId": "ab", "tags": ["a", 1, 1.0]},
        {"orderId": "ab", "tags": ["1", 1, 2]},
        {"orderId": "ab", "total": "12", "tier": "gold"},
        {"orderId": "ab", "oz": "x"},
        {"orderId": "ab", "oz": "xy"},
        {"orderId": "ab", "coupon": "x"},
    ]
    return contexts


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_fast_answer_never_accepts_what_json_schema_rejects(schema: dict[str, Any]) -> None:
    fast = fast_check(schema)
    assert fast is not None, "the common keywords have a fast answer"
    reference = Draft202012Validator(schema, format_checker=context_schema._format_checker())
    checker = ContextChecker(schema)
    agreed = 0
    contexts = _contexts()
    for context in contexts:
        valid = reference.is_valid(context)
        if fast(context):
            assert valid, f"the fast answer accepted {context!r}"
        agreed += fast(context) == valid
        assert (checker.first_error(context) is None) == valid, context
    assert agreed == len(contexts), "the fast answer also accepts every valid context (no needless slow path)"


def test_keywords_outside_the_fast_set_go_to_json_schema() -> None:
    for schema in (
        {"oneOf": [{"type": "string"}]},
        {"properties": {"a": {"not": {"type": "string"}}}},
        {"if": {"required": ["a"]}, "then": {"required": ["b"]}},
        {"properties": {"a": {"$ref": "#anchor"}}, "$defs": {"x": {"$anchor": "anchor"}}},
        {"properties": {"a": {"enum": [[1]]}}},
    ):
        assert fast_check(schema) is None, schema
    checker = ContextChecker({"properties": {"a": {"enum": [[1]]}}})
    assert checker.first_error({"a": [True]}) is not None, "[True] is not [1] in JSON Schema"
    assert checker.first_error({"a": [1]}) is None


def test_a_stored_schema_that_escaped_the_checks_fails_its_recipients_without_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given schemas stored before the checks existed: an external $ref, an oversize one, a self-reference
    fetched: list[Any] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: fetched.append(a))
    external = ContextChecker({"properties": {"a": {"$ref": "https://example.com/schema.json"}}})
    oversize = ContextChecker({"properties": {f"k{i}": {"description": "x" * 100} for i in range(1000)}})
    endless = ContextChecker({"$ref": "#"})

    # Then each recipient checked against them fails with the reason, and nothing is fetched
    error = external.first_error({"a": 1})
    assert error is not None
    assert error.path == "$"
    assert "outside the schema" in error.rule
    assert "64 KB" in str(oversize.first_error({}))
    assert str(endless.first_error({})).startswith("$: cannot be checked: the schema refers to itself without end")
    assert fetched == []


def test_review_names_an_unusable_schema() -> None:
    doc = {
        "channel": "sms",
        "content": {"defaultLocale": "en-US", "locales": {"en-US": {"body": "Code {{ context.code }}"}}},
        "contextSchema": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": "(unclosed"},
                "other": {"$ref": "https://example.com/other.json"},
            },
        },
    }
    result = review_campaign(doc)
    messages = sorted(e.message for e in result.errors if e.code == "invalid_context_schema")
    assert len(messages) == 2, result.errors
    assert messages[0].startswith("contextSchema.properties.code.pattern: the pattern (unclosed cannot be used")
    assert messages[1].startswith("contextSchema.properties.other.$ref: https://example.com/other.json is outside")


def test_limits_are_reported_by_name() -> None:
    assert schema_problems({"type": "object"}) == []
    assert schema_problems({"type": "nonsense"})[0].startswith("contextSchema.type: not valid JSON Schema")
    assert schema_problems({"properties": {"a": {"$ref": "#/$defs/missing"}}}) == [
        "contextSchema.properties.a.$ref: #/$defs/missing does not point anywhere inside the schema"
    ]
    assert schema_problems({"patternProperties": {"^a": {}}, "unevaluatedProperties": False}) == [
        "contextSchema: patternProperties cannot be combined with unevaluatedProperties"
    ]


def test_review_spends_a_bounded_time_on_catastrophic_pattern_properties() -> None:
    # Given patternProperties that backtrack exponentially on the names the templates read
    names = [f"{'a' * 30}b{i}" for i in range(20)]
    doc = {
        "channel": "sms",
        "content": {
            "defaultLocale": "en-US",
            "locales": {"en-US": {"body": " ".join(f"{{{{ context.{name} }}}}" for name in names)}},
        },
        "contextSchema": {"type": "object", "patternProperties": {"^(a|aa)+$": {"type": "string"}}},
    }
    # When it is reviewed, then the answer comes promptly (each name takes ~0.5 s with Python's re)
    started = time.monotonic()
    review_campaign(doc)
    assert time.monotonic() - started < 5  # ~0.5 s here; ~10 s with Python's re


def test_counted_repeats_are_bounded_before_compiling() -> None:
    assert schema_problems({"properties": {"a": {"pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$"}}}) == []
    [problem] = schema_problems({"properties": {"a": {"pattern": "(?:(?:a{100}){100}){100}"}}})
    assert "multiply out to more than 10000 items" in problem
    many = {"properties": {f"k{i}": {"pattern": "a{9000}"} for i in range(20)}}
    assert schema_problems(many) == [
        "contextSchema.properties.k8.pattern: the schema's patterns together repeat more than 100000 items"
    ]


def test_the_trigger_imports_jsonschema_only_for_a_context_that_fails() -> None:
    # jsonschema's import cost a trigger container ~100 ms on its first call
    script = (
        "import json, sys\n"
        "from campaign_engine import context_schema\n"
        "schema = {'type': 'object', 'required': ['orderId'], 'properties': {'orderId': {'pattern': '^[0-9]+$'}}}\n"
        "checker = context_schema.checker_for('c', 1, json.dumps(schema))\n"
        "assert checker.first_error({'orderId': '12'}) is None\n"
        "print('jsonschema' in sys.modules)\n"
        "print(checker.first_error({'orderId': 'x'}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core" / "python")}
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert ran.stdout.splitlines() == ["False", "$.orderId: must match the pattern ^[0-9]+$"]


def test_unique_items_and_unevaluated_keywords_take_linear_time() -> None:
    # jsonschema compares objects pairwise (4,000 took 21 s) and keeps evaluated keys in a list
    unique = ContextChecker({"properties": {"items": {"type": "array", "uniqueItems": True}}})
    many = [{"sku": i, "tags": [str(i)]} for i in range(4000)]
    unevaluated = ContextChecker({"properties": {"a": {}}, "unevaluatedProperties": {"type": "integer"}})
    wide = {f"k{i}": i for i in range(20_000)}

    started = time.monotonic()
    assert unique.first_error({"items": many}) is None
    assert str(unique.first_error({"items": [*many, {"tags": ["0"], "sku": 0.0}]})) == "$.items: must not repeat items"
    assert str(unevaluated.first_error(wide)) == (
        "$: has more than 1000 properties, too many to check unevaluatedProperties on"
    )
    assert unevaluated.first_error({"a": "x", "b": 1}) is None
    assert time.monotonic() - started < 5  # ~0.3 s here; over 20 s with jsonschema's own
