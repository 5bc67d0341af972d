"""A campaign's contextSchema: checked when it is set, and every recipient's context checked against it.

The schema is the campaign author's text and the context the caller's: both stay data. The schema is
interpreted by jsonschema (JSON Schema 2020-12), never compiled to code (a schema compiler's string
escaping is not a security boundary). What interpretation leaves open is bounded here, in the one
place create, PATCH, review, preview and the trigger all use:
- size and nesting depth of the schema;
- regexes (`pattern`, `patternProperties`, and through them `propertyNames`): run by the `regex`
  engine with a timeout, on strings of bounded length, and at most a few slow matches per call;
- `$ref`: only references inside the schema resolve; nothing is ever fetched;
- `format`: a fixed set of pure checkers.

What a check reports names the JSON path and the rule, never the context's values: the answer is
stored with the execution for 30 days and served by the status route."""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec
import regex

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
# Longer strings (values and keys) are not matched against a pattern: they fail it.
MAX_MATCHED_CHARS = 10_000
MATCH_TIMEOUT_SECONDS = 0.05
# What one pattern may unroll into (counted repeats multiplied out); the schema's patterns, 10x that.
MAX_PATTERN_EXPANSION = 10_000
# Objects and arrays larger than this are not checked against unevaluatedProperties/Items: they fail.
MAX_UNEVALUATED_CHECKED = 1000
# Per trigger call: after this many timed-out matches, every further match fails at once, so one call
# costs at most a fraction of a second of regex time however many recipients it names.
MAX_SLOW_MATCHES_PER_CALL = 3
_SHOWN_CHARS = 120  # of a schema's value (a pattern) or a path quoted in a message

