"""JSON merge patch (RFC 7386) diff and apply; JSON patch (RFC 6902) apply.

JSON values here are dict/list/str/int/float/bool/None. Every function is pure: inputs are never
mutated, and a returned document shares no dict or list with any input, so callers may mutate it;
except `merge_apply_shared`, whose result shares what the patch does not reach (for callers that
treat documents as immutable).
JSON equality is used throughout: `1 == 1.0`, but `True != 1` (unlike Python's `==`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "PatchError",
    "PatchTestFailed",
    "diff_contains_list",
    "json_equal",
    "json_patch_apply",
    "merge_apply",
    "merge_apply_shared",
    "merge_diff",
]


class PatchError(ValueError):
    """A JSON patch that cannot be applied: invalid operation, missing path, bad array index.

    The message names the operation's index and path.
    """


class PatchTestFailed(PatchError):
    """A JSON patch `test` operation found a different value (the API server answers 422)."""


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal as JSON: numbers by value, booleans only to booleans,
    objects regardless of key order."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(k in b and json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(b, dict | list):
        return False
    return bool(a == b)


# --- RFC 7386 -------------------------------------------------------------------------------


def merge_apply(target: Any, patch: Any) -> Any:
    """Apply the JSON merge patch `patch` to `target` (RFC 7386) and return the result.

    A non-object patch replaces the target whole (lists included). An object patch merges key
    by key into the target (a non-object target counts as `{}`): a null value deletes the key,
    any other value is merged recursively. Nulls nested in an object patch never reach the result.
    """
    if not isinstance(patch, dict):
        return _clone(patch)
    base: Mapping[str, Any] = target if isinstance(target, dict) else {}
    result: dict[str, Any] = {}
    for key, value in base.items():
        if key not in patch:
            result[key] = _clone(value)
        elif patch[key] is not None:
            result[key] = merge_apply(value, patch[key])
    for key, value in patch.items():
        if key not in base and value is not None:
            result[key] = merge_apply(None, value)
    return result


def merge_apply_shared(target: Any, patch: Any) -> Any:
    """`merge_apply(target, patch)` without copying what the patch does not reach.

    Equal to `merge_apply`'s result (key order included), and neither input is modified, but
    only the objects the patch merges into are new: every other value of the result is the
    very one of `target` or of `patch`. The result must therefore not be modified in place
    beyond those new objects (e.g. its top level when `patch` is an object).
    """
    if not isinstance(patch, dict):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_apply_shared(result.get(key), value)
        else:
            result[key] = value
    return result


def merge_diff(base: Any, modified: Any) -> Any:
    """The JSON merge patch that turns `base` into `modified`.

    For two objects: an object holding only what changed — removed keys as null, nested objects
    diffed recursively, any other changed value (lists included, compared and sent whole) as
    its new value; `{}` when they are equal. Otherwise `modified` itself. A key whose value is
    null counts as absent (a merge patch cannot write a null), so
    `merge_apply(base, merge_diff(base, modified)) == modified` holds for JSON without nulls.
    """
    if not (isinstance(base, dict) and isinstance(modified, dict)):
        return _clone(modified)
    patch: dict[str, Any] = {}
    for key, old in base.items():
        if old is not None and modified.get(key) is None:
            patch[key] = None
    for key, new in modified.items():
        if new is None:
            continue
        old = base.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            nested = merge_diff(old, new)
            if nested:
                patch[key] = nested
        elif old is None or not json_equal(old, new):
            patch[key] = _clone(new)
    return patch


def diff_contains_list(patch: Any) -> bool:
    """Whether a merge patch carries a list anywhere. A merge patch replaces lists whole, so a
    writer holding such a patch must guard it with an optimistic lock (resourceVersion)."""
    if isinstance(patch, list):
        return True
    if isinstance(patch, dict):
        return any(diff_contains_list(v) for v in patch.values())
    return False


# --- RFC 6902 -------------------------------------------------------------------------------

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a string" if isinstance(value, str) else "a number"


def _parse_pointer(pointer: Any, name: str) -> list[str]:
    """RFC 6901: "" is the whole document; otherwise "/"-separated tokens, ~1 = "/", ~0 = "~"."""
    if not isinstance(pointer, str):
        raise PatchError(f"{name!r} must be a string JSON pointer")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"{name!r} {pointer!r} must be empty or start with '/'")
    if _BAD_ESCAPE.search(pointer):
        raise PatchError(f"{name!r} {pointer!r} has a '~' not followed by '0' or '1'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _array_index(token: str, length: int, *, allow_end: bool) -> int:
    """The array index `token` names; with `allow_end`, "-" and `length` (append) are valid."""
    if allow_end and token == "-":
        return length
    if not _ARRAY_INDEX.fullmatch(token):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError(f"array index {index} out of range (array length {length})")
    return index


def _resolve(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"member {token!r} not found")
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), allow_end=False)]
        else:
            raise PatchError(f"cannot look up {token!r} in {_type_name(node)}")
    return node


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, token = _resolve(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(token, len(parent), allow_end=True), value)
    else:
        raise PatchError(f"cannot add {token!r} to {_type_name(parent)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    """Remove the value at `tokens` (which must exist) and return it."""
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent, token = _resolve(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"member {token!r} not found")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_array_index(token, len(parent), allow_end=False))
    raise PatchError(f"cannot remove {token!r} from {_type_name(parent)}")


def _replace(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, token = _resolve(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"member {token!r} not found")
        parent[token] = value
    elif isinstance(parent, list):
        parent[_array_index(token, len(parent), allow_end=False)] = value
    else:
        raise PatchError(f"cannot replace {token!r} in {_type_name(parent)}")
    return doc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _op_add(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    return _add(doc, path, _clone(_member(op, "value")))


def _op_remove(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    _remove(doc, path)
    return doc


def _op_replace(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    return _replace(doc, path, _clone(_member(op, "value")))


def _op_move(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    source = _parse_pointer(_member(op, "from"), "from")
    if source == path:
        _resolve(doc, source)
        return doc
    if path[: len(source)] == source:
        raise PatchError("cannot move a value into one of its own children")
    return _add(doc, path, _remove(doc, source))


def _op_copy(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    source = _parse_pointer(_member(op, "from"), "from")
    return _add(doc, path, _clone(_resolve(doc, source)))


def _op_test(doc: Any, path: list[str], op: Mapping[str, Any]) -> Any:
    expected = _member(op, "value")
    try:
        actual = _resolve(doc, path)
    except PatchError as missing:
        if expected is None:
            return doc
        raise PatchTestFailed(f"test failed: {missing}, expected {_short(expected)}") from None
    if not json_equal(actual, expected):
        raise PatchTestFailed(f"test failed: found {_short(actual)}, expected {_short(expected)}")
    return doc


_OPERATIONS: dict[str, Callable[[Any, list[str], Mapping[str, Any]], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


def _member(op: Mapping[str, Any], name: str) -> Any:
    if name not in op:
        raise PatchError(f"missing member {name!r}")
    return op[name]


def json_patch_apply(doc: Any, operations: list[dict[str, Any]]) -> Any:
    """Apply the JSON patch `operations` (RFC 6902) to `doc` and return the new document.

    Operations add, remove, replace, move, copy and test run in order with JSON pointers
    (RFC 6901: ~0/~1 escapes, "-" appends to an array). Atomic: on any failure the error is
    raised and no result exists; `doc` is never modified. Raises `PatchTestFailed` for a failed
    `test`, and `PatchError` for anything else invalid (the message names the operation's index,
    name and path). As Kubernetes' json-patch does, a `test` of an absent location succeeds
    against null and fails (`PatchTestFailed`) against anything else.
    """
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be a list of operations, not {_type_name(operations)}")
    result = _clone(doc)
    for index, op in enumerate(operations):
        if not isinstance(op, dict):
            raise PatchError(f"operation {index}: must be an object, not {_type_name(op)}")
        name, path = op.get("op"), op.get("path")
        try:
            apply = _OPERATIONS.get(name) if isinstance(name, str) else None
            if apply is None:
                raise PatchError(f"unknown operation {name!r}")
            result = apply(result, _parse_pointer(_member(op, "path"), "path"), op)
        except PatchError as error:
            raise type(error)(f"operation {index} ({name} {path!r}): {error}") from None
    return result
