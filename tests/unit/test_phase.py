"""PhaseMachine declaration, transitions, timeouts, restarts, rule tables and rendering."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from framework.clock import FakeClock
from framework.conditions import STALLED, Condition, set_condition_wire, to_rfc3339
from framework.phase import (
    IllegalTransition,
    InvalidMachine,
    ObjectDeadline,
    PhaseHeld,
    PhaseMachine,
    PhaseRule,
    PhaseTimeout,
    Predicate,
    RuleTable,
    UnknownPhase,
    all_of,
    any_of,
    cond,
    timeout_condition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

NVJ_PHASES = [
    "Initializing",
    "Building",
    "BuildComplete",
    "ValidationRunning",
    "Succeeded",
    "Failed",
]


def nvj_machine(**overrides: Any) -> PhaseMachine:
    """NotebookValidationJob: a linear pipeline, every step may fail, Failed may restart."""
    declaration: dict[str, Any] = {
        "phases": NVJ_PHASES,
        "initial": "Initializing",
        "transitions": {
            "Initializing": ["Building", "Failed"],
            "Building": ["BuildComplete", "Failed"],
            "BuildComplete": ["ValidationRunning", "Failed"],
            "ValidationRunning": ["Succeeded", "Failed"],
            "Failed": ["Initializing"],
        },
        "timeouts": [
            PhaseTimeout("Building", 600),
            PhaseTimeout(
                "ValidationRunning",
                lambda obj: obj["spec"].get("timeoutSeconds"),
                reason="ValidationTimedOut",
            ),
        ],
        "deadline": ObjectDeadline(3600),
        "legacy": {"Pending": "Initializing", "Running": "ValidationRunning"},
    }
    return PhaseMachine(**{**declaration, **overrides})


WORKSPACE_TABLE = RuleTable(
    rules=(
        PhaseRule("Terminating", deletion=True),
        PhaseRule(
            "Failed",
            when=any_of(
                cond("ResourceReady", "False", reason="ProvisionFailed"),
                cond("InferenceReady", "False", reason=["CrashLoop", "ErrImagePull"]),
            ),
        ),
        PhaseRule("Succeeded", when=cond("WorkspaceSucceeded")),
        PhaseRule(
            "Running",
            when=all_of(cond("ResourceReady"), any_of(cond("InferenceReady"), cond("JobStarted"))),
        ),
        PhaseRule("Creating", when=cond("ResourceReady")),
    ),
    default="Pending",
)

WORKSPACE_PHASES = ["Pending", "Creating", "Running", "Succeeded", "Failed", "Terminating"]


def workspace_machine() -> PhaseMachine:
    live = ["Failed", "Terminating"]
    return PhaseMachine(
        phases=WORKSPACE_PHASES,
        initial="Pending",
        transitions={
            "Pending": ["Creating", "Running", *live],
            "Creating": ["Pending", "Running", "Succeeded", *live],
            "Running": ["Pending", "Creating", "Succeeded", *live],
            "Succeeded": ["Terminating"],
            "Failed": ["Pending", "Terminating"],
        },
        rules=WORKSPACE_TABLE,
    )


def workspace(*conditions: tuple[str, str, str], deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "ws", "generation": 1}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    wire = [{"type": t, "status": s, "reason": r} for t, s, r in conditions]
    return {"metadata": metadata, "status": {"conditions": wire}}


def in_phase(
    phase: str, entered: datetime, started: datetime | None = None, **spec: Any
) -> dict[str, Any]:
    status = {"phase": phase, "phaseTransitionTime": to_rfc3339(entered)}
    if started is not None:
        status["startTime"] = to_rfc3339(started)
    return {"metadata": {"generation": 1}, "spec": spec, "status": status}


# Declaration ------------------------------------------------------------------------------


def test_machine_exposes_its_declaration() -> None:
    machine = nvj_machine()
    assert machine.phases == tuple(NVJ_PHASES)
    assert machine.initial == "Initializing"
    assert machine.terminal == frozenset({"Succeeded"})
    assert ("Building", "Failed") in machine.edges
    assert ("Building", "Succeeded") not in machine.edges
    assert machine.allowed("Building") == frozenset({"BuildComplete", "Failed"})
    assert machine.is_terminal("Succeeded")
    assert not machine.is_terminal("Failed")
    assert machine.timeouts["Building"].reason == "BuildingTimeout"
    assert machine.timeouts["ValidationRunning"].reason == "ValidationTimedOut"


def test_machine_is_immutable() -> None:
    machine = nvj_machine()
    with pytest.raises(AttributeError):
        machine.initial = "Building"  # type: ignore[misc]
    with pytest.raises(TypeError):
        machine.transitions["Succeeded"] = frozenset({"Failed"})  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"initial": "Nope"}, "initial phase 'Nope' is unknown"),
        ({"transitions": {"Initializing": ["Bulding"]}}, "unknown phase 'Bulding'"),
        ({"transitions": {"Ghost": ["Failed"]}}, "edge from unknown phase 'Ghost'"),
        ({"phases": [*NVJ_PHASES, "Orphan"]}, "unreachable from 'Initializing': ['Orphan']"),
        ({"phases": [*NVJ_PHASES, "Failed"]}, "duplicate phases"),
        ({"phases": [*NVJ_PHASES, "Not-Camel"]}, "'Not-Camel' is not alphanumeric"),
        ({"phases": []}, "no phases"),
        ({"timeouts": [PhaseTimeout("Bilding", 5)]}, "timeout 'Bilding' -> 'Failed' names"),
        ({"timeouts": [PhaseTimeout("Succeeded", 5)]}, "needs the edge to 'Failed'"),
        ({"timeouts": [PhaseTimeout("Building", 5)] * 2}, "two timeouts for 'Building'"),
        ({"legacy": {"Building": "Failed"}}, "legacy name 'Building' is a current phase"),
        ({"legacy": {"Old": "Gone"}}, "maps to unknown phase 'Gone'"),
        ({"deadline": ObjectDeadline(5, failure_phase="Doom")}, "deadline failure phase 'Doom'"),
        (
            {
                "deadline": ObjectDeadline(5, failure_phase="Initializing"),
                "transitions": {"Initializing": ["Building"], "Building": ["Failed"]},
                "phases": ["Initializing", "Building", "Failed"],
                "timeouts": [],
                "legacy": {},
            },
            "no phase has an edge to deadline phase 'Initializing'",
        ),
        (
            {"rules": RuleTable((PhaseRule("Exploded"),), default="Initializing")},
            "rule table produces unknown phases ['Exploded']",
        ),
    ],
)
def test_invalid_declarations_are_rejected_with_a_clear_error(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidMachine, match=re.escape(message)):
        nvj_machine(**overrides)


def test_self_loops_are_rejected() -> None:
    with pytest.raises(InvalidMachine, match="self-loop on 'A'"):
        PhaseMachine(phases=["A", "B"], initial="A", transitions={"A": ["A", "B"]})


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(InvalidMachine) as raised:
        nvj_machine(initial="Nope", legacy={"Old": "Gone"})
    assert "'Nope'" in str(raised.value)
    assert "'Gone'" in str(raised.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PhaseTimeout("Building", 0), "seconds must be a finite number > 0"),
        (lambda: PhaseTimeout("Building", float("inf")), "seconds must be a finite number"),
        (lambda: PhaseTimeout("Building", 5, reason="not camel"), "not a CamelCase"),
        (lambda: ObjectDeadline(-1), "seconds must be a finite number > 0"),
        (lambda: ObjectDeadline(5, reason="bad reason"), "not a CamelCase"),
    ],
)
def test_invalid_limits_are_rejected(make: Any, message: str) -> None:
    with pytest.raises(InvalidMachine, match=message):
        make()


# Transitions and legacy names ------------------------------------------------------------


def test_illegal_transition_names_from_to_and_allowed_targets() -> None:
    with pytest.raises(IllegalTransition) as raised:
        nvj_machine().check("Building", "Succeeded")
    error = raised.value
    assert (error.from_phase, error.to_phase) == ("Building", "Succeeded")
    assert error.allowed == frozenset({"BuildComplete", "Failed"})
    assert str(error) == (
        "illegal phase transition 'Building' -> 'Succeeded'; allowed: BuildComplete, Failed"
    )


def test_terminal_phase_allows_nothing_but_staying() -> None:
    machine = nvj_machine()
    machine.check("Succeeded", "Succeeded")
    with pytest.raises(IllegalTransition, match="none \\(terminal phase\\)"):
        machine.check("Succeeded", "Failed")


def test_no_phase_may_only_become_the_initial_phase() -> None:
    machine = nvj_machine()
    machine.check(None, "Initializing")
    with pytest.raises(IllegalTransition):
        machine.check(None, "Building")


def test_unknown_phases_raise_unknown_phase() -> None:
    machine = nvj_machine()
    for call in (
        lambda: machine.check("Building", "Nope"),
        lambda: machine.check("Nope", "Building"),
        lambda: machine.allowed("Pending"),
        lambda: machine.resolve("Nope"),
        lambda: machine.timeout_for("Nope", {}),
    ):
        with pytest.raises(UnknownPhase):
            call()


def test_legacy_names_resolve_to_current_phases() -> None:
    machine = nvj_machine()
    assert machine.resolve("Pending") == ("Initializing", True)
    assert machine.resolve("Running") == ("ValidationRunning", True)
    assert machine.resolve("Building") == ("Building", False)


# Timeouts ---------------------------------------------------------------------------------


def test_timeout_for_fixed_and_computed_limits() -> None:
    machine = nvj_machine()
    assert machine.timeout_for("Building", {}) == 600
    assert machine.timeout_for("ValidationRunning", {"spec": {"timeoutSeconds": 90}}) == 90
    assert machine.timeout_for("ValidationRunning", {"spec": {}}) is None
    assert machine.timeout_for("Initializing", {}) is None


def test_phase_timeout_requeues_for_the_time_left_then_expires_at_the_boundary() -> None:
    machine = nvj_machine()
    clock = FakeClock(wall_start=T0)
    obj = in_phase("Building", entered=T0, started=T0)
    clock.advance(599.5)
    verdict = machine.check_timeouts(obj, clock.wall())
    assert verdict.expired is None
    assert verdict.requeue_after == pytest.approx(0.5)
    clock.advance(0.5)
    verdict = machine.check_timeouts(obj, clock.wall())
    assert verdict.expired == machine.timeouts["Building"]
    assert verdict.requeue_after is None


def test_deadline_runs_from_start_time_and_wins_when_earlier() -> None:
    machine = nvj_machine()
    started = T0
    entered = T0 + timedelta(seconds=3300)
    obj = in_phase("Building", entered=entered, started=started)
    verdict = machine.check_timeouts(obj, entered)
    assert verdict.requeue_after == pytest.approx(300)
    verdict = machine.check_timeouts(obj, T0 + timedelta(seconds=3600))
    assert verdict.expired == machine.deadline


def test_computed_timeout_reads_the_object() -> None:
    machine = nvj_machine(deadline=None)
    obj = in_phase("ValidationRunning", entered=T0, timeoutSeconds=30)
    assert machine.check_timeouts(obj, T0 + timedelta(seconds=10)).requeue_after == 20
    expired = machine.check_timeouts(obj, T0 + timedelta(seconds=30)).expired
    assert expired is not None
    assert expired.reason == "ValidationTimedOut"
    no_limit = in_phase("ValidationRunning", entered=T0)
    assert machine.check_timeouts(no_limit, T0 + timedelta(days=9)).requeue_after is None


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"phase": "Succeeded", "phaseTransitionTime": "2020-01-01T00:00:00Z"},
        {"phase": "Building"},
        {"phase": "Building", "phaseTransitionTime": "yesterday"},
        {"phase": "Failed", "phaseTransitionTime": "2020-01-01T00:00:00Z", "startTime": "x"},
    ],
)
def test_no_verdict_without_a_phase_limit_or_measurable_start(status: dict[str, Any]) -> None:
    verdict = nvj_machine().check_timeouts({"status": status}, T0)
    assert verdict.expired is None
    assert verdict.requeue_after is None


def test_legacy_phase_is_resolved_for_timeouts() -> None:
    obj = in_phase("Running", entered=T0, timeoutSeconds=30)
    expired = nvj_machine().check_timeouts(obj, T0 + timedelta(seconds=31)).expired
    assert expired is not None
    assert expired.reason == "ValidationTimedOut"


def test_timeouts_of_an_unknown_phase_raise() -> None:
    with pytest.raises(UnknownPhase):
        nvj_machine().check_timeouts(in_phase("Mystery", entered=T0), T0)


# Timeout failures stay until the generation changes ----------------------------------------


def failed_by(
    reason: str, failed_at: int, generation: int, phase: str = "Failed"
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": STALLED,
                    "status": "True",
                    "reason": reason,
                    "observedGeneration": failed_at,
                }
            ],
        },
    }


def test_timeout_failure_restarts_only_after_the_generation_changes() -> None:
    machine = nvj_machine()
    assert machine.restart_after_timeout(failed_by("BuildingTimeout", 3, 3)) is None
    assert machine.restart_after_timeout(failed_by("BuildingTimeout", 3, 4)) == "Initializing"
    assert machine.restart_after_timeout(failed_by("DeadlineExceeded", 3, 4)) == "Initializing"


@pytest.mark.parametrize(
    "obj",
    [
        failed_by("BuildFailed", 3, 4),
        failed_by("BuildingTimeout", 3, 4, phase="Succeeded"),
        failed_by("BuildingTimeout", 3, 4, phase="Mystery"),
        {"metadata": {"generation": 4}, "status": {"phase": "Failed"}},
        {
            "metadata": {"generation": 4},
            "status": {
                "phase": "Failed",
                "conditions": [
                    {
                        "type": STALLED,
                        "status": "False",
                        "reason": "BuildingTimeout",
                        "observedGeneration": 3,
                    }
                ],
            },
        },
        {
            "status": {
                "phase": "Failed",
                "conditions": [
                    {
                        "type": STALLED,
                        "status": "True",
                        "reason": "BuildingTimeout",
                        "observedGeneration": 3,
                    }
                ],
            }
        },
    ],
)
def test_other_failures_stay(obj: dict[str, Any]) -> None:
    assert nvj_machine().restart_after_timeout(obj) is None


def test_no_restart_without_the_edge_back_to_initial() -> None:
    transitions = {**nvj_machine().transitions, "Failed": []}
    machine = nvj_machine(transitions=transitions)
    assert machine.restart_after_timeout(failed_by("BuildingTimeout", 3, 4)) is None


def test_timeout_condition_round_trips_into_restart() -> None:
    machine = nvj_machine()
    limit = machine.timeouts["Building"]
    condition = timeout_condition(limit, generation=5, message="build took too long")
    assert condition == Condition(
        type="Stalled",
        status="True",
        reason="BuildingTimeout",
        message="build took too long",
        observed_generation=5,
    )
    obj: dict[str, Any] = {
        "metadata": {"generation": 5},
        "status": {"phase": "Failed", "conditions": []},
    }
    set_condition_wire(obj["status"]["conditions"], condition, now=T0)
    assert machine.restart_after_timeout(obj) is None
    obj["metadata"]["generation"] = 6
    assert machine.restart_after_timeout(obj) == "Initializing"


# Rule tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "phase"),
    [
        (workspace(), "Pending"),
        (workspace(("ResourceReady", "False", "Provisioning")), "Pending"),
        (workspace(("ResourceReady", "True", "Ok")), "Creating"),
        (workspace(("ResourceReady", "True", "Ok"), ("InferenceReady", "True", "Ok")), "Running"),
        (workspace(("ResourceReady", "True", "Ok"), ("JobStarted", "True", "Ok")), "Running"),
        (workspace(("InferenceReady", "True", "Ok")), "Pending"),
        (
            workspace(("ResourceReady", "True", "Ok"), ("InferenceReady", "False", "Loading")),
            "Creating",
        ),
        (workspace(("ResourceReady", "False", "ProvisionFailed")), "Failed"),
        (workspace(("InferenceReady", "False", "CrashLoop")), "Failed"),
        (workspace(("InferenceReady", "False", "ErrImagePull")), "Failed"),
        (workspace(("InferenceReady", "Unknown", "CrashLoop")), "Pending"),
        (workspace(("WorkspaceSucceeded", "True", "Done")), "Succeeded"),
        (
            workspace(
                ("WorkspaceSucceeded", "True", "Done"), ("InferenceReady", "False", "CrashLoop")
            ),
            "Failed",
        ),
        (workspace(("ResourceReady", "False", "ProvisionFailed"), deleting=True), "Terminating"),
        (workspace(deleting=True), "Terminating"),
    ],
)
def test_workspace_table_first_match_wins(obj: dict[str, Any], phase: str) -> None:
    chosen, rule = WORKSPACE_TABLE.evaluate(obj, T0)
    assert chosen == phase
    assert (rule is None) == (phase == "Pending")
    if rule is not None:
        assert rule.phase == phase


def test_losing_the_nodeclaim_walks_running_back_through_pending_and_creating() -> None:
    machine = workspace_machine()
    steps = [
        workspace(("ResourceReady", "True", "Ok"), ("InferenceReady", "True", "Ok")),
        workspace(("ResourceReady", "False", "NodeClaimLost"), ("InferenceReady", "False", "Gone")),
        workspace(("ResourceReady", "True", "Ok"), ("InferenceReady", "False", "Starting")),
        workspace(("ResourceReady", "True", "Ok"), ("InferenceReady", "True", "Ok")),
    ]
    phases = [WORKSPACE_TABLE.evaluate(obj, T0)[0] for obj in steps]
    assert phases == ["Running", "Pending", "Creating", "Running"]
    for source, target in itertools.pairwise(phases):
        machine.check(source, target)


def test_lenient_on_malformed_status() -> None:
    for obj in (
        {},
        {"status": None},
        {"status": {"conditions": "nope"}},
        {"status": {"conditions": ["x", {"type": "ResourceReady"}]}},
        {"metadata": None},
    ):
        assert WORKSPACE_TABLE.evaluate(obj, T0) == ("Pending", None)


def test_deletion_false_requires_no_deletion_timestamp() -> None:
    table = RuleTable((PhaseRule("Creating", deletion=False),), default="Terminating")
    assert table.evaluate(workspace(), T0)[0] == "Creating"
    assert table.evaluate(workspace(deleting=True), T0)[0] == "Terminating"


def test_phase_held_and_predicate_matchers() -> None:
    table = RuleTable(
        (
            PhaseRule("Failed", when=all_of(cond("ResourceReady", "False"), PhaseHeld(300))),
            PhaseRule("Running", when=Predicate(lambda obj, now: "go" in obj, "has a go key")),
        ),
        default="Pending",
    )
    obj = in_phase("Pending", entered=T0)
    obj["status"]["conditions"] = [{"type": "ResourceReady", "status": "False", "reason": "X"}]
    assert table.evaluate(obj, T0 + timedelta(seconds=299))[0] == "Pending"
    assert table.evaluate(obj, T0 + timedelta(seconds=300))[0] == "Failed"
    assert table.evaluate({"go": 1}, T0)[0] == "Running"
    assert table.describe() == [
        {"phase": "Failed", "when": "ResourceReady=False and phase held for 300s"},
        {"phase": "Running", "when": "has a go key"},
        {"phase": "Pending", "when": "otherwise"},
    ]


def test_workspace_table_renders_for_docs() -> None:
    assert WORKSPACE_TABLE.describe() == [
        {"phase": "Terminating", "when": "deletionTimestamp set"},
        {
            "phase": "Failed",
            "when": "ResourceReady=False (reason ProvisionFailed)"
            " or InferenceReady=False (reason CrashLoop or ErrImagePull)",
        },
        {"phase": "Succeeded", "when": "WorkspaceSucceeded=True"},
        {
            "phase": "Running",
            "when": "ResourceReady=True and (InferenceReady=True or JobStarted=True)",
        },
        {"phase": "Creating", "when": "ResourceReady=True"},
        {"phase": "Pending", "when": "otherwise"},
    ]
    assert WORKSPACE_TABLE.phases == frozenset(WORKSPACE_PHASES)
    assert PhaseRule("Pending").describe() == "always"


def test_cond_rejects_an_invalid_status() -> None:
    with pytest.raises(InvalidMachine, match="True, False or Unknown"):
        cond("Ready", "true")


# Rendering --------------------------------------------------------------------------------


def test_mermaid_rendering() -> None:
    machine = PhaseMachine(
        phases=["Pending", "Running", "Done", "Failed"],
        initial="Pending",
        transitions={"Pending": ["Running", "Failed"], "Running": ["Done", "Failed"]},
        timeouts=[PhaseTimeout("Pending", 30, reason="NeverScheduled")],
        legacy={"Queued": "Pending"},
    )
    assert machine.to_mermaid() == (
        "stateDiagram-v2\n"
        "    [*] --> Pending\n"
        "    Pending --> Running\n"
        "    Pending --> Failed : NeverScheduled after 30s\n"
        "    Running --> Done\n"
        "    Running --> Failed\n"
        "    Done --> [*]\n"
        "    Failed --> [*]\n"
        "    note right of Pending : formerly Queued\n"
    )


def test_describe_is_json_able_and_complete() -> None:
    described = workspace_machine().describe()
    assert json.loads(json.dumps(described)) == described
    assert described["terminal"] == ["Terminating"]
    assert described["rules"] == WORKSPACE_TABLE.describe()
    nvj = nvj_machine().describe()
    assert nvj["timeouts"] == [
        {
            "phase": "Building",
            "seconds": 600.0,
            "reason": "BuildingTimeout",
            "failurePhase": "Failed",
        },
        {
            "phase": "ValidationRunning",
            "seconds": None,
            "reason": "ValidationTimedOut",
            "failurePhase": "Failed",
        },
    ]
    assert nvj["deadline"] == {
        "seconds": 3600.0,
        "reason": "DeadlineExceeded",
        "failurePhase": "Failed",
    }
    assert nvj["legacy"] == {"Pending": "Initializing", "Running": "ValidationRunning"}
    assert ["Failed", "Initializing"] in nvj["edges"]


# Properties over random machines ----------------------------------------------------------


@st.composite
def machines(draw: st.DrawFn) -> PhaseMachine:
    """Random valid machines: a spanning tree from the initial phase plus random extra edges."""
    count = draw(st.integers(min_value=1, max_value=7))
    phases = [f"P{i}" for i in range(count)]
    edges: dict[str, set[str]] = {p: set() for p in phases}
    for i in range(1, count):
        edges[phases[draw(st.integers(0, i - 1))]].add(phases[i])
    pairs = [(a, b) for a in phases for b in phases if a != b]
    for a, b in draw(st.lists(st.sampled_from(pairs), max_size=10)) if pairs else []:
        edges[a].add(b)
    timeouts = [
        PhaseTimeout(source, draw(st.integers(1, 1000)), failure_phase=sorted(targets)[0])
        for source, targets in edges.items()
        if bool(targets) and draw(st.booleans())
    ]
    legacy = {f"Old{i}": draw(st.sampled_from(phases)) for i in range(draw(st.integers(0, 3)))}
    return PhaseMachine(
        phases=phases, initial="P0", transitions=edges, timeouts=timeouts, legacy=legacy
    )


@given(machines(), st.data())
def test_random_walks_over_allowed_edges_never_raise(
    machine: PhaseMachine, data: st.DataObject
) -> None:
    phase = machine.initial
    machine.check(None, phase)
    for _ in range(20):
        allowed = machine.allowed(phase)
        if not allowed:
            assert machine.is_terminal(phase)
            break
        target = data.draw(st.sampled_from(sorted(allowed)))
        machine.check(phase, target)
        phase = target


@given(machines(), st.data())
def test_random_illegal_pairs_always_raise(machine: PhaseMachine, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(machine.phases))
    target = data.draw(st.sampled_from(machine.phases))
    assume(source != target and (source, target) not in machine.edges)
    with pytest.raises(IllegalTransition) as raised:
        machine.check(source, target)
    assert raised.value.allowed == machine.allowed(source)


@given(machines())
def test_terminal_set_is_the_phases_without_outgoing_edges(machine: PhaseMachine) -> None:
    sources = {source for source, _ in machine.edges}
    assert machine.terminal == frozenset(machine.phases) - sources
    assert "[*] --> P0" in machine.to_mermaid()
    for phase in machine.terminal:
        assert f"    {phase} --> [*]\n" in machine.to_mermaid()


@given(machines(), st.data())
def test_resolve_is_idempotent(machine: PhaseMachine, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([*machine.phases, *machine.legacy]))
    phase, migrated = machine.resolve(name)
    assert migrated == (name in machine.legacy)
    assert machine.resolve(phase) == (phase, False)


@given(
    machines(),
    st.data(),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=0, max_value=3000),
)
def test_timeout_verdict_requeues_within_the_time_left_and_expires_exactly_when_past(
    machine: PhaseMachine, data: st.DataObject, held: int, extra_ms: int
) -> None:
    phase = data.draw(st.sampled_from(machine.phases))
    now = T0 + timedelta(seconds=held, milliseconds=extra_ms)
    verdict = machine.check_timeouts(in_phase(phase, entered=T0), now)
    timeout = machine.timeouts.get(phase)
    if timeout is None:
        assert verdict == type(verdict)()
        return
    limit = timeout.limit({})
    assert limit is not None
    left = (T0 + timedelta(seconds=limit) - now).total_seconds()
    assert (verdict.expired is timeout) == (left <= 0)
    if left > 0:
        assert verdict.requeue_after is not None
        assert 0 < verdict.requeue_after <= left
        later = now + timedelta(seconds=verdict.requeue_after)
        assert machine.check_timeouts(in_phase(phase, entered=T0), later).expired is timeout
    else:
        assert verdict.requeue_after is None


def _never(obj: Mapping[str, Any]) -> float | None:
    return None


def test_computed_limit_returning_none_means_no_deadline() -> None:
    machine = nvj_machine(deadline=ObjectDeadline(_never))
    obj = in_phase("Initializing", entered=T0, started=T0)
    assert machine.check_timeouts(obj, T0 + timedelta(days=365)).requeue_after is None
