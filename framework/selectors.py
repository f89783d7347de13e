"""Kubernetes label and field selectors: parse, match, print (apimachinery's semantics).

Selectors are immutable, hashable and canonical: requirements are sorted and deduplicated, so
two selectors with the same requirements in any order are equal, and `str()` parses back to an
equal selector. Matching is precompiled at construction (it runs on every watch event).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "validate_label_key",
    "validate_label_value",
]


class SelectorError(ValueError):
    """A selector that cannot be parsed or built; the message names the offending token."""


# --- label key and value validation (k8s.io/apimachinery/pkg/util/validation) ----------------

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)  # Go's double spaces, kept verbatim
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_length_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part " + _max_length_error(253))
            if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
                errors.append(
                    "prefix part "
                    + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_length_error(63))
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def validate_label_key(key: str) -> str | None:
    """kube-apiserver's complaint about a label key (a qualified name with an optional DNS
    subdomain prefix: `example.com/my-name`), or None when it is valid."""
    errors = _qualified_name_errors(key)
    return "; ".join(errors) if errors else None


def validate_label_value(value: str) -> str | None:
    """kube-apiserver's complaint about a label value (empty, or at most 63 alphanumerics,
    '-', '_', '.', starting and ending alphanumeric), or None when it is valid."""
    errors = []
    if len(value) > 63:
        errors.append(_max_length_error(63))
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return "; ".join(errors) if errors else None


# --- label selectors ------------------------------------------------------------------------


class Operator(StrEnum):
    """Selector operators, spelled as apimachinery's `selection.Operator` ("==" is "=")."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_int64(text: str | None) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64), or None when it fails."""
    if text is None or not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


_Matcher = Callable[[Mapping[str, str]], bool]


def _label_matcher(key: str, operator: Operator, values: tuple[str, ...]) -> _Matcher:
    """A closure deciding the requirement for a label set (absent labels never equal a value)."""
    if operator is Operator.EXISTS:
        return lambda labels: key in labels
    if operator is Operator.DOES_NOT_EXIST:
        return lambda labels: key not in labels
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        bound = int(values[0])
        greater = operator is Operator.GREATER_THAN

        def compare(labels: Mapping[str, str]) -> bool:
            number = _parse_int64(labels.get(key))
            return number is not None and (number > bound if greater else number < bound)

        return compare
    positive = operator in (Operator.EQUALS, Operator.IN)
    if len(values) == 1:
        (value,) = values
        if positive:
            return lambda labels: labels.get(key) == value
        return lambda labels: labels.get(key) != value
    allowed = frozenset(values)
    if positive:
        return lambda labels: labels.get(key) in allowed
    return lambda labels: labels.get(key) not in allowed


