"""framework.selectors: label and field selectors as apimachinery parses and matches them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    validate_label_key,
    validate_label_value,
)

# --- label key and value validation ---------------------------------------------------------

QUALIFIED_NAME_REGEX_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
DNS_SUBDOMAIN_REGEX_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.mark.parametrize(
    "key",
    ["a", "A", "1", "app", "app.kubernetes.io/name", "kubeloop.dev/owner-uid", "a_b.c-D", "x" * 63],
)
def test_valid_label_keys(key: str) -> None:
    assert validate_label_key(key) is None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "name part must be non-empty; name part " + QUALIFIED_NAME_REGEX_ERROR),
        ("x" * 64, "name part must be no more than 63 characters"),
        ("-a", "name part " + QUALIFIED_NAME_REGEX_ERROR),
        ("a-", "name part " + QUALIFIED_NAME_REGEX_ERROR),
        ("a b", "name part " + QUALIFIED_NAME_REGEX_ERROR),
        ("/a", "prefix part must be non-empty"),
        ("Example.com/a", "prefix part " + DNS_SUBDOMAIN_REGEX_ERROR),
        ("example.com/", "name part must be non-empty; name part " + QUALIFIED_NAME_REGEX_ERROR),
        ("a/b/c", "a qualified name " + QUALIFIED_NAME_REGEX_ERROR),
        ("a" * 254 + "/b", "prefix part must be no more than 253 characters"),
    ],
)
def test_invalid_label_keys(key: str, message: str) -> None:
    error = validate_label_key(key)
    assert error is not None
    assert error.startswith(message)


@pytest.mark.parametrize("value", ["", "a", "A1", "a.b_c-d", "0" * 63, "12345"])
def test_valid_label_values(value: str) -> None:
    assert validate_label_value(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 64, "must be no more than 63 characters"),
        ("-x", LABEL_VALUE_REGEX_ERROR),
        ("x.", LABEL_VALUE_REGEX_ERROR),
        ("a/b", LABEL_VALUE_REGEX_ERROR),
        ("a\n", LABEL_VALUE_REGEX_ERROR),
        ("é", LABEL_VALUE_REGEX_ERROR),
        ("-" * 64, "must be no more than 63 characters; " + LABEL_VALUE_REGEX_ERROR),
    ],
)
def test_invalid_label_values(value: str, message: str) -> None:
    assert validate_label_value(value) == message


# --- label selector parsing -----------------------------------------------------------------


def _req(key: str, operator: str, *values: str) -> Requirement:
    return Requirement(key, Operator(operator), values)


@pytest.mark.parametrize(
    ("text", "requirements", "canonical"),
    [
        ("", [], ""),
        ("   ", [], ""),
        ("a=b", [_req("a", "=", "b")], "a=b"),
        ("a==b", [_req("a", "=", "b")], "a=b"),
        ("a!=b", [_req("a", "!=", "b")], "a!=b"),
        ("a=", [_req("a", "=", "")], "a="),
        ("a=,b", [_req("a", "=", ""), _req("b", "exists")], "a=,b"),
        ("a in (x,y)", [_req("a", "in", "x", "y")], "a in (x,y)"),
        ("a in(y, x ,x)", [_req("a", "in", "x", "y")], "a in (x,y)"),
        ("a notin (x)", [_req("a", "notin", "x")], "a notin (x)"),
        ("a in ()", [_req("a", "in", "")], "a in ()"),
        ("a in (,x)", [_req("a", "in", "", "x")], "a in (,x)"),
        ("a in (x,)", [_req("a", "in", "", "x")], "a in (,x)"),
        ("a in (x,,y)", [_req("a", "in", "", "x", "y")], "a in (,x,y)"),
        ("a", [_req("a", "exists")], "a"),
        ("!a", [_req("a", "!")], "!a"),
        (" ! a ", [_req("a", "!")], "!a"),
        ("a>1", [_req("a", "gt", "1")], "a>1"),
        ("a < 10", [_req("a", "lt", "10")], "a<10"),
        ("in", [_req("in", "exists")], "in"),
        ("in in (in)", [_req("in", "in", "in")], "in in (in)"),
        ("notin notin (in)", [_req("notin", "notin", "in")], "notin notin (in)"),
        ("x=in", [_req("x", "=", "in")], "x=in"),
        (
            "  b = c ,a=b,\tex.com/k notin ( v ) ,!z,y  ",
            [
                _req("a", "=", "b"),
                _req("b", "=", "c"),
                _req("ex.com/k", "notin", "v"),
                _req("y", "exists"),
                _req("z", "!"),
            ],
            "a=b,b=c,ex.com/k notin (v),y,!z",
        ),
        ("a=b,a=b", [_req("a", "=", "b")], "a=b"),
        ("a!=b,a=c", [_req("a", "!=", "b"), _req("a", "=", "c")], "a!=b,a=c"),
    ],
)
def test_parse_label_selector(text: str, requirements: list[Requirement], canonical: str) -> None:
    selector = LabelSelector.parse(text)
    assert list(selector.requirements) == requirements
    assert str(selector) == canonical
    assert LabelSelector.parse(canonical) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",", r"found ',' at position 0, expected a label key or '!'"),
        ("a=b,", r"found end of string at position 4, expected a label key or '!'"),
        ("a=b,,c", r"found ',' at position 4"),
        ("a b", r"found 'b' at position 2, expected an operator"),
        ("a in", r"found end of string at position 4, expected '\('"),
        ("a in x", r"found 'x' at position 5, expected '\('"),
        ("a in (x", r"found end of string at position 7, expected ',' or '\)'"),
        ("a in (x y)", r"found 'y' at position 8, expected ',' or '\)'"),
        ("a in (=)", r"found '=' at position 6, expected a value, ',' or '\)'"),
        ("a in (x))", r"found '\)' at position 8, expected ',' or end of string"),
        ("a==b==c", r"found '==' at position 4"),
        ("a=(b)", r"found '\(' at position 2, expected a value"),
        ("a=b c", r"found 'c' at position 4, expected ',' or end of string"),
        ("!", r"found end of string at position 1, expected a label key"),
        ("!a=b", r"found '=' at position 2, expected ',' or end of string"),
        ("!=a", r"found '!=' at position 0, expected a label key or '!'"),
        ("a!b", r"found '!' at position 1, expected an operator"),
        ("(a)", r"found '\(' at position 0"),
        ("a>b", r"position 0: .*the value must be an integer"),
        ("a<", r"the value must be an integer"),
        ("a>1.5", r"the value must be an integer"),
        ("a>99999999999999999999", r"the value must be an integer"),
        ("a>-1", r"value '-1': a valid label must be an empty string"),
        ("a b=c", r"found 'b=c'|found 'b'"),
        ("-a=b", r"key '-a': name part must consist of"),
        ("a=b,c/d/e=f", r"at position 4: .*key 'c/d/e': a qualified name"),
        ("a=" + "v" * 64, r"must be no more than 63 characters"),
        ("a=b/c", r"value 'b/c'"),
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        LabelSelector.parse(text)


# --- label selector matching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("", {}, True),
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {}, True),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", {}, False),
        ("a in ()", {"a": ""}, True),
        ("a in ()", {}, False),
        ("a notin (x,y)", {"a": "z"}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a notin (x,y)", {}, True),
        ("a notin (x)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {}, True),
        ("!a", {"a": ""}, False),
        ("a>1", {"a": "2"}, True),
        ("a>1", {"a": "1"}, False),
        ("a>1", {"a": "10"}, True),
        ("a>1", {"a": "x"}, False),
        ("a>1", {}, False),
        ("a>1", {"a": "99999999999999999999"}, False),
        ("a<10", {"a": "9"}, True),
        ("a<10", {"a": "09"}, True),
        ("a<10", {"a": "010"}, False),
        ("a<10", {"a": "10"}, False),
        ("a<10", {"a": ""}, False),
        ("a=b,c!=d,!e", {"a": "b", "c": "x"}, True),
        ("a=b,c!=d,!e", {"a": "b", "c": "d"}, False),
        ("a=b,c!=d,!e", {"a": "b", "e": "1"}, False),
        ("a=b,a=c", {"a": "b"}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    selector = LabelSelector.parse(text)
    assert selector.matches(labels) is matches
    assert all(r.matches(labels) for r in selector.requirements) is matches


def test_everything() -> None:
    everything = LabelSelector.everything()
    assert everything.empty
    assert everything == LabelSelector.parse("") == LabelSelector()
    assert str(everything) == ""
    assert everything.matches({})
    assert everything.matches({"a": "b"})
    assert not LabelSelector.parse("a").empty


def test_label_selectors_are_canonical_hashable_values() -> None:
    a = LabelSelector.parse("b in (y,x),a=1")
    b = LabelSelector.parse("a==1, b in (x,y), a=1")
    assert a == b
    assert hash(a) == hash(b)
    assert {a: "cached"}[b] == "cached"
    assert a != LabelSelector.parse("a=1")
    assert repr(a) == "LabelSelector('a=1,b in (x,y)')"
    with pytest.raises(AttributeError):
        a.requirements = ()  # type: ignore[misc]


def test_requirement_construction_validates_and_normalises() -> None:
    requirement = Requirement("a", "==", ("x",))  # type: ignore[arg-type]
    assert requirement.operator is Operator.EQUALS
    assert Requirement("a", Operator.IN, ("y", "x", "y")).values == ("x", "y")
    assert hash(Requirement("a", Operator.IN, ("x", "y"))) == hash(
        Requirement("a", Operator.IN, ("y", "x"))
    )
    for key, operator, values, message in [
        ("a", Operator.IN, (), "values set can't be empty"),
        ("a", Operator.EQUALS, ("x", "y"), "requires one single value"),
        ("a", Operator.NOT_EQUALS, (), "requires one single value"),
        ("a", Operator.EXISTS, ("x",), "values set must be empty"),
        ("a", Operator.GREATER_THAN, ("1", "2"), "exactly one value is required"),
        ("a", "~", (), "'~' is not a valid selector operator"),
        ("a", Operator.IN, "xy", "must be a tuple"),
        ("a b", Operator.EXISTS, (), "key 'a b'"),
    ]:
        with pytest.raises(SelectorError, match=message):
            Requirement(key, operator, values)  # type: ignore[arg-type]


def test_from_labels() -> None:
    selector = LabelSelector.from_labels({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})
    assert LabelSelector.from_labels({}) == LabelSelector.everything()


# --- metav1.LabelSelector -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "canonical"),
    [
        ({}, ""),
        ({"matchLabels": {}, "matchExpressions": []}, ""),
        ({"matchLabels": None, "matchExpressions": None}, ""),
        ({"matchLabels": {"app": "web", "tier": ""}}, "app=web,tier="),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "zone", "operator": "NotIn", "values": ["a"]},
                    {"key": "owner", "operator": "Exists"},
                    {"key": "skip", "operator": "DoesNotExist", "values": []},
                ],
            },
            "app=web,env in (dev,prod),owner,!skip,zone notin (a)",
        ),
    ],
)
def test_from_dict(selector: dict[str, Any], canonical: str) -> None:
    parsed = LabelSelector.from_dict(selector)
    assert str(parsed) == canonical
    assert parsed == LabelSelector.parse(canonical)


def test_from_dict_matches() -> None:
    selector = LabelSelector.from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}],
        }
    )
    assert selector.matches({"app": "web"})
    assert selector.matches({"app": "web", "env": "prod"})
    assert not selector.matches({"app": "web", "env": "dev"})
    assert not selector.matches({"env": "prod"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (None, "must be an object"),
        ([], "must be an object"),
        ({"matchLabels": {"a": 1}}, "matchLabels must map strings to strings"),
        ({"matchLabels": ["a"]}, "matchLabels must map strings to strings"),
        ({"matchLabels": {"a b": "c"}}, "key 'a b'"),
        ({"matchLabels": {"a": "c d"}}, "value 'c d'"),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list"),
        ({"matchExpressions": ["a"]}, "entry must be an object"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "key must be a string"),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "'Gt' is not"),
        ({"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]}, "'in' is not"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "values set can't be empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
            "values must be a list of strings",
        ),
    ],
)
def test_from_dict_errors(selector: Any, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        LabelSelector.from_dict(selector)


# --- label selector round trips -------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True)
_prefixes = st.from_regex(
    r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?){0,2}", fullmatch=True
)
_label_keys = st.one_of(
    _names, st.sampled_from(["in", "notin"]), st.tuples(_prefixes, _names).map("/".join)
)
_label_values = st.one_of(st.just(""), st.sampled_from(["in", "notin"]), _names)


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    key = draw(_label_keys)
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values: tuple[str, ...] = ()
    elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        values = (str(draw(st.integers(0, 2**63 - 1))),)
    elif operator in (Operator.IN, Operator.NOT_IN):
        values = tuple(draw(st.lists(_label_values, min_size=1, max_size=4)))
    else:
        values = (draw(_label_values),)
    return Requirement(key, operator, values)


_label_selectors = st.lists(_requirements(), max_size=5).map(lambda r: LabelSelector(tuple(r)))
_label_sets = st.dictionaries(st.one_of(_label_keys, st.just("in")), _label_values, max_size=5)


@given(_label_selectors)
def test_label_selector_string_round_trips(selector: LabelSelector) -> None:
    text = str(selector)
    parsed = LabelSelector.parse(text)
    assert parsed == selector
    assert str(parsed) == text
    assert LabelSelector.parse(text.replace(",", " , ")) == selector


@given(st.lists(_requirements(), max_size=5), st.randoms(use_true_random=False))
def test_label_selector_is_independent_of_requirement_order(
    requirements: list[Requirement], random: Any
) -> None:
    shuffled = list(requirements)
    random.shuffle(shuffled)
    assert LabelSelector(tuple(requirements)) == LabelSelector(tuple(shuffled * 2))


@given(_label_selectors, _label_sets)
def test_label_selector_matches_as_conjunction(
    selector: LabelSelector, labels: dict[str, str]
) -> None:
    expected = all(_reference_match(r, labels) for r in selector.requirements)
    assert selector.matches(labels) is expected


def _reference_match(requirement: Requirement, labels: dict[str, str]) -> bool:
    """apimachinery's Requirement.Matches, written out plainly."""
    key, operator, values = requirement.key, requirement.operator, requirement.values
    if operator is Operator.EXISTS:
        return key in labels
    if operator is Operator.DOES_NOT_EXIST:
        return key not in labels
    if operator in (Operator.EQUALS, Operator.IN):
        return key in labels and labels[key] in values
    if operator in (Operator.NOT_EQUALS, Operator.NOT_IN):
        return key not in labels or labels[key] not in values
    if key not in labels or not labels[key].isdigit() or int(labels[key]) >= 2**63:
        return False  # Go's strconv.ParseInt(value, 10, 64) fails
    number, bound = int(labels[key]), int(values[0])
    return number > bound if operator is Operator.GREATER_THAN else number < bound


