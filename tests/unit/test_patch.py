"""framework.patch: RFC 7386 merge patch diff/apply and RFC 6902 JSON patch apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.patch import (
    PatchError,
    PatchTestFailed,
    diff_contains_list,
    json_equal,
    json_patch_apply,
    merge_apply,
    merge_apply_shared,
    merge_diff,
)

# --- strategies -----------------------------------------------------------------------------

_keys = st.text(max_size=4)
_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)


def _json(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=20,
    )


json_values = _json(_scalars | st.none())
json_without_nulls = _json(_scalars)
objects_without_nulls = st.dictionaries(_keys, json_without_nulls, max_size=5)


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside `value` (by identity)."""
    found: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            found.append(node)
            stack.extend(node)
    return found


def _shares_nothing(result: Any, *inputs: Any) -> bool:
    ids = {id(c) for value in inputs for c in _containers(value)}
    return not any(id(c) in ids for c in _containers(result))


# --- json_equal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ([1, True], [1.0, True], True),
        ([True], [1], False),
        ({"a": 1, "b": [0]}, {"b": [0], "a": 1}, True),
        ({"a": False}, {"a": 0}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("1", 1, False),
        (None, None, True),
        (None, {}, False),
        ([], {}, False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


# --- RFC 7386 -------------------------------------------------------------------------------

# RFC 7386, Appendix A.
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_apply_rfc7386_appendix(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_apply(target, patch) == result
    assert (target, patch) == before


def test_merge_apply_rfc7386_section3_example() -> None:
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert merge_apply(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_merge_apply_keeps_the_targets_key_order() -> None:
    result = merge_apply({"a": 1, "b": 2, "c": 3}, {"b": 20, "d": 4, "a": None})
    assert list(result) == ["b", "c", "d"]


@pytest.mark.parametrize(
    ("base", "modified", "patch"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({}, {}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1}, {}, {"a": None}),
        ({}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {"a": {"c": 3}}),
        ({"a": {"b": 1}}, {"a": {}}, {"a": {"b": None}}),
        ({"a": {"b": 1}}, {"a": {"b": 1}}, {}),
        ({"a": [1, 2]}, {"a": [1, 2]}, {}),
        ({"a": [1, 2]}, {"a": [1, 3]}, {"a": [1, 3]}),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1}, {"y": 2}]}, {"a": [{"x": 1}, {"y": 2}]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 1.0}, {}),
        ({"a": 1}, {"a": True}, {"a": True}),
        ({"a": True}, {"a": 1}, {"a": 1}),
        # null counts as absent: nothing to send for a null that was absent, or vice versa.
        ({}, {"a": None}, {}),
        ({"a": None}, {}, {}),
        ({"a": 1}, {"a": None}, {"a": None}),
        ({"a": 1}, [1], [1]),
        ([1], [2], [2]),
        ("x", "y", "y"),
    ],
)
def test_merge_diff(base: Any, modified: Any, patch: Any) -> None:
    assert json_equal(merge_diff(base, modified), patch)


