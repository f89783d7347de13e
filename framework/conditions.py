"""metav1.Condition semantics for typed code and for status dicts on the wire.

One approach, two list shapes. `Condition` is an immutable, validated value; its wire form
(`to_wire()`: camelCase keys, `lastTransitionTime` as RFC 3339 UTC with a `Z` and whole
seconds, as metav1.Time writes it) is what a status dict holds under `status.conditions`.
`set_condition` updates a `list[Condition]`; `set_condition_wire` applies the same rules to
a `list[dict]` in place, replacing only the entry of the condition's type, so the status
writer's merge diff sees exactly what changed. Readers (`get_condition`, `is_true`,
`is_false`, `remove_condition`) accept either shape.

Hot path: `condition_entry` validates a condition's fields and gives its wire entry, and
`set_condition_entry` sets such an entry, both without building models whenever the values
(and the existing entry of the type) are already in canonical wire form; the result is that
of `set_condition_wire` with the equivalent `Condition` (which is used otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from framework.clock import REAL_CLOCK

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_REASON_RE = re.compile(REASON_PATTERN)
_TYPE_RE = re.compile(TYPE_PATTERN)
_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_STATUSES = frozenset({"True", "False", "Unknown"})
_WIRE_KEYS = frozenset(
    {"type", "status", "reason", "message", "observedGeneration", "lastTransitionTime"}
)
TYPE_LIMIT, REASON_LIMIT, MESSAGE_LIMIT = 316, 1024, 32768

ConditionStatus = Literal["True", "False", "Unknown"]
_T = TypeVar("_T")


@lru_cache(maxsize=4096)
def is_valid_reason(reason: str) -> bool:
    """Whether `reason` is a metav1 condition reason (CamelCase, at most 1024 characters)."""
    return len(reason) <= REASON_LIMIT and _REASON_RE.fullmatch(reason) is not None


@lru_cache(maxsize=1024)
def _valid_type(type_: str) -> bool:
    return len(type_) <= TYPE_LIMIT and _TYPE_RE.fullmatch(type_) is not None


@lru_cache(maxsize=4096)
def _valid_time(stamp: str) -> bool:
    """Whether `stamp` is a timestamp exactly as `to_rfc3339` writes it."""
    if _TIME_RE.fullmatch(stamp) is None:
        return False
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True


def to_rfc3339(moment: datetime) -> str:
    """`moment` as metav1.Time writes it: UTC, whole seconds, `Z` suffix. Naive is rejected."""
    return _whole_seconds(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp (`Z` or an offset, optional fraction) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


class Condition(BaseModel):
    """One metav1.Condition. Construct with Python or wire names; equal values compare equal.

    `last_transition_time` is normalised to UTC whole seconds so that a value round-trips
    through the wire unchanged; None means "not yet set" (`set_condition` fills it in).
    """

    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore"
    )

    type: str = Field(pattern=TYPE_PATTERN, max_length=TYPE_LIMIT)
    status: ConditionStatus
    reason: str = Field(pattern=REASON_PATTERN, max_length=REASON_LIMIT)
    message: str = Field(default="", max_length=MESSAGE_LIMIT)
    observed_generation: int | None = Field(default=None, ge=0, alias="observedGeneration")
    last_transition_time: datetime | None = Field(default=None, alias="lastTransitionTime")

    @field_validator("last_transition_time")
    @classmethod
    def _whole_utc_seconds(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _whole_seconds(value)

    @field_serializer("last_transition_time")
    def _rfc3339(self, value: datetime | None) -> str | None:
        return None if value is None else to_rfc3339(value)

    def to_wire(self) -> dict[str, Any]:
        """The JSON form stored in `status.conditions` (unset optional fields omitted)."""
        if type(self) is not Condition:  # a subclass may add fields
            return self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return _metav1_entry(self)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Condition:
        """Validate one wire entry; raises pydantic.ValidationError if it is malformed."""
        return cls.model_validate(raw)


def merge_condition(
    existing: Condition | None, condition: Condition, now: datetime | None = None
) -> Condition | None:
    """The condition to store after setting `condition` over `existing`; None if unchanged.

    metav1 rules: a new type gets `condition.last_transition_time`, or `now`. For an existing
    type, lastTransitionTime moves (to the given time, or `now`) only when status changes;
    reason, message and observedGeneration are always copied. An existing entry without a
    lastTransitionTime gets one. `now` defaults to the real wall clock.
    """
    stamp = condition.last_transition_time or _whole_seconds(now or REAL_CLOCK.wall())
    if existing is None:
        return condition.model_copy(update={"last_transition_time": stamp})
    moved = existing.status != condition.status or existing.last_transition_time is None
    merged = condition.model_copy(
        update={"last_transition_time": stamp if moved else existing.last_transition_time}
    )
    return None if merged == existing else merged


def set_condition(
    conditions: list[Condition], condition: Condition, now: datetime | None = None
) -> bool:
    """Set `condition` in `conditions` (see `merge_condition`); return whether it changed."""
    index = _index(conditions, condition.type)
    merged = merge_condition(None if index is None else conditions[index], condition, now)
    if merged is None:
        return False
    _put(conditions, index, merged)
    return True


def set_condition_wire(
    conditions: list[dict[str, Any]], condition: Condition, now: datetime | None = None
) -> bool:
    """`set_condition` on wire dicts, in place; other entries are left untouched.

    An existing entry of the same type that is malformed is replaced as if it were absent.
    """
    return set_condition_entry(conditions, _metav1_entry(condition), now)


def _metav1_entry(condition: Condition) -> dict[str, Any]:
    """The wire entry of `condition`'s metav1.Condition fields (unset optional ones omitted)."""
    entry: dict[str, Any] = {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
    }
    if condition.observed_generation is not None:
        entry["observedGeneration"] = condition.observed_generation
    if condition.last_transition_time is not None:
        entry["lastTransitionTime"] = to_rfc3339(condition.last_transition_time)
    return entry