# --- field selectors ------------------------------------------------------------------------


def _freq(field: str, operator: str, value: str) -> FieldRequirement:
    return FieldRequirement(field, Operator(operator), value)


@pytest.mark.parametrize(
    ("text", "requirements", "canonical"),
    [
        ("", [], ""),
        (",,", [], ""),
        ("metadata.name=a", [_freq("metadata.name", "=", "a")], "metadata.name=a"),
        ("metadata.name==a", [_freq("metadata.name", "=", "a")], "metadata.name=a"),
        (
            "status.phase!=Running",
            [_freq("status.phase", "!=", "Running")],
            "status.phase!=Running",
        ),
        ("a=", [_freq("a", "=", "")], "a="),
        ("a!=", [_freq("a", "!=", "")], "a!="),
        ("a=x y", [_freq("a", "=", "x y")], "a=x y"),
        ("a=!x", [_freq("a", "=", "!x")], "a=!x"),
        ("a=\\,\\=\\\\", [_freq("a", "=", ",=\\")], "a=\\,\\=\\\\"),
        ("a=x\\,b\\=y", [_freq("a", "=", "x,b=y")], "a=x\\,b\\=y"),
        ("a==\\=", [_freq("a", "=", "=")], "a=\\="),
        (
            "spec.nodeName=n1,metadata.namespace!=kube-system,",
            [_freq("metadata.namespace", "!=", "kube-system"), _freq("spec.nodeName", "=", "n1")],
            "metadata.namespace!=kube-system,spec.nodeName=n1",
        ),
        ("a=1,a=1", [_freq("a", "=", "1")], "a=1"),
    ],
)
def test_parse_field_selector(
    text: str, requirements: list[FieldRequirement], canonical: str
) -> None:
    selector = FieldSelector.parse(text)
    assert list(selector.requirements) == requirements
    assert str(selector) == canonical
    assert FieldSelector.parse(canonical) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", r"can't understand 'a' at position 0"),
        ("a=b,c", r"can't understand 'c' at position 4"),
        ("a=b=c", r"unescaped '=' in field selector value 'b=c'"),
        ("a===b", r"unescaped '='"),
        ("a=x\\,b=y", r"unescaped '=' in field selector value 'x\\\\,b=y'"),
        ("a=\\x", r"invalid escape sequence '\\x'"),
        ("a=x\\", r"invalid escape sequence '\\' at the end"),
        ("a=b,=c", r"position 4: invalid field name ''"),
        ("a =b", r"invalid field name 'a '"),
        ("a\\,b=c", r"invalid field name 'a\\\\,b'"),
        ("a<b", r"can't understand 'a<b'"),
    ],
)
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        FieldSelector.parse(text)


