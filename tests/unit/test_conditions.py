"""metav1.Condition semantics: validation, wire form, set/get/remove on both list shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from framework.clock import FakeClock
from framework.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Condition,
    condition_status,
    conditions_from_wire,
    conditions_to_wire,
    get_condition,
    is_false,
    is_true,
    is_valid_reason,
    merge_condition,
    parse_rfc3339,
    remove_condition,
    set_condition,
    set_condition_wire,
    to_rfc3339,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ready(status: str = "True", reason: str = "Ok", **extra: Any) -> Condition:
    return Condition(type=READY, status=status, reason=reason, **extra)


def test_kstatus_type_constants() -> None:
    assert (READY, RECONCILING, STALLED) == ("Ready", "Reconciling", "Stalled")


def test_constructible_by_python_or_wire_names() -> None:
    by_name = Condition(
        type="Ready", status="True", reason="Ok", observed_generation=3, last_transition_time=T0
    )
    by_alias = Condition.model_validate(
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    )
    assert by_name == by_alias
    assert by_alias.observed_generation == 3
    assert by_alias.last_transition_time == T0


def test_wire_form_is_camel_case_with_whole_second_utc_z_timestamp() -> None:
    moment = datetime(2026, 3, 4, 7, 8, 9, 987654, tzinfo=timezone(timedelta(hours=2)))
    condition = ready(message="all good", observed_generation=2, last_transition_time=moment)
    assert condition.to_wire() == {
        "type": "Ready",
        "status": "True",
        "reason": "Ok",
        "message": "all good",
        "observedGeneration": 2,
        "lastTransitionTime": "2026-03-04T05:08:09Z",
    }
    assert Condition.from_wire(condition.to_wire()) == condition


def test_wire_form_omits_unset_optional_fields_but_keeps_empty_message() -> None:
    assert ready().to_wire() == {"type": "Ready", "status": "True", "reason": "Ok", "message": ""}


@given(
    status=st.sampled_from(["True", "False", "Unknown"]),
    message=st.text(max_size=20),
    generation=st.none() | st.integers(min_value=0, max_value=2**40),
    stamped=st.booleans(),
)
def test_wire_form_is_the_aliased_json_dump(
    status: str, message: str, generation: int | None, stamped: bool
) -> None:
    condition = Condition(
        type="Ready",
        status=status,
        reason="Ok",
        message=message,
        observed_generation=generation,
        last_transition_time=T0 if stamped else None,
    )
    dumped = condition.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert list(condition.to_wire().items()) == list(dumped.items())  # order too


@pytest.mark.parametrize(
    "reason", ["A", "Ok", "ProvisionFailed", "Crash_Loop", "a:b,c_1", "X" * 1024]
)
def test_valid_reasons_are_accepted(reason: str) -> None:
    assert is_valid_reason(reason)
    assert ready(reason=reason).reason == reason


@pytest.mark.parametrize(
    "reason", ["", "1Start", "_x", "Ends,", "Ends:", "has space", "dash-ed", "X" * 1025]
)
def test_invalid_reasons_are_rejected(reason: str) -> None:
    assert not is_valid_reason(reason)
    with pytest.raises(ValidationError):
        ready(reason=reason)


@pytest.mark.parametrize("status", ["true", "Yes", "", "TRUE"])
def test_invalid_status_is_rejected(status: str) -> None:
    with pytest.raises(ValidationError):
        ready(status=status)


def test_naive_transition_time_and_negative_generation_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ready(last_transition_time=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        ready(observed_generation=-1)
    with pytest.raises(ValueError, match="naive"):
        to_rfc3339(datetime(2026, 1, 1))


def test_conditions_are_immutable() -> None:
    with pytest.raises(ValidationError):
        ready().status = "False"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01T02:00:00+02:00", T0),
        ("2026-01-01T00:00:00.5Z", T0 + timedelta(milliseconds=500)),
        ("2026-01-01t00:00:00z", T0),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


def test_parse_rfc3339_rejects_a_time_without_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_rfc3339("2026-01-01T00:00:00")


def test_new_type_is_appended_with_now_truncated_to_seconds() -> None:
    clock = FakeClock(wall_start=T0)
    clock.advance(1.75)
    conditions: list[Condition] = []
    assert set_condition(conditions, ready(), now=clock.wall())
    assert conditions == [ready(last_transition_time=T0 + timedelta(seconds=1))]


def test_new_type_keeps_a_given_transition_time() -> None:
    given_time = T0 - timedelta(days=1)
    conditions: list[Condition] = []
    set_condition(conditions, ready(last_transition_time=given_time), now=T0)
    assert conditions[0].last_transition_time == given_time


def test_default_now_is_the_real_wall_clock() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    conditions: list[Condition] = []
    set_condition(conditions, ready())
    stamp = conditions[0].last_transition_time
    assert stamp is not None
    assert before <= stamp <= datetime.now(UTC)


def test_same_status_keeps_transition_time_and_copies_other_fields() -> None:
    conditions = [ready(last_transition_time=T0)]
    later = T0 + timedelta(hours=1)
    changed = set_condition(
        conditions, ready(reason="StillOk", message="m", observed_generation=7), now=later
    )
    assert changed
    assert conditions == [
        ready(reason="StillOk", message="m", observed_generation=7, last_transition_time=T0)
    ]


def test_same_status_ignores_a_given_transition_time() -> None:
    conditions = [ready(last_transition_time=T0)]
    later = T0 + timedelta(hours=1)
    assert not set_condition(conditions, ready(last_transition_time=later), now=later)
    assert conditions[0].last_transition_time == T0


def test_status_change_moves_transition_time_to_now_or_the_given_time() -> None:
    conditions = [ready(last_transition_time=T0)]
    later = T0 + timedelta(minutes=5)
    assert set_condition(conditions, ready(status="False", reason="Broken"), now=later)
    assert conditions[0].last_transition_time == later
    given_time = T0 + timedelta(minutes=1)
    assert set_condition(conditions, ready(last_transition_time=given_time), now=later)
    assert conditions[0].last_transition_time == given_time


def test_identical_set_reports_no_change() -> None:
    conditions = [ready(message="m", observed_generation=1, last_transition_time=T0)]
    assert not set_condition(conditions, ready(message="m", observed_generation=1), now=T0)
    assert merge_condition(conditions[0], ready(message="m", observed_generation=1)) is None


def test_existing_entry_without_transition_time_gets_one() -> None:
    conditions = [ready()]
    assert set_condition(conditions, ready(), now=T0)
    assert conditions[0].last_transition_time == T0


def test_set_only_touches_the_condition_of_its_type() -> None:
    other = Condition(type="Synced", status="True", reason="Ok", last_transition_time=T0)
    conditions = [other, ready(last_transition_time=T0)]
    set_condition(conditions, ready(status="False", reason="Down"), now=T0 + timedelta(1))
    assert conditions[0] is other
    assert len(conditions) == 2


def test_wire_set_appends_replaces_in_place_and_leaves_others_alone() -> None:
    other = {"type": "Foreign", "status": "True", "reason": "X", "extra": "kept"}
    wire: list[dict[str, Any]] = [other]
    assert set_condition_wire(wire, ready(), now=T0)
    assert wire[0] is other
    assert wire[1] == ready(last_transition_time=T0).to_wire()
    later = T0 + timedelta(minutes=1)
    assert set_condition_wire(wire, ready(reason="Fine"), now=later)
    assert wire[1]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert wire[1]["reason"] == "Fine"
    assert not set_condition_wire(wire, ready(reason="Fine"), now=later)
    assert set_condition_wire(wire, ready(status="False", reason="Down"), now=later)
    assert wire[1]["lastTransitionTime"] == "2026-01-01T00:01:00Z"


def test_wire_set_replaces_a_malformed_entry_of_its_type() -> None:
    wire: list[dict[str, Any]] = [{"type": "Ready", "status": "True", "reason": ""}]
    assert set_condition_wire(wire, ready(), now=T0)
    assert wire == [ready(last_transition_time=T0).to_wire()]


def test_readers_accept_both_shapes() -> None:
    typed = [ready(last_transition_time=T0), Condition(type="Stalled", status="False", reason="N")]
    wire = conditions_to_wire(typed)
    for conditions in (typed, wire):
        assert get_condition(conditions, READY) == typed[0]
        assert get_condition(conditions, "Missing") is None
        assert is_true(conditions, READY)
        assert not is_false(conditions, READY)
        assert is_false(conditions, STALLED)
        assert not is_true(conditions, "Missing")
        assert not is_false(conditions, "Missing")
    assert conditions_from_wire(wire) == typed


def test_status_readers_do_not_validate_but_get_condition_does() -> None:
    wire = [{"type": "Ready", "status": "True", "reason": "bad reason"}]
    assert is_true(wire, READY)
    assert condition_status(wire, READY) == "True"
    with pytest.raises(ValidationError):
        get_condition(wire, READY)


def test_remove_condition_on_both_shapes() -> None:
    typed = [ready(), Condition(type="Other", status="True", reason="X")]
    assert remove_condition(typed, READY)
    assert not remove_condition(typed, READY)
    assert [c.type for c in typed] == ["Other"]
    wire: list[dict[str, Any]] = [{"type": "Ready"}, {"type": "Other"}]
    assert remove_condition(wire, "Other")
    assert wire == [{"type": "Ready"}]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["True", "False", "Unknown"]),
            st.sampled_from(["A", "B"]),
            st.integers(min_value=1, max_value=3600),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_transition_time_moves_exactly_when_status_changes(
    steps: list[tuple[str, str, int]],
) -> None:
    clock = FakeClock(wall_start=T0)
    typed: list[Condition] = []
    wire: list[dict[str, Any]] = []
    previous: Condition | None = None
    for status, reason, gap in steps:
        clock.advance(gap)
        new = ready(status=status, reason=reason)
        changed = set_condition(typed, new, now=clock.wall())
        assert set_condition_wire(wire, new, now=clock.wall()) == changed
        current = typed[0]
        assert (current.status, current.reason) == (status, reason)
        if previous is None or previous.status != status:
            assert current.last_transition_time == clock.wall()
        else:
            assert current.last_transition_time == previous.last_transition_time
        assert changed == (
            previous is None or (previous.status, previous.reason) != (status, reason)
        )
        assert wire == conditions_to_wire(typed)
        previous = current
