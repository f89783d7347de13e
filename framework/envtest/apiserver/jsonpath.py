"""JSONPath as kubectl and kube-apiserver evaluate it (k8s.io/client-go/util/jsonpath).

Only the single-expression form that CRD `additionalPrinterColumns` use is supported: an
optional `{...}` around one path, no surrounding text, no `range`. A path is a sequence of
steps after an optional `$`:

- `.name` (a `\\.` inside a name is a literal dot), `.*`, `..name` (recursive descent),
- `[n]` (negative counts from the end), `[start:end:step]`, `[*]`, unions `[0,2]`,
- quoted keys `['a.b']` / `["a.b"]`, also as unions `['a','b']`,
- filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `>`, `<=`, `>=` between paths
  (`@...` relative to the element, `$...` from the root) and string, number or boolean
  literals, and the existence filter `[?(@.field)]`.

Evaluation follows client-go with missing keys allowed (as the printer columns do): a key
that is absent, an index out of range or a step applied to the wrong kind of value simply
yields no result. A comparison between values of different JSON types matches nothing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["JsonPath", "JsonPathError", "compile", "evaluate"]


class JsonPathError(ValueError):
    """The expression is not a JSONPath kube-apiserver would accept."""


_Step: TypeAlias = Callable[[Any, Any], Iterator[Any]]
"""One step: (value, root) -> the values it selects."""

_TERMINATORS = frozenset(" \t.[](){},=!<>@$\"'")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_NO_VALUE = object()


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled expression; `find` returns every selected value, in document order."""

    expression: str
    _steps: tuple[_Step, ...]

    def find(self, obj: Any) -> list[Any]:
        values: list[Any] = [obj]
        for step in self._steps:
            values = [found for value in values for found in step(value, obj)]
            if not values:
                break
        return values


def evaluate(obj: Any, expr: str) -> list[Any]:
    """Every value `expr` selects in `obj` (compiled expressions are cached)."""
    return compile(expr).find(obj)


@functools.lru_cache(maxsize=512)
def compile(expr: str) -> JsonPath:
    """Parse `expr`; raise `JsonPathError` when it is not a valid single JSONPath."""
    text = expr.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise JsonPathError(f"unclosed action in {expr!r}")
        text = text[1:-1].strip()
    if not text:
        raise JsonPathError("empty JSONPath expression")
    parser = _Parser(text)
    steps = parser.path(stop="")
    return JsonPath(expr, tuple(steps))