def _requirement_errors(key: str, operator: Operator, values: tuple[str, ...]) -> list[str]:
    errors = [f"key {key!r}: {m}" for m in _qualified_name_errors(key)]
    if operator in (Operator.IN, Operator.NOT_IN):
        if not values:
            errors.append("for 'in', 'notin' operators, values set can't be empty")
    elif operator in (Operator.EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            errors.append("exact-match compatibility requires one single value")
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            errors.append("values set must be empty for exists and does not exist")
    elif len(values) != 1:
        errors.append("for 'Gt', 'Lt' operators, exactly one value is required")
    elif _parse_int64(values[0]) is None:
        errors.append("for 'Gt', 'Lt' operators, the value must be an integer")
    for value in values:
        message = validate_label_value(value)
        if message:
            errors.append(f"value {value!r}: {message}")
    return errors


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: `key`, an `Operator` (or its string; "==" means "="), and values.

    Values are stored sorted and deduplicated. Construction validates as apimachinery's
    `labels.NewRequirement` and raises `SelectorError`. Matching: =/in need the label present
    with one of the values; !=/notin match an absent label; gt/lt need an integer label value.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()
    _match: _Matcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        operator = Operator.EQUALS if self.operator == "==" else _operator(self.operator)
        if isinstance(self.values, str):
            raise SelectorError(f"requirement values must be a tuple, not {self.values!r}")
        values = tuple(sorted(set(self.values)))
        errors = _requirement_errors(self.key, operator, values)
        if errors:
            raise SelectorError(f"invalid label requirement: {'; '.join(errors)}")
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "_match", _label_matcher(self.key, operator, values))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies this requirement."""
        return self._match(labels)

    def __str__(self) -> str:
        operator = self.operator
        if operator is Operator.EXISTS:
            return self.key
        if operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {operator.value} ({','.join(self.values)})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(operator, operator.value)
        return f"{self.key}{symbol}{self.values[0]}"


def _operator(value: str) -> Operator:
    try:
        return Operator(value)
    except ValueError:
        raise SelectorError(f"{value!r} is not a valid selector operator") from None


def _requirement_order(r: Requirement) -> tuple[str, str, tuple[str, ...]]:
    return (r.key, r.operator.value, r.values)


_LABEL_SELECTOR_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of label `Requirement`s; no requirement selects everything.

    Build with `parse` (kubectl's `-l` syntax), `from_dict` (a metav1.LabelSelector),
    `from_labels` (exact matches) or `everything()`. Requirements are kept sorted and
    deduplicated, so equality and hashing are canonical (usable as cache keys).
    """

    requirements: tuple[Requirement, ...] = ()
    _matchers: tuple[_Matcher, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        requirements = tuple(sorted(set(self.requirements), key=_requirement_order))
        object.__setattr__(self, "requirements", requirements)
        object.__setattr__(self, "_matchers", tuple(r._match for r in requirements))

    @classmethod
    def everything(cls) -> LabelSelector:
        """The selector that matches every label set (the empty string)."""
        return _EVERYTHING

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the label selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
        `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`, joined by commas (AND); whitespace is free
        between tokens; an empty or blank string selects everything. Raises `SelectorError`."""
        return cls(tuple(_LabelParser(text).parse()))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """The selector requiring every given label to have exactly the given value."""
        return cls(tuple(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any]) -> LabelSelector:
        """Convert a metav1.LabelSelector dict (`matchLabels`, `matchExpressions` with operators
        In, NotIn, Exists, DoesNotExist), as apimachinery's LabelSelectorAsSelector.

        `{}` (and empty lists/maps) select everything. A nil (absent) metav1 selector selects
        nothing: that is the caller's decision, so None is not accepted here.
        Raises `SelectorError` for malformed dicts or invalid keys, values and operators.
        """
        if not isinstance(selector, Mapping):
            raise SelectorError(f"a label selector must be an object, not {selector!r}")
        match_labels = selector.get("matchLabels") or {}
        expressions = selector.get("matchExpressions") or []
        if not isinstance(match_labels, Mapping) or not all(
            isinstance(v, str) for v in match_labels.values()
        ):
            raise SelectorError(f"matchLabels must map strings to strings: {match_labels!r}")
        if not isinstance(expressions, list):
            raise SelectorError(f"matchExpressions must be a list: {expressions!r}")
        return cls((*cls.from_labels(match_labels).requirements, *map(_expression, expressions)))

    @property
    def empty(self) -> bool:
        """Whether this selector has no requirement (and so matches everything)."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies every requirement."""
        for match in self._matchers:  # noqa: SIM110 - a loop beats all() on this hot path
            if not match(labels):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(map(str, self.requirements))

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})"


_EVERYTHING = LabelSelector()


def _expression(expression: Any) -> Requirement:
    if not isinstance(expression, Mapping):
        raise SelectorError(f"a matchExpressions entry must be an object: {expression!r}")
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str):
        raise SelectorError(f"matchExpressions key must be a string: {expression!r}")
    if operator not in _LABEL_SELECTOR_OPERATORS:
        raise SelectorError(f"{operator!r} is not a valid label selector operator")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"matchExpressions values must be a list of strings: {expression!r}")
    return Requirement(key, _LABEL_SELECTOR_OPERATORS[operator], tuple(values))


class _Token(NamedTuple):
    kind: str  # "id", "end", or the symbol itself: = == != ! ( ) , < >
    text: str
    position: int

    def describe(self) -> str:
        return "end of string" if self.kind == "end" else repr(self.text)


_SYMBOLS = frozenset("=!(),<>")
_SPACE = frozenset(" \t\r\n")
_VALUE_OPERATORS = {
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "!=": Operator.NOT_EQUALS,
    ">": Operator.GREATER_THAN,
    "<": Operator.LESS_THAN,
}


