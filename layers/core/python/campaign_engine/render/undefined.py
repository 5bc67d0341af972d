"""Missing values that know their path.

Walking a path that does not exist is fine (`profile.person.name.firstName | default("there")`,
`{% if profile.vip %}`, `is defined`), but printing, iterating or computing with it fails the
render with the path it came from (`'context.offerCode' is undefined`): a blank greeting or a
missing offer code sent to thousands is worse than a message held back. JSON `null` counts as
missing, so it never prints as "None". Messages name paths, never values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import TemplateRuntimeError, Undefined, UndefinedError
from jinja2.utils import missing

__all__ = ["MissingKeyMethod", "PathIndex", "PathUndefined", "child_path", "current_index"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_INDEX_LIMIT = 20_000


def child_path(parent: str, key: object) -> str:
    """How a template names `key` under `parent`: `context.order` + "id" -> `context.order.id`."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}"
    # A computed key may be recipient data: name its place, not its value.
    return f"{parent}[...]"


class PathIndex:
    """Where each container of the render scope sits (`id(obj)` -> `context.order.items[0]`).
    Built lazily, only when a lookup misses, so a clean render pays nothing for it."""

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self._scope = scope
        self._paths: dict[int, str] | None = None

    def path_of(self, obj: object) -> str | None:
        if self._paths is None:
            self._paths = self._build()
        return self._paths.get(id(obj))

    def _build(self) -> dict[int, str]:
        paths: dict[int, str] = {}
        stack: list[tuple[object, str]] = [(value, name) for name, value in self._scope.items()]
        while stack and len(paths) < _INDEX_LIMIT:
            value, path = stack.pop()
            if isinstance(value, Mapping):
                children: Iterator[tuple[object, object]] = iter(value.items())
            elif isinstance(value, list | tuple):
                children = enumerate(value)
            else:
                continue
            if id(value) in paths:  # shared or cyclic: the first place found names it
                continue
            paths[id(value)] = path
            stack.extend((child, child_path(path, key)) for key, child in children)
        return paths


current_index: ContextVar[PathIndex | None] = ContextVar("campaign_render_index", default=None)


class PathUndefined(Undefined):
    """A missing value that remembers where it was looked up. Chaining and tests work on it;
    printing, iterating, measuring or computing with it raise `UndefinedError` naming the path."""

    __slots__ = ("_undefined_null", "_undefined_path")
    _undefined_null: bool
    _undefined_path: str | None

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
        *,
        path: str | None = None,
        null: bool = False,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        self._undefined_null = null
        if path is None:
            if obj is missing:
                path = name if isinstance(name, str) else None
            elif isinstance(obj, PathUndefined) and obj._undefined_path and name is not None:
                path = child_path(obj._undefined_path, name)
            elif (index := current_index.get()) is not None and (parent := index.path_of(obj)) and name is not None:
                path = child_path(parent, name)
        self._undefined_path = path

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_path:
            return f"{self._undefined_path!r} is {'null' if self._undefined_null else 'undefined'}"
        return super()._undefined_message

    def _child(self, key: Any) -> PathUndefined:
        if self._undefined_exception is not UndefinedError:
            # An unsafe attribute (SecurityError) stays fatal however far it is chained.
            self._fail_with_undefined_error()
        path = child_path(self._undefined_path, key) if self._undefined_path else None
        return PathUndefined(obj=missing, name=key if isinstance(key, str) else None, path=path)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self._child(name)

    def __getitem__(self, key: Any) -> PathUndefined:  # type: ignore[override]
        return self._child(key)

    # What the reader would see, or what would silently count as empty, fails.
    __str__ = __iter__ = __len__ = Undefined._fail_with_undefined_error

    def __repr__(self) -> str:
        return f"PathUndefined({self._undefined_path!r})"


class MissingKeyMethod(PathUndefined):
    """`context.items` when the data has no "items" key: missing in every way (`is defined` is
    false, printing or looping fails naming the path) except that calling it still runs the
    dict method, so `context.prices.items()` keeps working."""

    __slots__ = ("_method",)

    def __init__(self, method: Any, obj: Any, name: str) -> None:
        super().__init__(obj=obj, name=name)
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)
