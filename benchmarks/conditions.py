"""DynamoDB condition expressions, evaluated against an item (for the fake's conditional writes).

Comparators (= <> < <= > >=), BETWEEN, IN, AND, OR, NOT, parentheses, and the functions
attribute_exists, attribute_not_exists, attribute_type, begins_with, contains and size, over
top-level and nested attribute paths with #name and :value placeholders.

It exists because the benchmarks answer AWS with benchmarks.fake_aws rather than an emulator
(its docstring says why), and a conditional write the fake did not check would let a duplicate
claim or send through: the requests counted would then be those of a product without its guards."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Json = dict[str, Any]
_TOKEN = re.compile(r"\s*(<>|<=|>=|[=<>(),\[\].]|[#:]?[A-Za-z_][A-Za-z0-9_\-]*|\d+)")
_MISSING = object()


def _tokens(text: str) -> list[str]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot parse condition at {text[position:]!r}")
        out.append(match.group(1))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str, names: dict[str, str], values: dict[str, Json], item: Json | None) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.names, self.values, self.item = names, values, item or {}

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise ValueError(f"expected {expected} at token {self.at} of {self.tokens}")
        self.at += 1
        return token

    # condition := conjunction (OR conjunction)*; conjunction := negation (AND negation)*
    def condition(self) -> bool:
        return self._joined("OR", self.conjunction)

    def conjunction(self) -> bool:
        return self._joined("AND", self.negation)

    def _joined(self, keyword: str, operand: Callable[[], bool]) -> bool:
        # Every operand is parsed (and evaluated) so that the tokens after it are reached.
        results = [operand()]
        while (self.peek() or "").upper() == keyword:
            self.take()
            results.append(operand())
        return any(results) if keyword == "OR" else all(results)

    def negation(self) -> bool:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            return not self.negation()
        return self.predicate()

    def predicate(self) -> bool:
        token = self.peek()
        if token == "(":  # nosec B105  # a token of the condition grammar, not a password
            self.take()
            result = self.condition()
            self.take(")")
            return result
        lowered = (token or "").lower()
        if lowered in ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"):
            return self.function()
        left = self.operand()
        following = (self.peek() or "").upper()
        if following in ("=", "<>", "<", "<=", ">", ">="):
            self.take()
            return _compare(left, following, self.operand())
        if following == "BETWEEN":
            self.take()
            low = self.operand()
            self.take("AND")
            high = self.operand()
            return _compare(left, ">=", low) and _compare(left, "<=", high)
        if following == "IN":
            self.take()
            self.take("(")
            options = [self.operand()]
            while self.peek() == ",":
                self.take()
                options.append(self.operand())
            self.take(")")
            return any(_compare(left, "=", option) for option in options)
        raise ValueError(f"unexpected {following!r} in condition {self.tokens}")

    def function(self) -> bool:
        name = self.take().lower()
        self.take("(")
        path = self.path()
        argument: Any = None
        if self.peek() == ",":
            self.take()
            argument = self.operand()
        self.take(")")
        if name == "attribute_exists":
            return path is not _MISSING
        if name == "attribute_not_exists":
            return path is _MISSING
        if path is _MISSING:
            return False
        ((kind, raw),) = path.items()
        if name == "attribute_type":
            return bool(argument and kind == argument.get("S"))
        if name == "begins_with":
            return kind in ("S", "B") and argument is not None and str(raw).startswith(str(argument.get(kind, "")))
        # contains
        if kind == "S" and argument is not None:
            return str(argument.get("S", "")) in raw
        if kind in ("SS", "NS", "BS") and argument is not None:
            return next(iter(argument.values())) in raw
        if kind == "L" and argument is not None:
            return argument in raw
        return False

    def operand(self) -> Any:
        token = self.peek() or ""
        if token.startswith(":"):
            self.take()
            return self.values.get(token, _MISSING)
        if token.lower() == "size":
            self.take()
            self.take("(")
            value = self.path()
            self.take(")")
            if value is _MISSING:
                return _MISSING
            ((kind, raw),) = value.items()
            return {"N": str(len(raw.encode()) if kind == "S" else len(raw))}
        return self.path()

    def path(self) -> Any:
        node = self._member({"M": self.item})
        while node is not _MISSING:
            if self.peek() == ".":
                self.take()
                node = self._member(node)
            elif self.peek() == "[":
                self.take()
                index = int(self.take())
                self.take("]")
                items = node.get("L", []) if isinstance(node, dict) else []
                node = items[index] if index < len(items) else _MISSING
            else:
                return node
        self._skip_rest_of_path()
        return _MISSING

    def _member(self, node: Any) -> Any:
        token = self.take()
        name = self.names.get(token, token)
        return node.get("M", {}).get(name, _MISSING) if isinstance(node, dict) else _MISSING

    def _skip_rest_of_path(self) -> None:
        while self.peek() in (".", "["):
            if self.take() == "[":
                self.take()
                self.take("]")
            else:
                self.take()


def _scalar(value: Any) -> Any:
    if value is _MISSING or not isinstance(value, dict):
        return _MISSING
    ((kind, raw),) = value.items()
    return Decimal(raw) if kind == "N" else raw


def _compare(left: Any, operator: str, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return operator == "<>" and (left is _MISSING) != (right is _MISSING)
    if operator in ("=", "<>"):
        same = _scalar(left) == _scalar(right) if set(left) == set(right) else False
        return same if operator == "=" else not same
    a, b = _scalar(left), _scalar(right)
    if type(a) is not type(b):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


def holds(condition: str, names: dict[str, str], values: dict[str, Json], item: Json | None) -> bool:
    parser = _Parser(condition, names, values, item)
    result = parser.condition()
    if parser.peek() is not None:
        raise ValueError(f"trailing tokens in condition {condition!r}")
    return result
