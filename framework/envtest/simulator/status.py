"""The status merge patch a simulated stage sends: what its mutation changed, found cheaply.

`status_patch(before, after)` is the JSON merge patch of an object's `status` from `before` (a
copy taken before the mutation) to `after`: `{}` when nothing changed, else `{"status": ...}`
holding only the changed fields (removed ones as null, changed objects diffed by
`framework.patch.merge_diff`, lists whole), without empty objects (a merge patch of `{}`
changes nothing). Top-level fields equal as Python values are unchanged without a walk (a
stage that writes a few fields of a large status costs a few comparisons); `==` also holds
between `True` and `1`, which no simulated status swaps. The patch shares the values it
sends with `after` (it is meant to be sent at once, not kept).
"""

from __future__ import annotations

from typing import Any

import orjson

from framework.patch import merge_diff

JSON = dict[str, Any]


def copy_status(status: Any) -> Any:
    """A deep copy of a status in wire form (None stays None)."""
    return None if status is None else orjson.loads(orjson.dumps(status))


def status_patch(before: Any, after: Any) -> JSON:
    """The merge patch turning status `before` into `after` (see the module docstring)."""
    if not isinstance(after, dict):
        return {} if after is None and not before else {"status": after}
    old: JSON = before if isinstance(before, dict) else {}
    diff: JSON = {}
    for key, value in after.items():
        previous = old.get(key)
        if previous == value:
            continue
        if isinstance(previous, dict) and isinstance(value, dict):
            diff[key] = merge_diff(previous, value)
        else:
            diff[key] = value
    for key, previous in old.items():
        if previous is not None and key not in after:
            diff[key] = None
    diff = _without_empty(diff)
    return {"status": diff} if diff else {}


def _without_empty(patch: JSON) -> JSON:
    """`patch` without the objects that are, or become, empty."""
    pruned = {
        key: _without_empty(value) if isinstance(value, dict) else value
        for key, value in patch.items()
    }
    return {key: value for key, value in pruned.items() if value != {}}