class _Parser:
    """Recursive-descent parser producing step closures."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> JsonPathError:
        return JsonPathError(f"{message} at position {self.pos} in {self.text!r}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.pos] in " \t":
            self.pos += 1

    def path(self, stop: str) -> list[_Step]:
        """Steps until the end of text or a character in `stop` (not consumed)."""
        steps: list[_Step] = []
        if self.peek() in ("$", "@"):
            self.pos += 1
        while not self.at_end() and self.text[self.pos] not in stop:
            char = self.text[self.pos]
            if self.peek(2) == "..":
                self.pos += 2
                steps.append(_recursive)
                if self.peek() != "[":
                    steps.append(self.field())
            elif char == ".":
                self.pos += 1
                if self.peek() == "[":
                    continue
                steps.append(self.field())
            elif char == "[":
                steps.append(self.bracket())
            else:
                raise self.error(f"unexpected {char!r}")
        return steps

    def field(self) -> _Step:
        start = self.pos
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char in _TERMINATORS:
                break
            chars.append(char)
            self.pos += 1
        if self.pos == start:
            raise self.error("missing field name")
        name = "".join(chars)
        return _wildcard if name == "*" else _keys((name,))

    def bracket(self) -> _Step:
        self.pos += 1
        self.skip_spaces()
        if self.peek() == "?":
            step = self.filter()
        elif self.peek() == "*":
            self.pos += 1
            step = _wildcard
        elif self.peek() in ("'", '"'):
            names = [self.quoted()]
            self.skip_spaces()
            while self.peek() == ",":
                self.pos += 1
                self.skip_spaces()
                names.append(self.quoted())
                self.skip_spaces()
            step = _keys(tuple(names))
        else:
            step = self.indexes()
        self.skip_spaces()
        if self.peek() != "]":
            raise self.error("expected ']'")
        self.pos += 1
        return step

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in ("'", '"'):
            raise self.error("expected a quoted key")
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.error("unterminated quoted string")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def indexes(self) -> _Step:
        end = self.text.find("]", self.pos)
        if end < 0:
            raise self.error("unclosed '['")
        body = self.text[self.pos : end]
        self.pos = end
        parts = [part.strip() for part in body.split(",")]
        if len(parts) == 1 and ":" in parts[0]:
            return _slice(self.slice_bounds(parts[0]))
        try:
            indexes = tuple(int(part) for part in parts)
        except ValueError:
            raise self.error(f"invalid array index {body!r}") from None
        return _indexes(indexes)

    def slice_bounds(self, body: str) -> slice:
        pieces = body.split(":")
        if len(pieces) > 3:
            raise self.error(f"invalid slice {body!r}")
        try:
            bounds = [int(piece) if piece.strip() else None for piece in pieces]
        except ValueError:
            raise self.error(f"invalid slice {body!r}") from None
        if len(bounds) == 3 and bounds[2] == 0:
            raise self.error("slice step must not be 0")
        return slice(*bounds)

    def filter(self) -> _Step:
        self.pos += 1
        if self.peek() != "(":
            raise self.error("expected '(' after '?'")
        self.pos += 1
        left = self.operand()
        self.skip_spaces()
        op = self.peek(2) if self.peek(2) in _OPERATORS else self.peek()
        if op in _OPERATORS:
            self.pos += len(op)
            right: _Operand | None = self.operand()
            self.skip_spaces()
        elif op == ")":
            right = None
        else:
            raise self.error("expected a comparison operator or ')'")
        if self.peek() != ")":
            raise self.error("expected ')'")
        self.pos += 1
        if right is None:
            return _exists(left)
        return _compare(left, _OPERATORS[op], right)

    def operand(self) -> _Operand:
        self.skip_spaces()
        char = self.peek()
        if char in ("@", "$"):
            relative = char == "@"
            steps = tuple(self.path(stop=" \t=!<>)"))
            return _Operand(steps, relative, None)
        if char in ("'", '"'):
            return _Operand(None, False, self.quoted())
        start = self.pos
        while not self.at_end() and self.text[self.pos] not in " \t=!<>)":
            self.pos += 1
        return _Operand(None, False, self.literal(self.text[start : self.pos]))

    def literal(self, token: str) -> Any:
        if token in ("true", "false"):
            return token == "true"
        for kind in (int, float):
            try:
                return kind(token)
            except ValueError:
                continue
        raise self.error(f"invalid literal {token!r}")


@dataclass(frozen=True, slots=True)
class _Operand:
    """A filter operand: a path (relative to the element or the root) or a literal."""

    steps: tuple[_Step, ...] | None
    relative: bool
    literal: Any

    def value(self, element: Any, root: Any) -> Any:
        if self.steps is None:
            return self.literal
        values = [element if self.relative else root]
        for step in self.steps:
            values = [found for value in values for found in step(value, root)]
        return values[0] if values else _NO_VALUE


def _recursive(value: Any, root: Any) -> Iterator[Any]:
    yield value
    children: Any = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        for child in children:
            yield from _recursive(child, root)


def _wildcard(value: Any, root: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _keys(names: tuple[str, ...]) -> _Step:
    def step(value: Any, root: Any) -> Iterator[Any]:
        if isinstance(value, dict):
            for name in names:
                if name in value:
                    yield value[name]

    return step


def _indexes(indexes: tuple[int, ...]) -> _Step:
    def step(value: Any, root: Any) -> Iterator[Any]:
        if isinstance(value, list):
            size = len(value)
            for index in indexes:
                if -size <= index < size:
                    yield value[index]

    return step


def _slice(bounds: slice) -> _Step:
    def step(value: Any, root: Any) -> Iterator[Any]:
        if isinstance(value, list):
            yield from value[bounds]

    return step


def _elements(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return []


def _exists(operand: _Operand) -> _Step:
    def step(value: Any, root: Any) -> Iterator[Any]:
        for element in _elements(value):
            if operand.value(element, root) is not _NO_VALUE:
                yield element

    return step


def _comparable(left: Any, right: Any) -> bool:
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    if isinstance(left, numbers) and isinstance(right, numbers):
        return True
    return isinstance(left, str) and isinstance(right, str)


def _compare(left: _Operand, compare: Callable[[Any, Any], bool], right: _Operand) -> _Step:
    def step(value: Any, root: Any) -> Iterator[Any]:
        for element in _elements(value):
            a = left.value(element, root)
            b = right.value(element, root)
            if a is _NO_VALUE or b is _NO_VALUE or not _comparable(a, b):
                continue
            if compare(a, b):
                yield element

    return step