def valid_entry(raw: Mapping[str, Any]) -> bool:
    """Whether `Condition.from_wire(raw)` succeeds (checked without a model when `raw` is in
    canonical wire form)."""
    if _canonical(raw):
        return True
    return _lenient(raw) is not None


def condition_entry(
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """The wire entry (without lastTransitionTime) of the condition with these fields, for
    `set_condition_entry`; raises pydantic.ValidationError as `Condition(...)` does."""
    if not _valid_fields(type_, status, reason, message, observed_generation):
        condition = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            observed_generation=observed_generation,
        )
        return condition.to_wire()
    entry: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if observed_generation is not None:
        entry["observedGeneration"] = observed_generation
    return entry


def set_condition_entry(
    conditions: list[dict[str, Any]], entry: dict[str, Any], now: datetime | None = None
) -> bool:
    """`set_condition_wire` for a condition given as its wire entry (from `condition_entry` or
    `Condition.to_wire`; taken over, not copied). Returns whether `conditions` changed."""
    index = _index(conditions, entry["type"])
    existing = None if index is None else conditions[index]
    given = entry.get("lastTransitionTime")
    if given is None and now is not None and now.tzinfo is None:
        _whole_seconds(now)  # raises, as merge_condition does
    if existing is not None and not _canonical(existing):
        merged = merge_condition(_lenient(existing), Condition.from_wire(entry), now)
        if merged is None:
            return False
        entry = merged.to_wire()
    elif existing is None or existing["status"] != entry["status"]:
        entry["lastTransitionTime"] = given or to_rfc3339(now or REAL_CLOCK.wall())
    else:
        entry["lastTransitionTime"] = existing["lastTransitionTime"]
        if entry == existing:
            return False
    _put(conditions, index, entry)
    return True


def get_condition(
    conditions: Iterable[Condition | Mapping[str, Any]], type_: str
) -> Condition | None:
    """The condition of `type_`, or None. A wire entry is validated (ValidationError if bad)."""
    for item in conditions:
        if _type_of(item) == type_:
            return item if isinstance(item, Condition) else Condition.from_wire(item)
    return None


def condition_status(conditions: Iterable[Condition | Mapping[str, Any]], type_: str) -> str | None:
    """The status string of `type_`, or None; reads wire entries without validating them."""
    for item in conditions:
        if _type_of(item) == type_:
            return item.status if isinstance(item, Condition) else item.get("status")
    return None


def is_true(conditions: Iterable[Condition | Mapping[str, Any]], type_: str) -> bool:
    """Whether the condition of `type_` exists with status True."""
    return condition_status(conditions, type_) == "True"


def is_false(conditions: Iterable[Condition | Mapping[str, Any]], type_: str) -> bool:
    """Whether the condition of `type_` exists with status False."""
    return condition_status(conditions, type_) == "False"


def remove_condition(conditions: list[Condition] | list[dict[str, Any]], type_: str) -> bool:
    """Remove the condition of `type_` in place; return whether one was removed."""
    index = _index(conditions, type_)
    if index is None:
        return False
    del conditions[index]
    return True


def conditions_from_wire(raw: Iterable[Mapping[str, Any]]) -> list[Condition]:
    """Validate a wire list (`status.conditions`) into Conditions."""
    return [Condition.from_wire(item) for item in raw]


def conditions_to_wire(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """The wire list for `conditions`."""
    return [condition.to_wire() for condition in conditions]


def _put(conditions: list[_T], index: int | None, value: _T) -> None:
    if index is None:
        conditions.append(value)
    else:
        conditions[index] = value


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined instant; pass an aware one")
    return moment.astimezone(UTC).replace(microsecond=0)


def _type_of(item: Condition | Mapping[str, Any]) -> Any:
    return item.type if isinstance(item, Condition) else item.get("type")


def _index(conditions: Iterable[Condition | Mapping[str, Any]], type_: str) -> int | None:
    return next((i for i, item in enumerate(conditions) if _type_of(item) == type_), None)


def _valid_fields(
    type_: object, status: object, reason: object, message: object, generation: object
) -> bool:
    """Whether these values pass `Condition`'s validation unchanged (no coercion)."""
    return (
        type(type_) is str
        and _valid_type(type_)
        and type(status) is str
        and status in _STATUSES
        and type(reason) is str
        and is_valid_reason(reason)
        and type(message) is str
        and len(message) <= MESSAGE_LIMIT
        and (generation is None or (type(generation) is int and generation >= 0))
    )


def _canonical(raw: Mapping[str, Any]) -> bool:
    """Whether `raw` is exactly the wire form (`to_wire()`) of a valid condition that has a
    lastTransitionTime: comparing such entries is comparing their conditions."""
    stamp = raw.get("lastTransitionTime")
    generation = raw.get("observedGeneration", 0)
    return (
        _WIRE_KEYS.issuperset(raw)
        and "message" in raw
        and generation is not None
        and type(stamp) is str
        and _valid_time(stamp)
        and _valid_fields(
            raw.get("type"),
            raw.get("status"),
            raw.get("reason"),
            raw.get("message"),
            generation,
        )
    )


def _lenient(raw: Mapping[str, Any]) -> Condition | None:
    try:
        return Condition.from_wire(raw)
    except ValueError:
        return None