def _lex(text: str) -> list[_Token]:
    """apimachinery's label lexer: symbols, and identifiers of anything else but whitespace."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _SPACE:
            i += 1
        elif char in _SYMBOLS:
            pair = text[i : i + 2]
            symbol = pair if pair in ("!=", "==") else char
            tokens.append(_Token(symbol, symbol, i))
            i += len(symbol)
        else:
            start = i
            while i < n and text[i] not in _SYMBOLS and text[i] not in _SPACE:
                i += 1
            tokens.append(_Token("id", text[start:i], start))
    tokens.append(_Token("end", "", n))
    return tokens


class _LabelParser:
    """Recursive descent over `_lex` tokens, following apimachinery's labels.Parser."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _lex(text)
        self._next = 0

    def _peek(self) -> _Token:
        return self._tokens[self._next]

    def _take(self) -> _Token:
        token = self._tokens[self._next]
        self._next += 1
        return token

    def _error(self, token: _Token, expected: str) -> SelectorError:
        return SelectorError(
            f"invalid label selector {self._text!r}: found {token.describe()} at position "
            f"{token.position}, expected {expected}"
        )

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        if self._peek().kind == "end":
            return requirements
        while True:
            requirements.append(self._requirement())
            token = self._take()
            if token.kind == "end":
                return requirements
            if token.kind != ",":
                raise self._error(token, "',' or end of string")

    def _requirement(self) -> Requirement:
        token = self._take()
        negated = token.kind == "!"
        if negated:
            token = self._take()
        if token.kind != "id":
            raise self._error(token, "a label key" if negated else "a label key or '!'")
        if negated or self._peek().kind in ("end", ","):
            operator = Operator.DOES_NOT_EXIST if negated else Operator.EXISTS
            return self._build(token, operator, ())
        op_token = self._take()
        if op_token.kind == "id" and op_token.text in ("in", "notin"):
            return self._build(token, Operator(op_token.text), self._value_set())
        if op_token.kind in _VALUE_OPERATORS:
            return self._build(token, _VALUE_OPERATORS[op_token.kind], (self._value(),))
        raise self._error(op_token, "an operator: in, notin, =, ==, !=, >, <")

    def _build(self, key: _Token, operator: Operator, values: tuple[str, ...]) -> Requirement:
        try:
            return Requirement(key.text, operator, values)
        except SelectorError as error:
            raise SelectorError(
                f"invalid label selector {self._text!r} at position {key.position}: {error}"
            ) from None

    def _value(self) -> str:
        """The value after =, ==, !=, >, <: an identifier, or "" when none follows."""
        if self._peek().kind in ("end", ","):
            return ""
        token = self._take()
        if token.kind != "id":
            raise self._error(token, "a value")
        return token.text

    def _value_set(self) -> tuple[str, ...]:
        """`(v1,v2,...)`; an empty slot is the empty value, so `()` is `("")` as in kube."""
        token = self._take()
        if token.kind != "(":
            raise self._error(token, "'('")
        values: list[str] = []
        expecting_value = True
        while True:
            token = self._take()
            if token.kind == "id" and expecting_value:
                values.append(token.text)
                expecting_value = False
            elif token.kind in (",", ")"):
                if expecting_value:
                    values.append("")
                if token.kind == ")":
                    return tuple(values)
                expecting_value = True
            else:
                raise self._error(token, "a value, ',' or ')'" if expecting_value else "',' or ')'")


# --- field selectors (k8s.io/apimachinery/pkg/fields) ---------------------------------------

_FIELD_OPERATORS = ("!=", "==", "=")  # "==" before "=", so no '=' is left on the value
_FIELD_NAME_FORBIDDEN = re.compile(r"[=!,\\\s]")
_ESCAPES = {"\\": "\\\\", ",": "\\,", "=": "\\="}


def _escape_field_value(value: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in value)