@pytest.mark.parametrize(
    ("text", "fields", "matches"),
    [
        ("", {}, True),
        ("metadata.name=a", {"metadata.name": "a"}, True),
        ("metadata.name=a", {"metadata.name": "b"}, False),
        ("metadata.name=a", {}, False),
        ("metadata.name=", {}, True),
        ("metadata.name!=", {}, False),
        ("metadata.name!=a", {}, True),
        ("metadata.name!=a", {"metadata.name": "a"}, False),
        ("a=1,b!=2", {"a": "1", "b": "3"}, True),
        ("a=1,b!=2", {"a": "1", "b": "2"}, False),
        ("a=x\\,y", {"a": "x,y"}, True),
    ],
)
def test_field_selector_matches(text: str, fields: dict[str, str], matches: bool) -> None:
    selector = FieldSelector.parse(text)
    assert selector.matches(fields) is matches
    assert all(r.matches(fields) for r in selector.requirements) is matches


def test_field_selector_accessors() -> None:
    selector = FieldSelector.parse("metadata.name=a,status.phase!=Failed,metadata.name!=b")
    assert selector.fields() == {"metadata.name", "status.phase"}
    assert selector.exact_match("metadata.name") == "a"
    assert selector.exact_match("status.phase") is None
    assert selector.exact_match("metadata.namespace") is None
    assert not selector.empty
    assert FieldSelector.everything().empty
    assert FieldSelector.everything() == FieldSelector.parse("")
    assert FieldSelector.everything().fields() == frozenset()
    assert repr(FieldSelector.parse("a=b")) == "FieldSelector('a=b')"
    assert hash(FieldSelector.parse("a=1,b=2")) == hash(FieldSelector.parse("b=2,a==1"))


