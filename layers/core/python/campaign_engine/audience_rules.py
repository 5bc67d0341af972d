"""The rule language of rule-based audiences: JSON, checked and bounded, never compiled to code.

A rule is a condition, or a group of them:

    {"all": [rule, ...]}      every one holds (1 to 20 members)
    {"any": [rule, ...]}      at least one holds (1 to 20 members)
    {"not": rule}             the rule does not hold
    {"attribute": "attributes.tier", "op": "eq", "value": "gold"}

`attribute` is one of the profile's own fields - `namespace`, `id`, `email`, `phone`,
`preferredLanguage`, `timezone`, `source`, `createdAt`, `updatedAt`, `consents.email`,
`consents.sms`, `consents.push` - or a free attribute, `attributes.<name>[.<name>...]` (up to 4
names of letters, digits, `_` and `-`). `op` is one of:

    eq, ne         equal / not equal (a string, number or boolean; `ne` also holds when absent)
    in             equal to one of `value` (a list of 1 to 100 strings, numbers or booleans)
    exists, notExists   the field is present / absent (no `value`)
    gt, gte, lt, lte    ordered comparison with a number, or a string (by code point)
    beginsWith     the field is a string starting with `value` (a non-empty string)
    contains       the field is a string holding `value` (a non-empty string), or a list with
                   an element equal to `value`

Types never convert: "5" does not equal 5, and a comparison with a field of another type (or
an absent one) does not hold. Bounds: nesting 4 levels deep, 32 conditions, 200 values in all,
strings of 256 characters, numbers within ±1e15 (0, or at least 1e-15 from it), and the rule's JSON within 16 KB.

`parse_rule` checks a rule (ValueError naming the part at fault, as `rule.all[2].op: ...`) and
answers a Rule; `Rule.matches` evaluates it on a stored profile's values (store.people.from_item)
and `Rule.scan_filter` gives the DynamoDB FilterExpression that selects the same profiles (and
only profile items) in one Scan of the profiles table. The two are the same semantics by
construction and by test (tests/unit/test_audience_rules.py, against the emulator)."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import msgspec

OPS = ("eq", "ne", "in", "exists", "notExists", "gt", "gte", "lt", "lte", "beginsWith", "contains")
OWN_ATTRIBUTES = (
    "namespace",
    "id",
    "email",
    "phone",
    "preferredLanguage",
    "timezone",
    "source",
    "createdAt",
    "updatedAt",
    "consents.email",
    "consents.sms",
    "consents.push",
)
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ATTRIBUTE_NAMES = 4
MAX_DEPTH = 4
MAX_GROUP = 20
MAX_CONDITIONS = 32
MAX_VALUES = 200
MAX_IN_VALUES = 100
MAX_STRING = 256
MAX_NUMBER = 1e15
MIN_NUMBER = 1e-15
MAX_RULE_BYTES = 16 * 1024
# DynamoDB's limit on an expression's length.
MAX_EXPRESSION = 4096
PROFILE_PK_PREFIX = "P#"
PROFILE_SK = "P"

Scalar = str | int | float | bool


class ScanFilter(msgspec.Struct, frozen=True):
    expression: str
    names: dict[str, str]
    values: dict[str, Any]  # DynamoDB attribute values


# ---------------------------------------------------------------------------
# The parsed rule: a tree of nodes
# ---------------------------------------------------------------------------
class Condition(msgspec.Struct, frozen=True):
    path: tuple[str, ...]
    op: str
    value: Any = None  # a scalar, or a tuple of scalars for `in`


class Group(msgspec.Struct, frozen=True):
    kind: str  # all | any | not
    members: tuple[Node, ...]


Node = Condition | Group


class Rule(msgspec.Struct, frozen=True):
    source: dict[str, Any]
    root: Node

    def __repr__(self) -> str:  # the source says it all; the compiled tree would repeat it at length
        return f"Rule(source={self.source!r})"

    def matches(self, profile: dict[str, Any]) -> bool:
        """Whether the stored profile (store.people.from_item values) is in the audience."""
        return _matches(self.root, profile)

    def scan_filter(self) -> ScanFilter:
        """The FilterExpression of a profiles-table Scan selecting the same profiles."""
        builder = _FilterBuilder()
        values = builder.values
        values[":pfx"] = {"S": PROFILE_PK_PREFIX}
        values[":psk"] = {"S": PROFILE_SK}
        expression = f"begins_with(pk, :pfx) AND sk = :psk AND ({builder.build(self.root)})"
        return ScanFilter(expression, builder.names, values)

    def to_json(self) -> str:
        return json.dumps(self.source, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------
class _Budget:
    def __init__(self) -> None:
        self.conditions = 0
        self.values = 0


def parse_rule(value: Any, where: str = "rule") -> Rule:
    """Raises ValueError (its message names the part of the rule at fault)."""
    try:
        size = len(json.dumps(value, separators=(",", ":")).encode())
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{where}: must be JSON") from None
    if size > MAX_RULE_BYTES:
        raise ValueError(f"{where}: is over {MAX_RULE_BYTES // 1024} KB")
    root = _parse_node(value, where, 1, _Budget())
    rule = Rule(value, root)
    if len(rule.scan_filter().expression) > MAX_EXPRESSION:
        raise ValueError(f"{where}: is too long as a filter; use fewer conditions or values")
    return rule


def _parse_node(value: Any, where: str, depth: int, budget: _Budget) -> Node:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be an object: a condition, or all, any or not")
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: is nested more than {MAX_DEPTH} levels deep")
    groups = [key for key in ("all", "any", "not") if key in value]
    if not groups:
        return _parse_condition(value, where, budget)
    if len(value) != 1:
        raise ValueError(f"{where}: a group has exactly one of all, any or not, and nothing beside it")
    kind = groups[0]
    inner = value[kind]
    if kind == "not":
        return Group("not", (_parse_node(inner, f"{where}.not", depth + 1, budget),))
    if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_GROUP:
        raise ValueError(f"{where}.{kind}: must be a list of 1 to {MAX_GROUP} rules")
    members = tuple(_parse_node(item, f"{where}.{kind}[{i}]", depth + 1, budget) for i, item in enumerate(inner))
    return Group(kind, members)


def _parse_condition(value: dict[str, Any], where: str, budget: _Budget) -> Condition:
    unknown = sorted(set(value) - {"attribute", "op", "value"})
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: is not a known field (attribute, op, value; or all, any, not)")
    budget.conditions += 1
    if budget.conditions > MAX_CONDITIONS:
        raise ValueError(f"{where}: the rule has more than {MAX_CONDITIONS} conditions")
    path = _parse_attribute(value.get("attribute"), f"{where}.attribute")
    op = value.get("op")
    if op not in OPS:
        raise ValueError(f"{where}.op: must be one of {', '.join(OPS)}")
    if op in ("exists", "notExists"):
        if "value" in value:
            raise ValueError(f"{where}.value: {op} takes no value")
        return Condition(path, op)
    if "value" not in value:
        raise ValueError(f"{where}.value: is required for {op}")
    return Condition(path, op, _parse_value(op, value["value"], f"{where}.value", budget))


def _parse_attribute(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError(f"{where}: is required: a profile field or attributes.<name>")
    if value in OWN_ATTRIBUTES:
        return tuple(value.split("."))
    head, _, rest = value.partition(".")
    names = rest.split(".") if rest else []
    if head != "attributes" or not 1 <= len(names) <= MAX_ATTRIBUTE_NAMES:
        raise ValueError(
            f"{where}: must be one of {', '.join(OWN_ATTRIBUTES)}, or attributes.<name> (up to "
            f"{MAX_ATTRIBUTE_NAMES} names)"
        )
    for name in names:
        if not ATTRIBUTE_NAME.match(name):
            raise ValueError(f"{where}: {name!r} is not an attribute name (letters, digits, _ and -, up to 64)")
    return ("attributes", *names)


def _parse_value(op: str, value: Any, where: str, budget: _Budget) -> Any:
    if op == "in":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
            raise ValueError(f"{where}: must be a list of 1 to {MAX_IN_VALUES} values")
        budget.values += len(value)
        parsed: Any = tuple(_scalar(item, f"{where}[{i}]") for i, item in enumerate(value))
    else:
        budget.values += 1
        parsed = _scalar(value, where)
    if budget.values > MAX_VALUES:
        raise ValueError(f"{where}: the rule has more than {MAX_VALUES} values")
    if op in ("gt", "gte", "lt", "lte") and isinstance(parsed, bool):
        raise ValueError(f"{where}: {op} compares numbers or strings")
    if op == "beginsWith" and not isinstance(parsed, str):
        raise ValueError(f"{where}: beginsWith takes a string")
    if op in ("beginsWith", "contains") and parsed == "":
        raise ValueError(f"{where}: must not be empty")
    return parsed


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ValueError(f"{where}: is longer than {MAX_STRING} characters")
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER or (value and abs(value) < MIN_NUMBER):
            raise ValueError(f"{where}: must be a number within ±1e15 (and 0 or at least 1e-15 from it)")
        return value
    raise ValueError(f"{where}: must be a string, a number or a boolean")


# ---------------------------------------------------------------------------
# Evaluation on stored values (DynamoDB's semantics)
# ---------------------------------------------------------------------------
_MISSING = object()


def _lookup(profile: dict[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = profile
    for name in path:
        if not isinstance(current, dict) or name not in current:
            return _MISSING
        current = current[name]
    return current


_TYPE_LETTERS = {"string": "S", "number": "N", "bool": "BOOL"}


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _number(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)


def _equal(stored: Any, wanted: Scalar) -> bool:
    kind = _kind(stored)
    if kind is None or kind != _kind(wanted):
        return False
    if kind == "number":
        return _number(stored) == _number(wanted)
    return bool(stored == wanted)


def _compare(stored: Any, op: str, wanted: Scalar) -> bool:
    kind = _kind(stored)
    if kind not in ("number", "string") or kind != _kind(wanted):
        return False
    a: Any = _number(stored) if kind == "number" else stored
    b: Any = _number(wanted) if kind == "number" else wanted
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def _contains(stored: Any, wanted: Scalar) -> bool:
    if isinstance(stored, str):
        return isinstance(wanted, str) and wanted in stored
    if isinstance(stored, list):
        return any(_equal(item, wanted) for item in stored)
    return False


def _holds(condition: Condition, profile: dict[str, Any]) -> bool:
    stored = _lookup(profile, condition.path)
    op, wanted = condition.op, condition.value
    if op == "exists":
        return stored is not _MISSING
    if op == "notExists":
        return stored is _MISSING
    if op == "eq":
        return _equal(stored, wanted)
    if op == "ne":
        return not _equal(stored, wanted)
    if op == "in":
        return any(_equal(stored, item) for item in wanted)
    if op == "beginsWith":
        return isinstance(stored, str) and stored.startswith(wanted)
    if op == "contains":
        return _contains(stored, wanted)
    return _compare(stored, op, wanted)


def _matches(node: Node, profile: dict[str, Any]) -> bool:
    if isinstance(node, Condition):
        return _holds(node, profile)
    if node.kind == "all":
        return all(_matches(member, profile) for member in node.members)
    if node.kind == "any":
        return any(_matches(member, profile) for member in node.members)
    return not _matches(node.members[0], profile)


# ---------------------------------------------------------------------------
# The same rule as a DynamoDB FilterExpression
# ---------------------------------------------------------------------------
_COMPARATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_FUNCTIONS = {
    "exists": "attribute_exists",
    "notExists": "attribute_not_exists",
    "beginsWith": "begins_with",
    "contains": "contains",
}


class _FilterBuilder:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._name_of: dict[str, str] = {}

    def _path(self, path: tuple[str, ...]) -> str:
        parts = []
        for name in path:
            if name not in self._name_of:
                self._name_of[name] = f"#a{len(self._name_of)}"
                self.names[self._name_of[name]] = name
            parts.append(self._name_of[name])
        return ".".join(parts)

    def _value(self, value: Scalar) -> str:
        placeholder = f":v{len(self.values)}"
        if isinstance(value, bool):
            self.values[placeholder] = {"BOOL": value}
        elif isinstance(value, str):
            self.values[placeholder] = {"S": value}
        else:
            self.values[placeholder] = {"N": str(_number(value))}
        return placeholder

    def build(self, node: Node) -> str:
        """The node's expression, never in parentheses of its own: a caller puts it in one pair
        (DynamoDB refuses a doubled pair as redundant)."""
        if isinstance(node, Group):
            if node.kind == "not":
                return f"NOT ({self.build(node.members[0])})"
            if len(node.members) == 1:
                return self.build(node.members[0])
            joiner = " AND " if node.kind == "all" else " OR "
            return joiner.join(f"({self.build(member)})" for member in node.members)
        return self._condition(node)

    def _condition(self, condition: Condition) -> str:
        path, op, value = self._path(condition.path), condition.op, condition.value
        if op in ("exists", "notExists"):
            return f"{_FUNCTIONS[op]}({path})"
        if op == "in":
            # One typed test per kind of value: DynamoDB never equates a boolean with a number, and the
            # emulator (Python's True == 1) would, so the type is stated rather than left implicit.
            kinds: dict[str, list[Any]] = {}
            for item in value:
                kinds.setdefault(_TYPE_LETTERS[_kind(item) or "string"], []).append(item)
            tests = [
                self._typed(path, letter, f"{path} IN ({', '.join(self._value(item) for item in items)})")
                for letter, items in kinds.items()
            ]
            return tests[0] if len(tests) == 1 else " OR ".join(f"({test})" for test in tests)
        if op in _FUNCTIONS:
            return f"{_FUNCTIONS[op]}({path}, {self._value(value)})"
        if op in ("eq", "ne"):
            letter = _TYPE_LETTERS[_kind(value) or "string"]
            equal = self._typed(path, letter, f"{path} = {self._value(value)}")
            return equal if op == "eq" else f"NOT ({equal})"
        # Typed first: DynamoDB's answer for a field of another type is false anyway, and the
        # emulator fails on such a comparison instead.
        letter = "N" if _kind(value) == "number" else "S"
        return self._typed(path, letter, f"{path} {_COMPARATORS[op]} {self._value(value)}", strings=True)

    def _typed(self, path: str, letter: str, test: str, *, strings: bool = False) -> str:
        """`test` on the attribute only when it holds that DynamoDB type (equality with a string needs
        no guard: no other type equals one; an ordered comparison always does)."""
        if letter == "S" and not strings:
            return test
        return f"attribute_type({path}, {self._value(letter)}) AND {test}"