def test_merge_diff_leaves_untouched_provider_data_out() -> None:
    base: dict[str, Any] = {
        "phase": "Creating",
        "atProvider": {"outputs": {"endpoint": "10.0.0.1"}, "id": "ws-1"},
        "conditions": [{"type": "Ready", "status": "False"}],
    }
    modified = copy.deepcopy(base)
    modified["phase"] = "Running"
    assert merge_diff(base, modified) == {"phase": "Running"}
    modified["conditions"][0]["status"] = "True"
    patch = merge_diff(base, modified)
    assert patch == {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert diff_contains_list(patch)


@st.composite
def _edited(draw: st.DrawFn, value: Any) -> Any:
    """`value` with random members kept, dropped, edited (recursively) or added."""
    if isinstance(value, dict) and draw(st.booleans()):
        out = {}
        for key, member in value.items():
            choice = draw(st.sampled_from(["keep", "drop", "edit"]))
            if choice != "drop":
                out[key] = member if choice == "keep" else draw(_edited(member))
        out.update(draw(st.dictionaries(_keys, json_without_nulls, max_size=2)))
        return out
    return draw(json_without_nulls) if draw(st.booleans()) else value


base_and_edit = objects_without_nulls.flatmap(lambda base: st.tuples(st.just(base), _edited(base)))


@given(base_and_edit)
def test_merge_diff_round_trips_edits(pair: tuple[dict[str, Any], Any]) -> None:
    base, modified = pair
    _check_round_trip(base, modified)


@given(objects_without_nulls, objects_without_nulls)
def test_merge_diff_round_trips(base: dict[str, Any], modified: dict[str, Any]) -> None:
    _check_round_trip(base, modified)


def _check_round_trip(base: dict[str, Any], modified: Any) -> None:
    before = copy.deepcopy((base, modified))
    patch = merge_diff(base, modified)
    result = merge_apply(base, patch)
    assert json_equal(result, modified)
    assert json_equal((base, modified), before)
    assert _shares_nothing(patch, base, modified)
    assert _shares_nothing(result, base, patch)


@given(json_without_nulls, json_without_nulls)
def test_merge_diff_round_trips_any_json(base: Any, modified: Any) -> None:
    assert json_equal(merge_apply(base, merge_diff(base, modified)), modified)


@given(objects_without_nulls)
def test_merge_diff_of_equal_objects_is_empty(value: dict[str, Any]) -> None:
    assert merge_diff(value, copy.deepcopy(value)) == {}


@given(json_values, json_values)
def test_merge_apply_leaves_inputs_alone(target: Any, patch: Any) -> None:
    before = copy.deepcopy((target, patch))
    result = merge_apply(target, patch)
    assert json_equal((target, patch), before)
    assert _shares_nothing(result, target, patch)


def _shared_where_untouched(result: Any, target: Any, patch: Any) -> bool:
    """Whether every value of `result` the (object) `patch` does not merge into is the very
    value of `target`, and every other non-object value the very one of `patch`."""
    base = target if isinstance(target, dict) else {}
    for key, value in result.items():
        if key not in patch:
            if value is not base[key]:
                return False
        elif isinstance(patch[key], dict):
            if not _shared_where_untouched(value, base.get(key), patch[key]):
                return False
        elif value is not patch[key]:
            return False
    return True


@given(json_values, json_values)
def test_merge_apply_shared_equals_merge_apply_and_shares_the_untouched(
    target: Any, patch: Any
) -> None:
    before = copy.deepcopy((target, patch))
    result = merge_apply_shared(target, patch)
    assert repr(result) == repr(merge_apply(target, patch))  # key order included
    assert json_equal((target, patch), before)
    if isinstance(patch, dict):
        assert _shared_where_untouched(result, target, patch)
        assert result is not target
    else:
        assert result is patch


def test_merge_apply_shared_copies_only_the_patched_path() -> None:
    target = {"spec": {"a": [1]}, "status": {"conditions": [{"type": "Ready"}], "phase": "x"}}
    result = merge_apply_shared(target, {"status": {"phase": "y", "gone": None}})
    assert result["status"] == {"conditions": [{"type": "Ready"}], "phase": "y"}
    assert result["spec"] is target["spec"]
    assert result["status"]["conditions"] is target["status"]["conditions"]
    assert result["status"] is not target["status"]
    assert target["status"]["phase"] == "x"


@pytest.mark.parametrize(
    ("patch", "has_list"),
    [
        ({}, False),
        ({"a": 1, "b": {"c": None}}, False),
        ({"a": {"b": {"c": []}}}, True),
        ({"a": [1]}, True),
        ([], True),
        ("x", False),
        (None, False),
    ],
)
def test_diff_contains_list(patch: Any, has_list: bool) -> None:
    assert diff_contains_list(patch) is has_list


# --- RFC 6902 -------------------------------------------------------------------------------


def _op(op: str, path: str, **members: Any) -> dict[str, Any]:
    return {"op": op, "path": path, **members}


# RFC 6902, Appendix A (A.13, a duplicate "op" member, cannot be written as a Python dict).
RFC6902_EXAMPLES = [
    (  # A.1 adding an object member
        {"foo": "bar"},
        [_op("add", "/baz", value="qux")],
        {"baz": "qux", "foo": "bar"},
    ),
    (  # A.2 adding an array element
        {"foo": ["bar", "baz"]},
        [_op("add", "/foo/1", value="qux")],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (  # A.3 removing an object member
        {"baz": "qux", "foo": "bar"},
        [_op("remove", "/baz")],
        {"foo": "bar"},
    ),
    (  # A.4 removing an array element
        {"foo": ["bar", "qux", "baz"]},
        [_op("remove", "/foo/1")],
        {"foo": ["bar", "baz"]},
    ),
    (  # A.5 replacing a value
        {"baz": "qux", "foo": "bar"},
        [_op("replace", "/baz", value="boo")],
        {"baz": "boo", "foo": "bar"},
    ),
    (  # A.6 moving a value
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (  # A.7 moving an array element
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (  # A.8 testing a value: success
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [_op("test", "/baz", value="qux"), _op("test", "/foo/1", value=2)],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (  # A.10 adding a nested member object
        {"foo": "bar"},
        [_op("add", "/child", value={"grandchild": {}})],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (  # A.11 ignoring unrecognized elements
        {"foo": "bar"},
        [_op("add", "/baz", value="qux", xyz=123)],
        {"foo": "bar", "baz": "qux"},
    ),
    (  # A.14 ~ escape ordering
        {"/": 9, "~1": 10},
        [_op("test", "/~01", value=10)],
        {"/": 9, "~1": 10},
    ),
    (  # A.16 adding an array value
        {"foo": ["bar"]},
        [_op("add", "/foo/-", value=["abc", "def"])],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]


@pytest.mark.parametrize(("doc", "operations", "result"), RFC6902_EXAMPLES)
def test_json_patch_rfc6902_appendix(
    doc: Any, operations: list[dict[str, Any]], result: Any
) -> None:
    before = copy.deepcopy((doc, operations))
    assert json_patch_apply(doc, operations) == result
    assert (doc, operations) == before


@pytest.mark.parametrize(
    ("doc", "operations", "error", "message"),
    [
        # A.9 testing a value: error
        ({"baz": "qux"}, [_op("test", "/baz", value="bar")], PatchTestFailed, "'bar'"),
        # A.12 adding to a nonexistent target
        ({"foo": "bar"}, [_op("add", "/baz/bat", value="qux")], PatchError, "'baz' not found"),
        # A.15 comparing strings and numbers
        ({"/": 9, "~1": 10}, [_op("test", "/~01", value="10")], PatchTestFailed, "found 10"),
    ],
)
def test_json_patch_rfc6902_appendix_errors(
    doc: Any, operations: list[dict[str, Any]], error: type[PatchError], message: str
) -> None:
    with pytest.raises(error, match=message):
        json_patch_apply(doc, operations)


# RFC 6901, section 5: every pointer resolves to the listed value.
RFC6901_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", RFC6901_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_json_pointer_rfc6901_examples(pointer: str, value: Any) -> None:
    assert json_patch_apply(RFC6901_DOC, [_op("test", pointer, value=value)]) == RFC6901_DOC
    with pytest.raises(PatchTestFailed):
        json_patch_apply(RFC6901_DOC, [_op("test", pointer, value="not that")])


@pytest.mark.parametrize(
    ("doc", "operations", "result"),
    [
        ({"a": 1}, [_op("replace", "", value=[1])], [1]),
        ({"a": 1}, [_op("add", "", value="x")], "x"),
        ([1, 2], [_op("add", "/2", value=3)], [1, 2, 3]),
        ([1, 2], [_op("add", "/0", value=0)], [0, 1, 2]),
        ([1, 2], [_op("replace", "/1", value=None)], [1, None]),
        (
            {"a": {"b": 1}},
            [{"op": "copy", "from": "/a", "path": "/c"}],
            {"a": {"b": 1}, "c": {"b": 1}},
        ),
        ({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/a"}], {"a": 1}),
        ({"a": 1}, [{"op": "move", "from": "/a", "path": ""}], 1),
        ({"a": 1}, [_op("add", "/a", value=2)], {"a": 2}),
        ({"a": 1.0}, [_op("test", "/a", value=1)], {"a": 1.0}),
        (
            {"a": [1, {"b": True}]},
            [_op("test", "/a", value=[1.0, {"b": True}])],
            {"a": [1, {"b": True}]},
        ),
        # As Kubernetes' json-patch: an absent location tests equal to null.
        ({"metadata": {}}, [_op("test", "/metadata/finalizers", value=None)], {"metadata": {}}),
        (
            {"metadata": {"finalizers": ["a", "b"]}},
            [
                _op("test", "/metadata/finalizers", value=["a", "b"]),
                _op("remove", "/metadata/finalizers/0"),
            ],
            {"metadata": {"finalizers": ["b"]}},
        ),
    ],
)
def test_json_patch_apply(doc: Any, operations: list[dict[str, Any]], result: Any) -> None:
    assert json_equal(json_patch_apply(doc, operations), result)


@pytest.mark.parametrize(
    ("doc", "operations", "error", "message"),
    [
        ({}, [_op("frobnicate", "/a")], PatchError, "operation 0 .*unknown operation 'frobnicate'"),
        ({}, [{"path": "/a"}], PatchError, "unknown operation None"),
        ({}, [{"op": "add", "value": 1}], PatchError, "missing member 'path'"),
        ({}, [_op("add", "/a")], PatchError, "missing member 'value'"),
        ({}, [_op("test", "/a")], PatchError, "missing member 'value'"),
        ({"a": 1}, [_op("move", "/b")], PatchError, "missing member 'from'"),
        ({}, [_op("add", "a", value=1)], PatchError, "must be empty or start with '/'"),
        ({"a": 1}, [_op("remove", "/a~2")], PatchError, "'~' not followed by '0' or '1'"),
        ({}, [{"op": "add", "path": 5, "value": 1}], PatchError, "must be a string JSON pointer"),
        (
            {},
            [_op("remove", "/a")],
            PatchError,
            r"operation 0 \(remove '/a'\): member 'a' not found",
        ),
        ({}, [_op("replace", "/a", value=1)], PatchError, "member 'a' not found"),
        ({"a": 1}, [_op("remove", "")], PatchError, "cannot remove the whole document"),
        ({"a": [1]}, [_op("add", "/a/01", value=1)], PatchError, "invalid array index '01'"),
        ({"a": [1]}, [_op("add", "/a/x", value=1)], PatchError, "invalid array index 'x'"),
        ({"a": [1]}, [_op("add", "/a/-1", value=1)], PatchError, "invalid array index '-1'"),
        ({"a": [1]}, [_op("add", "/a/2", value=1)], PatchError, "index 2 out of range"),
        ({"a": [1]}, [_op("replace", "/a/1", value=1)], PatchError, "index 1 out of range"),
        ({"a": [1]}, [_op("replace", "/a/-", value=1)], PatchError, "invalid array index '-'"),
        ({"a": [1]}, [_op("remove", "/a/-")], PatchError, "invalid array index '-'"),
        ({"a": "s"}, [_op("add", "/a/b", value=1)], PatchError, "cannot add 'b' to a string"),
        ({"a": 1}, [_op("add", "/a/b/c", value=1)], PatchError, "cannot look up 'b' in a number"),
        (
            {"a": {"b": {}}},
            [{"op": "move", "from": "/a", "path": "/a/b/c"}],
            PatchError,
            "own children",
        ),
        ({}, [{"op": "copy", "from": "/x", "path": "/y"}], PatchError, "'x' not found"),
        ({"a": 1}, [_op("test", "/a", value=True)], PatchTestFailed, "found 1, expected True"),
        ({"a": True}, [_op("test", "/a", value=1)], PatchTestFailed, "found True, expected 1"),
        ({"a": [0]}, [_op("test", "/a", value=[False])], PatchTestFailed, "test failed"),
        ({}, [_op("test", "/a", value=1)], PatchTestFailed, r"test failed: member 'a' not found"),
        ({}, ["add"], PatchError, "operation 0: must be an object"),
        ({}, [_op("add", "/a", value=1), _op("remove", "/b")], PatchError, r"operation 1 \(remove"),
    ],
)
def test_json_patch_errors(
    doc: Any, operations: list[dict[str, Any]], error: type[PatchError], message: str
) -> None:
    before = copy.deepcopy(doc)
    with pytest.raises(error, match=message):
        json_patch_apply(doc, operations)
    assert doc == before


def test_json_patch_test_failure_is_a_patch_error_and_value_error() -> None:
    with pytest.raises(PatchError) as caught:
        json_patch_apply({"a": 1}, [_op("test", "/a", value=2)])
    assert isinstance(caught.value, PatchTestFailed)
    assert isinstance(caught.value, ValueError)


def test_json_patch_rejects_a_non_list_patch() -> None:
    with pytest.raises(PatchError, match="must be a list of operations"):
        json_patch_apply({}, {"op": "add"})  # type: ignore[arg-type]


def test_json_patch_is_atomic() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    operations = [
        _op("add", "/a/-", value=3),
        _op("remove", "/b/c"),
        _op("test", "/a", value=[1, 2, 3, 4]),
    ]
    with pytest.raises(PatchTestFailed, match=r"operation 2 \(test '/a'\)"):
        json_patch_apply(doc, operations)
    assert doc == {"a": [1, 2], "b": {"c": 1}}


def test_json_patch_result_shares_nothing_with_its_inputs() -> None:
    value = {"x": [1]}
    doc = {"a": {"b": [1]}}
    result = json_patch_apply(
        doc, [_op("add", "/v", value=value), {"op": "copy", "from": "/a", "path": "/c"}]
    )
    result["v"]["x"].append(2)
    result["c"]["b"].append(2)
    result["a"]["b"].append(3)
    assert value == {"x": [1]}
    assert doc == {"a": {"b": [1]}}
    assert result["c"] == {"b": [1, 2]}


_member_names = st.text(min_size=1, max_size=6)


@given(st.dictionaries(_keys, json_values, max_size=5), _member_names, json_values)
def test_json_patch_add_then_remove_restores(doc: dict[str, Any], name: str, value: Any) -> None:
    doc.pop(name, None)
    pointer = "/" + name.replace("~", "~0").replace("/", "~1")
    before = copy.deepcopy(doc)
    added = json_patch_apply(doc, [_op("add", pointer, value=value)])
    assert json_equal(added[name], value)
    assert json_patch_apply(added, [_op("test", pointer, value=value)]) == added
    assert json_patch_apply(added, [_op("remove", pointer)]) == before
    assert json_equal(doc, before)
    assert _shares_nothing(added, doc, value)