def test_field_requirement_validation() -> None:
    assert FieldRequirement("a", "==", "x").operator is Operator.EQUALS  # type: ignore[arg-type]
    with pytest.raises(SelectorError, match="only '=' and '!='"):
        FieldRequirement("a", Operator.IN, "x")
    with pytest.raises(SelectorError, match="invalid field name 'a!'"):
        FieldRequirement("a!", Operator.EQUALS, "x")


_field_names = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,15}", fullmatch=True)
_field_selectors = st.lists(
    st.builds(
        FieldRequirement,
        _field_names,
        st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
        st.text(max_size=8),
    ),
    max_size=5,
).map(lambda r: FieldSelector(tuple(r)))


@given(_field_selectors)
def test_field_selector_string_round_trips(selector: FieldSelector) -> None:
    text = str(selector)
    assert FieldSelector.parse(text) == selector
    assert str(FieldSelector.parse(text)) == text


@given(_field_selectors, st.dictionaries(_field_names, st.text(max_size=3), max_size=4))
def test_field_selector_matches_as_conjunction(
    selector: FieldSelector, fields: dict[str, str]
) -> None:
    expected = all(
        (fields.get(r.field, "") == r.value) is (r.operator is Operator.EQUALS)
        for r in selector.requirements
    )
    assert selector.matches(fields) is expected