def _unescape_field_value(value: str) -> str:
    """apimachinery's fields.UnescapeValue: \\\\ \\, \\= are the only escapes; a bare ',' or
    '=' is invalid."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in _ESCAPES:
                raise SelectorError(f"invalid escape sequence '\\{char}' in {value!r}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(f"unescaped {char!r} in field selector value {value!r}")
        else:
            out.append(char)
    if escaped:
        raise SelectorError(f"invalid escape sequence '\\' at the end of {value!r}")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One field requirement: `field` `=` (or `!=`) `value`; "==" is accepted for "=".

    Field names must be non-empty, without whitespace, '=', '!', ',' or '\\' (apimachinery
    would pass such names to the server, which rejects them as unsupported anyway).
    """

    field: str
    operator: Operator
    value: str

    def __post_init__(self) -> None:
        if not self.field or _FIELD_NAME_FORBIDDEN.search(self.field):
            raise SelectorError(f"invalid field name {self.field!r} in a field selector")
        operator = Operator.EQUALS if self.operator == "==" else _operator(self.operator)
        if operator not in (Operator.EQUALS, Operator.NOT_EQUALS):
            raise SelectorError(f"field selectors support only '=' and '!=', not {operator!r}")
        object.__setattr__(self, "operator", operator)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether the field values satisfy this requirement (an absent field counts as "")."""
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator is Operator.EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator.value}{_escape_field_value(self.value)}"


def _field_order(r: FieldRequirement) -> tuple[str, str, str]:
    return (r.field, r.operator.value, r.value)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A conjunction of `FieldRequirement`s; no requirement selects everything.

    Canonical like `LabelSelector`: requirements sorted and deduplicated, hashable, and `str()`
    parses back to an equal selector.
    """

    requirements: tuple[FieldRequirement, ...] = ()
    _checks: tuple[tuple[str, str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        requirements = tuple(sorted(set(self.requirements), key=_field_order))
        object.__setattr__(self, "requirements", requirements)
        checks = tuple((r.field, r.value, r.operator is Operator.EQUALS) for r in requirements)
        object.__setattr__(self, "_checks", checks)

    @classmethod
    def everything(cls) -> FieldSelector:
        """The selector that matches everything (the empty string)."""
        return _EVERY_FIELD

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse `f=v`, `f==v`, `f!=v` terms joined by commas, as apimachinery's
        fields.ParseSelector: values escape '\\', ',' and '=' with a backslash, empty terms
        are skipped, whitespace is not trimmed. Raises `SelectorError`."""
        requirements: list[FieldRequirement] = []
        start = 0
        for term in _split_terms(text):
            if term:
                requirements.append(_field_term(text, term, start))
            start += len(term) + 1
        return cls(tuple(requirements))

    @property
    def empty(self) -> bool:
        """Whether this selector has no requirement (and so matches everything)."""
        return not self.requirements

    def fields(self) -> frozenset[str]:
        """The names of the fields this selector references."""
        return frozenset(r.field for r in self.requirements)

    def exact_match(self, field_name: str) -> str | None:
        """The value a `field_name=value` requirement pins, if any (e.g. `metadata.name`)."""
        for r in self.requirements:
            if r.field == field_name and r.operator is Operator.EQUALS:
                return r.value
        return None

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether the field values satisfy every requirement (absent fields count as "")."""
        for name, value, equal in self._checks:  # noqa: SIM110 - hot path, as above
            if (fields.get(name, "") == value) is not equal:
                return False
        return True

    def __str__(self) -> str:
        return ",".join(map(str, self.requirements))

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"


_EVERY_FIELD = FieldSelector()


def _split_terms(text: str) -> list[str]:
    """Split on commas not escaped by a backslash (escapes are kept in the terms)."""
    terms: list[str] = []
    start, escaped = 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _field_term(text: str, term: str, position: int) -> FieldRequirement:
    """One `field op value` term: split at the first operator (field names have no escapes)."""
    split = next(
        (
            (i, symbol)
            for i in range(len(term))
            for symbol in _FIELD_OPERATORS
            if term.startswith(symbol, i)
        ),
        None,
    )
    if split is None:
        raise SelectorError(
            f"invalid field selector {text!r}: can't understand {term!r} at position {position}"
        )
    i, symbol = split
    try:
        value = _unescape_field_value(term[i + len(symbol) :])
        return FieldRequirement(
            term[:i], Operator.NOT_EQUALS if symbol == "!=" else Operator.EQUALS, value
        )
    except SelectorError as error:
        raise SelectorError(
            f"invalid field selector {text!r} at position {position}: {error}"
        ) from None