# Keywords whose value is a schema, a list of schemas, or an object of schemas (2020-12, plus the
# draft-07 spellings jsonschema still follows): the walks below visit exactly these, so a value in
# `enum`, `const`, `default` or `examples` is never mistaken for a schema.
_SCHEMA_VALUED = frozenset(
    {
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "additionalItems",
        "items",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


# ---------------------------------------------------------------------------------------------
# Is a schema acceptable?
# ---------------------------------------------------------------------------------------------


def schema_problems(schema: Any, *, full: bool = True) -> list[str]:
    """Why `schema` cannot be a campaign's contextSchema, each message naming where; [] when it can.
    Without `full`, only the bounds: size, depth, patterns, $refs that leave the schema (the
    meta-schema and where each local $ref lands are left to whoever reviewed it)."""
    if (refused := _whole_schema_problem(schema, full=full)) is not None:
        return [refused]
    problems: list[str] = []
    survey = _SchemaSurvey()
    for path, node in _subschemas(schema):
        survey.note(path, node, problems)
    for ref, where in survey.refs:
        if not ref.startswith("#"):
            problems.append(
                f"{where}: {_shown(ref)} is outside the schema; only references inside it (starting with #) "
                "are allowed, and nothing is ever fetched"
            )
        elif full and not survey.has_inner_id and not _resolves(schema, ref):
            problems.append(f"{where}: {_shown(ref)} does not point anywhere inside the schema")
    if survey.has_pattern_properties and survey.has_unevaluated_properties:
        # jsonschema matches patternProperties with `re`, unbounded, when it works out which keys
        # unevaluatedProperties sees; every other use of a pattern goes through the bounded engine.
        problems.append("contextSchema: patternProperties cannot be combined with unevaluatedProperties")
    return problems


def _whole_schema_problem(schema: Any, *, full: bool) -> str | None:
    """What refuses the schema as a whole (its kind, depth, size, the meta-schema), before its parts are read."""
    if not isinstance(schema, dict):
        return "contextSchema: must be a JSON object"
    if _depth(schema) > MAX_SCHEMA_DEPTH:  # first: measuring the size recurses
        return f"contextSchema: nests deeper than {MAX_SCHEMA_DEPTH} levels"
    try:
        size = len(json.dumps(schema, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:  # stored as JSON, NaN and Infinity would silently become null
        return "contextSchema: numbers must be finite (no NaN or Infinity)"
    if size > MAX_SCHEMA_BYTES:
        return f"contextSchema: is {size // 1024} KB; at most {MAX_SCHEMA_BYTES // 1024} KB is allowed"
    return _meta_schema_error(schema) if full else None


class _SchemaSurvey(msgspec.Struct):
    """What schema_problems learns walking every subschema: the patterns' total expansion, the
    keywords that matter only in combination, and every $ref to check once the walk is done."""

    expansion: int = 0
    has_pattern_properties: bool = False
    has_unevaluated_properties: bool = False
    has_inner_id: bool = False
    refs: list[tuple[str, str]] = msgspec.field(default_factory=list)

    def note(self, path: list[str | int], node: dict[str, Any], problems: list[str]) -> None:
        for pattern, where in _patterns_of(node, path):
            size = _expanded_size(pattern)
            self.expansion += size if size <= MAX_PATTERN_EXPANSION else 0  # an oversize one is refused alone
            if self.expansion > MAX_PATTERN_EXPANSION * 10:  # compile no more of them
                if not any("the schema's patterns" in problem for problem in problems):
                    limit = MAX_PATTERN_EXPANSION * 10
                    problems.append(f"{where}: the schema's patterns together repeat more than {limit} items")
            elif (reason := _pattern_problem(pattern)) is not None:
                problems.append(f"{where}: the pattern {_shown(pattern)} cannot be used: {reason}")
        self.has_pattern_properties |= isinstance(node.get("patternProperties"), dict)
        self.has_unevaluated_properties |= "unevaluatedProperties" in node
        self.has_inner_id |= bool(path) and "$id" in node
        for keyword in ("$ref", "$dynamicRef"):
            if isinstance(ref := node.get(keyword), str):
                self.refs.append((ref, f"{_schema_path(path)}.{keyword}"))


def _meta_schema_error(schema: dict[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    # Without format checks: the meta-schema's "regex" format would compile the schema's patterns
    # with `re`; schema_problems compiles them with the engine that runs them, bounded.
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    invalid = best_match(meta.iter_errors(schema))
    if invalid is None:
        return None
    return f"{_schema_path(list(invalid.absolute_path))}: not valid JSON Schema: {_shown(invalid.message)}"


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_SCHEMA_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[list[str | int], dict[str, Any]]]:
    """(path, subschema) for the schema and every schema inside it."""
    stack: list[tuple[list[str | int], Any]] = [([], schema)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield path, node
        for keyword, value in node.items():
            if keyword in _SCHEMA_MAPS and isinstance(value, dict):
                stack.extend(([*path, keyword, name], sub) for name, sub in value.items())
            elif keyword in _SCHEMA_LISTS and isinstance(value, list):
                stack.extend(([*path, keyword, index], sub) for index, sub in enumerate(value))
            elif keyword in _SCHEMA_VALUED:
                stack.append(([*path, keyword], value))


def _patterns_of(node: dict[str, Any], path: list[str | int]) -> Iterator[tuple[str, str]]:
    if isinstance(pattern := node.get("pattern"), str):
        yield pattern, f"{_schema_path(path)}.pattern"
    if isinstance(patterns := node.get("patternProperties"), dict):
        where = f"{_schema_path(path)}.patternProperties"
        yield from ((p, where) for p in patterns)


def _pattern_problem(pattern: str) -> str | None:
    # Checked before compiling: the engine unrolls counted repeats, so (?:a{1000}){1000} alone takes
    # a second and a quarter of a gigabyte to compile.
    if _expanded_size(pattern) > MAX_PATTERN_EXPANSION:
        return f"its counted repeats ({{n}}, {{m,n}}) multiply out to more than {MAX_PATTERN_EXPANSION} items"
    try:
        _compiled(pattern)
    except Exception as error:  # regex.error, or a RecursionError from a pattern nested too deep
        return str(error) or type(error).__name__
    return None


_COUNT = re.compile(r"\{(\d*)(,(\d*))?\}")


def _expanded_size(pattern: str) -> int:
    """An upper bound on the items the engine unrolls `pattern` into: every atom is one, a counted
    repeat multiplies what it repeats (nested ones multiply together)."""
    sizes = [0]  # of each open group
    last = 1  # size of the atom a quantifier repeats
    i = 0
    while i < len(pattern):
        char = pattern[i]
        step = 1
        if char == "(":
            sizes.append(0)
            i += 1
            continue
        if char == ")" and len(sizes) > 1:
            last = max(sizes.pop(), 1)
            sizes[-1] += last
            i += 1
            continue
        if char == "{" and (count := _COUNT.match(pattern, i)) and (count.group(1) or count.group(3)):
            low, high = count.group(1), count.group(3)
            digits = high if high else low
            times = int(digits) if len(digits) <= 9 else 10**9
            sizes[-1] += last * max(times - 1, 0)
            last *= max(times, 1)
            i = count.end()
            continue
        if char == "\\":
            step = 2
            if i + 2 < len(pattern) and pattern[i + 1].isalpha() and pattern[i + 2] in "{<":
                close = pattern.find("}" if pattern[i + 2] == "{" else ">", i + 2)  # \p{L}, \g<name>
                step = (close + 1 - i) if close > 0 else len(pattern) - i
        elif char == "[":
            step = _class_length(pattern, i)
        last = 1
        sizes[-1] += 1
        i += step
    return sum(sizes)


def _class_length(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1 - start


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    from referencing.exceptions import Unresolvable

    try:
        _resolver_for(schema).lookup(ref)
    except Unresolvable:
        return False
    return True


def _schema_path(path: list[str | int]) -> str:
    return "contextSchema" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


# ---------------------------------------------------------------------------------------------
# Bounded regexes
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


class MatchBudget(msgspec.Struct):
    """What one trigger call (or one preview) may still spend on slow matches."""

    slow_matches: int = 0
    # Matches that timed out: the second pass that describes a failure does not wait on them again.
    timed_out: set[tuple[str, str]] = msgspec.field(default_factory=set)

    @property
    def spent(self) -> bool:
        return self.slow_matches >= MAX_SLOW_MATCHES_PER_CALL


_budget: ContextVar[MatchBudget | None] = ContextVar("context_schema_budget", default=None)


class _Unchecked(Exception):
    """A keyword not run to the end, whose message says why: the value counts as not valid."""


class _Unmatchable(_Unchecked):
    """A string the pattern was not run on to the end: it counts as not matching."""


def _search(pattern: str, text: str, compiled: regex.Pattern[str] | None = None) -> bool:
    if len(text) > MAX_MATCHED_CHARS:
        raise _Unmatchable(f"is over {MAX_MATCHED_CHARS} characters, too long to match against a pattern")
    budget = _budget.get()
    if budget is not None:
        if budget.timed_out and (pattern, text) in budget.timed_out:
            raise _Unmatchable(_TOO_SLOW)
        if budget.spent:
            raise _Unmatchable("cannot be matched: the schema's patterns took too long in this call")
    try:
        # Positional arguments (string, pos, endpos, concurrent, partial, timeout): keywords cost ~1 µs more.
        found = (compiled or _compiled(pattern)).search(text, 0, None, None, False, MATCH_TIMEOUT_SECONDS)
        return found is not None
    except TimeoutError:
        if budget is not None:
            budget.slow_matches += 1
            budget.timed_out.add((pattern, text))
        raise _Unmatchable(_TOO_SLOW) from None


_TOO_SLOW = "cannot be matched: the pattern takes too long on it"


@contextmanager
def match_budget() -> Iterator[MatchBudget]:
    """Bounds the slow matches of everything run inside (matches_pattern has none of its own)."""
    budget = MatchBudget()
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def matches_pattern(pattern: str, text: str) -> bool | None:
    """Whether `text` matches; None when the pattern cannot be used or run to the end on it."""
    try:
        return _search(pattern, text)
    except Exception:  # _Unmatchable, or a pattern the engine refuses
        return None


# Keyword functions: jsonschema's own, with every regex run by _search. Their messages are replaced
# by describe() anyway; the cause tells it when a string was not matched to the end.


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    try:
        matched = _search(pattern, instance)
    except _Unmatchable as unmatchable:
        yield ValidationError("unmatchable", cause=unmatchable)
        return
    if not matched:
        yield ValidationError("does not match the pattern")


def _key_matches(pattern: str, key: str) -> bool | _Unmatchable:
    try:
        return _search(pattern, key)
    except _Unmatchable as unmatchable:
        return unmatchable


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            matched = _key_matches(pattern, key)
            if isinstance(matched, _Unmatchable):
                yield ValidationError("unmatchable", cause=matched, path=[key])
            elif matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for key in instance:
        if key in properties:
            continue
        matches = [_key_matches(p, key) for p in patterns]
        unmatchable = next((m for m in matches if isinstance(m, _Unmatchable)), None)
        if unmatchable is not None:
            yield ValidationError("unmatchable", cause=unmatchable, path=[key])
        elif any(matches):
            continue
        elif validator.is_type(additional, "object"):
            yield from validator.descend(instance[key], additional, path=key)
        elif not additional:
            yield ValidationError("not allowed", path=[key])


def _canonical(value: Any) -> str:
    """Equal in JSON Schema's sense (1 is 1.0, true is not 1, key order does not matter) is equal text."""
    return json.dumps(_normal(value), sort_keys=True, separators=(",", ":"))


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _is_unique(items: list[Any]) -> bool:
    seen: set[str] = set()
    for item in items:
        key = _canonical(item)
        if key in seen:
            return False
        seen.add(key)
    return True


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    # jsonschema compares objects pairwise (21 s for 4,000 of them); here, one pass.
    from jsonschema.exceptions import ValidationError

    if unique and validator.is_type(instance, "array") and not _is_unique(instance):
        yield ValidationError("has repeated items")


def _bounded(keyword: str, kind: str) -> Any:
    """jsonschema's keyword, refused on objects or arrays it would take quadratic time over (it keeps
    the evaluated keys in a list: 8,000 keys cost 0.4 s per context)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    original = Draft202012Validator.VALIDATORS[keyword]
    what = "properties" if kind == "object" else "items"

    def bounded(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, kind) and len(instance) > MAX_UNEVALUATED_CHECKED:
            reason = f"has more than {MAX_UNEVALUATED_CHECKED} {what}, too many to check {keyword} on"
            yield ValidationError(reason, cause=_Unchecked(reason))
            return
        yield from original(validator, value, instance, schema)

    return bounded


# ---------------------------------------------------------------------------------------------
# format: a fixed set of pure checkers (others are annotations, as 2020-12 makes them by default)
# ---------------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_time(value: str) -> bool:
    match = _TIME.fullmatch(value)
    if not match:
        return False
    hour, minute, second = int(value[0:2]), int(value[3:5]), int(value[6:8])
    return hour <= 23 and minute <= 59 and second <= 60  # a leap second is a valid RFC 3339 time


def _is_date_time(value: str) -> bool:
    if len(value) < 20 or value[10] not in "Tt":
        return False
    if not (_is_date(value[:10]) and _is_time(value[11:])):
        return False
    try:
        datetime.fromisoformat(value[:19])
    except ValueError:
        return False
    return True


def _is_ip(version: int) -> Any:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version and "%" not in value
        except ValueError:
            return False

    return check


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36 and all(value[i] == "-" for i in (8, 13, 18, 23))


def _is_hostname(value: str) -> bool:
    labels = value.rstrip(".").split(".") if value else []
    return 0 < len(value) <= 253 and all(_HOSTNAME_LABEL.fullmatch(label) for label in labels)


FORMATS: dict[str, Any] = {
    "date": _is_date,
    "time": _is_time,
    "date-time": _is_date_time,
    "email": lambda v: len(v) <= 320 and _EMAIL.fullmatch(v) is not None,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "uuid": _is_uuid,
    "hostname": _is_hostname,
    "uri": lambda v: len(v) <= 8192 and _URI.fullmatch(v) is not None,
}


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(lambda value, _check=check: not isinstance(value, str) or _check(value))
    return checker


# ---------------------------------------------------------------------------------------------
# Checking a context
# ---------------------------------------------------------------------------------------------


class ContextError(NamedTuple):
    """Where a context fails its schema and the rule it breaks; never the value found there."""

    path: str  # JSON path: $.order.total
    rule: str  # must be of type integer

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}"


def _refuse_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # nothing is fetched: not over HTTP, not from a file


def _resolver_for(schema: dict[str, Any]) -> Any:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry: Any = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    return registry.resolver_with_root(DRAFT202012.create_resource(schema))


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator,
        validators={
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
            "uniqueItems": _unique_items,
            "unevaluatedProperties": _bounded("unevaluatedProperties", "object"),
            "unevaluatedItems": _bounded("unevaluatedItems", "array"),
        },
    )


# ---------------------------------------------------------------------------------------------
# The fast answer for the common schemas: closures built from the schema (data, never code)
# ---------------------------------------------------------------------------------------------
# jsonschema's generic machinery costs ~10x what the trigger spent per recipient before. Most
# contextSchemas use a few plain keywords; for those, a tree of closures answers "valid" in a few
# microseconds. It may only say "valid" where jsonschema would: anything it is unsure of (a keyword
# outside its set, an enum of objects, a pattern that timed out) answers "not valid", and then
# jsonschema decides and describes.

Check = Any  # Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$schema", "deprecated", "readOnly", "writeOnly"}
)
_PY_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}
_SCALARS = (str, int, float, bool, type(None))
_FAST_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "prefixItems",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "anyOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
    }
)


class _NoFastPath(Exception):
    pass


def fast_check(schema: Any) -> Check | None:
    """A closure that answers True only for contexts jsonschema finds valid; None when the schema
    uses something it does not handle (oneOf, not, if/then/else, unevaluated*, $id, ...)."""
    try:
        return _FastCompiler(schema).compile(schema)
    except Exception:  # _NoFastPath, or a shape the meta-schema would refuse: jsonschema answers
        return None


def _kind(value: Any) -> type:
    """JSON Schema's equality: 1 equals 1.0, but true is not 1."""
    return float if type(value) is int else type(value)


def _same_scalar(allowed: list[Any]) -> Check:
    if not all(isinstance(a, _SCALARS) for a in allowed):
        raise _NoFastPath
    pairs = [(_kind(a), a) for a in allowed]
    return lambda v: any(_kind(v) is kind and v == a for kind, a in pairs)


def _every(checks: list[Check]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]

    def every(v: Any) -> bool:
        for check in checks:  # noqa: SIM110 - a loop: all(generator) costs a generator per call
            if not check(v):
                return False
        return True

    return every


def _matcher(pattern: str) -> Check:
    """True when `v` matches, False when it does not; raises _Unmatchable when the pattern cannot be
    run to the end on it (the callers answer "not valid", and jsonschema then reports it)."""
    compiled = _compiled(pattern)
    return lambda v: _search(pattern, v, compiled)


def _string_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        low, high = low or 0, high if high is not None else math.inf
        checks.append(lambda v: not isinstance(v, str) or low <= len(v) <= high)
    if "pattern" in schema:
        matches = _matcher(schema["pattern"])

        def string_matches(v: Any) -> bool:
            try:
                return not isinstance(v, str) or matches(v)
            except _Unmatchable:
                return False

        checks.append(string_matches)
    if schema.get("format") in FORMATS:
        valid_format = FORMATS[schema["format"]]
        checks.append(lambda v: not isinstance(v, str) or valid_format(v))
    return checks


def _number_checks(schema: dict[str, Any]) -> list[Check]:
    bounds = [(k, schema[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema]
    if not bounds:
        return []
    low = max((b for k, b in bounds if k == "minimum"), default=-math.inf)
    high = min((b for k, b in bounds if k == "maximum"), default=math.inf)
    above = max((b for k, b in bounds if k == "exclusiveMinimum"), default=-math.inf)
    below = min((b for k, b in bounds if k == "exclusiveMaximum"), default=math.inf)

    def within(v: Any) -> bool:
        if not isinstance(v, int | float) or isinstance(v, bool):
            return True
        return low <= v <= high and above < v < below

    return [within]


class _FastCompiler:
    # Loops, not all(generator), in the closures: a generator per node per recipient costs more than the check.

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict) or not set(schema) <= _FAST_KEYWORDS | _ANNOTATIONS:
            raise _NoFastPath
        checks: list[Check] = []
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [_PY_TYPES[k] for k in kinds]
            checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
        if "enum" in schema:
            checks.append(_same_scalar(list(schema["enum"])))
        if "const" in schema:
            checks.append(_same_scalar([schema["const"]]))
        checks.extend(_string_checks(schema))
        checks.extend(_number_checks(schema))
        checks.extend(self._array_checks(schema))
        checks.extend(self._object_checks(schema))
        if "allOf" in schema:
            checks.append(_every([self.compile(sub) for sub in schema["allOf"]]))
        if "anyOf" in schema:
            branches = [self.compile(sub) for sub in schema["anyOf"]]
            checks.append(lambda v: any(branch(v) for branch in branches))
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        return _every(checks)

    def _ref(self, ref: str) -> Check:
        """A local JSON pointer, compiled once; a recursive schema refers to its own closure."""
        if ref in self._refs:
            return self._refs[ref]
        if not ref.startswith("#") or (ref != "#" and not ref.startswith("#/")):
            raise _NoFastPath  # an anchor: jsonschema resolves it
        target: Any = self._root
        for token in ref[2:].split("/") if ref != "#" else []:
            key = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                raise _NoFastPath
        resolved: list[Check] = []
        self._refs[ref] = lambda v: resolved[0](v)  # noqa: PLW0108 - bound late: the target may refer back here
        resolved.append(self.compile(target))
        return self._refs[ref]

    def _array_checks(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        fewest, most = schema.get("minItems"), schema.get("maxItems")
        if fewest is not None or most is not None:
            fewest, most = fewest or 0, most if most is not None else math.inf
            checks.append(lambda v: not isinstance(v, list) or fewest <= len(v) <= most)
        if schema.get("uniqueItems"):
            checks.append(lambda v: not isinstance(v, list) or _is_unique(v))
        prefix = [self.compile(sub) for sub in schema.get("prefixItems") or ()]
        rest = self.compile(schema["items"]) if "items" in schema else None
        if prefix or rest is not None:

            def items(v: Any) -> bool:
                if isinstance(v, list):
                    for check, x in zip(prefix, v, strict=False):
                        if not check(x):
                            return False
                    if rest is not None:
                        for x in v[len(prefix) :]:
                            if not rest(x):
                                return False
                return True

            checks.append(items)
        return checks

    def _object_checks(self, schema: dict[str, Any]) -> list[Check]:
        return [check for check in (self._members_check(schema), self._keys_check(schema)) if check is not None]

    def _members_check(self, schema: dict[str, Any]) -> Check | None:
        required = list(schema.get("required") or ())
        dependencies = [(k, list(needed)) for k, needed in (schema.get("dependentRequired") or {}).items()]
        dependent = [(k, self.compile(sub)) for k, sub in (schema.get("dependentSchemas") or {}).items()]
        properties = [(k, self.compile(sub)) for k, sub in (schema.get("properties") or {}).items()]
        if not (
            required or dependencies or dependent or properties or {"minProperties", "maxProperties"} & set(schema)
        ):
            return None
        return _named_members_check(
            fewest=schema.get("minProperties", 0),
            most=schema.get("maxProperties", math.inf),
            required=required,
            dependencies=dependencies,
            dependent=dependent,
            properties=properties,
        )

    def _keys_check(self, schema: dict[str, Any]) -> Check | None:
        patterns = [(_matcher(p), self.compile(sub)) for p, sub in (schema.get("patternProperties") or {}).items()]
        extra = self.compile(schema["additionalProperties"]) if "additionalProperties" in schema else None
        names = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        if not (patterns or extra is not None or names is not None):
            return None
        return _every_key_check(patterns, extra, names, frozenset(schema.get("properties") or ()))


def _named_members_check(
    *,
    fewest: float,
    most: float,
    required: list[str],
    dependencies: list[tuple[str, list[str]]],
    dependent: list[tuple[str, Check]],
    properties: list[tuple[str, Check]],
) -> Check:
    """An object's size, the keys it must have, and the keys the schema names."""

    def check_members(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        if not fewest <= len(v) <= most:
            return False
        for key in required:
            if key not in v:
                return False
        for key, needed in dependencies:
            if key in v:
                for other in needed:
                    if other not in v:
                        return False
        for key, sub in dependent:
            if key in v and not sub(v):
                return False
        for key, check in properties:  # noqa: SIM110 - a loop, not all(generator): see _FastCompiler
            if key in v and not check(v[key]):
                return False
        return True

    return check_members


def _every_key_check(
    patterns: list[tuple[Any, Check]], extra: Check | None, names: Check | None, known: frozenset[str]
) -> Check:
    """Every key of an object: its name, the patternProperties it matches, additionalProperties."""

    def check_keys(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, x in v.items():
            if names is not None and not names(key):
                return False
            matched = False
            for matches, check in patterns:
                try:
                    if matches(key):
                        if not check(x):
                            return False
                        matched = True
                except _Unmatchable:
                    return False  # jsonschema reports the key the pattern could not be run on
            # bandit B610: a schema keyword, not Django
            if extra is not None and not matched and key not in known and not extra(x):  # nosec B610
                return False
        return True

    return check_keys


class ContextChecker:
    """One campaign version's schema, ready to check contexts (built once per container).

    `reviewed`: the schema passed review (a live version did): the bounds are checked again, the
    meta-schema is not, and jsonschema is imported only when a context fails the fast answer or
    the schema has none: importing it costs a trigger container ~100 ms on its first call."""

    def __init__(self, schema: Any, *, reviewed: bool = False) -> None:
        problems = schema_problems(schema, full=not reviewed)
        # A schema stored before these checks existed (or written around them) fails its own
        # recipients, with the reason, instead of running.
        self.unusable = ContextError("$", f"cannot be checked: the campaign's {problems[0]}") if problems else None
        self._schema = schema
        self._validator: Any = None
        self._fast = fast_check(schema) if not problems else None

    def _full(self) -> Any:
        if self._validator is None:
            from referencing import Registry

            registry: Any = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
            self._validator = _validator_class()(self._schema, registry=registry, format_checker=_format_checker())
        return self._validator

    def first_error(self, context: Any, budget: MatchBudget | None = None) -> ContextError | None:
        if self.unusable is not None:
            return self.unusable
        token = _budget.set(budget or MatchBudget())
        try:
            if self._fast is not None and self._fast(context):
                return None
            validator = self._full()
            if validator.is_valid(context):  # no error objects built
                return None
            errors = list(validator.iter_errors(context))
            if not errors:
                return None
            return describe(min(errors, key=lambda e: (len(e.absolute_path), e.json_path)))
        except RecursionError:
            return ContextError("$", "cannot be checked: the schema refers to itself without end, or nests too deep")
        except Exception as error:  # an unresolvable $ref, or any fault in the schema: this recipient fails
            return ContextError("$", f"cannot be checked against the campaign's contextSchema ({type(error).__name__})")
        finally:
            _budget.reset(token)


def endless_schema(schema: Any) -> list[str]:
    """A schema that refers to itself without reading into the context (`{"$ref": "#"}`) fails every
    context: review says so instead of activating it."""
    error = ContextChecker(schema).first_error({})
    if error is not None and error.rule.startswith("cannot be checked: the schema refers to itself"):
        return ["contextSchema: refers to itself without end ($ref loops back without reading into the context)"]
    return []


@lru_cache(maxsize=256)
def checker_for(campaign_id: str, version: int, schema_json: str) -> ContextChecker:
    """The trigger's checker of a live version: a version never changes, so it is built once per
    container; a live version passed review."""
    return ContextChecker(json.loads(schema_json), reviewed=True)


# ---------------------------------------------------------------------------------------------
# What an error says: the path and the rule, from the schema's keyword and its value (the
# author's text), never from jsonschema's message (which quotes the caller's value)
# ---------------------------------------------------------------------------------------------

_RULES = {
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "multipleOf": "must be a multiple of {}",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "minProperties": "must have at least {} properties",
    "maxProperties": "must have at most {} properties",
    "minContains": "must have at least {} items that match contains",
    "maxContains": "must have at most {} items that match contains",
    "format": "must be a valid {}",
    "pattern": "must match the pattern {}",
}
_FIXED_RULES = {
    "enum": "must be one of the values the schema lists",
    "const": "must be the value the schema sets",
    "uniqueItems": "must not repeat items",
    "contains": "must have an item that matches contains",
    "not": "must not match the schema under not",
    "anyOf": "must match at least one schema of anyOf",
    "oneOf": "must match exactly one schema of oneOf",
    "allOf": "must match every schema of allOf",
    "additionalProperties": "is not allowed (additionalProperties)",
    "unevaluatedProperties": "has properties the schema does not allow (unevaluatedProperties)",
    "unevaluatedItems": "has items the schema does not allow (unevaluatedItems)",
    "items": "has items the schema does not allow",
    "prefixItems": "has items the schema does not allow",
    "$ref": "does not match the schema its $ref points to",
}


def describe(error: Any) -> ContextError:
    path = _shown(error.json_path)
    keyword, value = error.validator, error.validator_value
    rule: str
    if isinstance(error.cause, _Unchecked):
        rule = str(error.cause)
    elif keyword in _RULES_OF_INSTANCE:
        rule = _RULES_OF_INSTANCE[keyword](value, error.instance)
    elif keyword in _RULES:
        rule = _RULES[keyword].format(_shown(str(value)))
    elif keyword in _FIXED_RULES:
        rule = _FIXED_RULES[keyword]
    elif keyword is None or value is False:
        rule = "is not allowed (the schema is false here)"
    else:
        rule = f"does not satisfy {_shown(str(keyword))}"
    if "propertyNames" in error.relative_schema_path:
        rule = f"a property name {rule}"
    return ContextError(path, rule)


def _type_rule(value: Any, _instance: Any) -> str:
    kinds = value if isinstance(value, list) else [value]
    return "must be of type " + " or ".join(str(k) for k in kinds)


def _required_rule(value: Any, instance: Any) -> str:
    have = instance if isinstance(instance, dict) else {}
    missing = [str(name) for name in value if name not in have]
    return "must have the property " + _shown(", ".join(missing))


def _dependent_required_rule(value: Any, instance: Any) -> str:
    have = instance if isinstance(instance, dict) else {}
    for present, needed in value.items():
        missing = [str(name) for name in needed if name not in have]
        if present in have and missing:
            return f"must have {_shown(', '.join(missing))} when it has {_shown(str(present))}"
    return "must have the properties the schema's dependentRequired lists"


# The rules whose wording depends on the value that broke them: (the keyword's value, the value).
_RULES_OF_INSTANCE: dict[str, Callable[[Any, Any], str]] = {
    "type": _type_rule,
    "required": _required_rule,
    "dependentRequired": _dependent_required_rule,
}
