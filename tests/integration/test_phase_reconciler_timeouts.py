"""PhaseReconciler timeouts and derived phases under the real Controller: a phase timeout and
the whole-object deadline fire with no outside event (the test writes nothing after creating
the object), a spec change restarts a timed-out object, and in derived-phase mode the phase
follows the conditions the handler sets, never contradicting them in any stored version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from test_common_support import phase_of
from test_phase_reconciler_support import (
    GIZMO,
    KStatus,
    assert_kstatus,
    condition,
    running,
    status_of,
)

from framework.conditions import READY, RECONCILING, STALLED, Condition
from framework.controller import Result
from framework.phase import (
    ObjectDeadline,
    PhaseMachine,
    PhaseRule,
    PhaseTimeout,
    RuleTable,
    cond,
)
from framework.reconciler import PhaseReconciler, on_phase

JSON = dict[str, Any]


def _spec_seconds(field: str) -> Any:
    def seconds(obj: Any) -> float | None:
        value = (obj.get("spec") or {}).get(field)
        return None if value is None else float(value)

    return seconds


TIMED = PhaseMachine(
    phases=["Pending", "Waiting", "Done", "Failed"],
    initial="Pending",
    transitions={
        "Pending": ["Waiting", "Failed"],
        "Waiting": ["Done", "Failed"],
        "Failed": ["Pending"],
    },
    timeouts=[PhaseTimeout("Waiting", _spec_seconds("waitSeconds"))],
    deadline=ObjectDeadline(_spec_seconds("deadlineSeconds")),
)


TIMED_KSTATUS = KStatus(ready=set(), settled={"Done", "Failed"}, failed={"Failed"})


class Waiter(PhaseReconciler[JSON]):
    """Enters Waiting and then only polls, once an hour."""

    kind = GIZMO
    machine = TIMED

    @on_phase("Pending")
    async def pending(self, obj: JSON) -> Result | None:
        return await self.transition_phase(obj, "Waiting", "waiting")

    @on_phase("Waiting")
    async def waiting(self, obj: JSON) -> Result | None:
        return Result(requeue_after=3600)


async def test_phase_timeout_fires_without_outside_events_and_a_spec_change_restarts() -> None:
    async with running(Waiter) as h:
        await h.create("t", waitSeconds=2)
        failed = await h.wait_for_phase("t", "Failed")
        assert condition(failed, STALLED)["reason"] == "WaitingTimeout"
        assert condition(failed, STALLED)["status"] == "True"
        assert condition(failed, READY)["reason"] == "WaitingTimeout"
        assert status_of(failed, READY) == "False"
        assert status_of(failed, RECONCILING) == "False"  # Failed is not terminal, but settled
        assert condition(failed, STALLED)["observedGeneration"] == 1
        assert "WaitingTimeout" in failed["status"]["message"]
        expected = ["Pending", "Waiting", "Failed"]
        assert await h.logged_phases("t", expected) == expected
        waiting_to_failed = {"from": "Waiting", "to": "Failed"}
        assert h.metric("phase_transitions_total", **waiting_to_failed) == 1
        assert h.metric("phase_duration_seconds_count", phase="Waiting") == 1
        assert h.metric("phase_duration_seconds_sum", phase="Waiting") >= 1

        started = failed["status"]["startTime"]
        await h.client.patch(
            GIZMO, "t", {"spec": {"waitSeconds": 3600}}, namespace="default", patch_type="merge"
        )
        restarted = await h.wait_for(
            "t", lambda o: phase_of(o) == "Waiting" and o["status"]["observedGeneration"] == 2
        )
        assert status_of(restarted, STALLED) == "False"
        assert restarted["status"]["startTime"] >= started
        expected = ["Pending", "Waiting", "Failed", "Pending", "Waiting"]
        assert await h.logged_phases("t", expected) == expected
        for version in h.log.versions["t"]:
            assert_kstatus(version, TIMED_KSTATUS)


async def test_object_deadline_fires_from_start_time() -> None:
    async with running(Waiter) as h:
        await h.create("d", deadlineSeconds=2)
        failed = await h.wait_for_phase("d", "Failed")
        assert condition(failed, STALLED)["reason"] == "DeadlineExceeded"
        assert condition(failed, READY)["reason"] == "DeadlineExceeded"
        status = failed["status"]
        held = datetime.fromisoformat(status["phaseTransitionTime"]) - datetime.fromisoformat(
            status["startTime"]
        )
        assert held.total_seconds() >= 1  # measured from startTime, whole seconds
        expected = ["Pending", "Waiting", "Failed"]
        assert await h.logged_phases("d", expected) == expected


DERIVED = PhaseMachine(
    phases=["Pending", "Provisioning", "Running", "Succeeded"],
    initial="Pending",
    transitions={
        "Pending": ["Provisioning"],
        "Provisioning": ["Running"],
        "Running": ["Provisioning", "Succeeded"],
    },
    rules=RuleTable(
        (
            PhaseRule("Succeeded", cond("Finished")),
            PhaseRule("Running", cond("ResourceReady")),
            PhaseRule("Provisioning", cond("ResourceRequested")),
        ),
        default="Pending",
    ),
)


DERIVED_KSTATUS = KStatus(ready={"Running", "Succeeded"}, settled={"Running", "Succeeded"})


class Observer(PhaseReconciler[JSON]):
    """Reports what the spec says as conditions; the rule table decides the phase."""

    kind = GIZMO
    machine = DERIVED

    @on_phase("Pending", "Provisioning", "Running")
    async def observe(self, obj: JSON) -> Result | None:
        spec = obj.get("spec") or {}
        available = "True" if spec.get("available") else "False"
        conditions = [
            Condition(type="ResourceRequested", status="True", reason="Requested"),
            Condition(type="ResourceReady", status=available, reason="Checked"),
        ]
        if spec.get("finished"):
            conditions.append(Condition(type="Finished", status="True", reason="Done"))
        return await self.set_conditions(obj, conditions)


async def test_derived_phase_follows_conditions_and_never_contradicts_them() -> None:
    async with running(Observer) as h:
        await h.create("w")
        await h.wait_for_phase("w", "Provisioning")
        for spec, phase in (
            ({"available": True}, "Running"),
            ({"available": False}, "Provisioning"),
            ({"available": True}, "Running"),
            ({"finished": True}, "Succeeded"),
        ):
            await h.client.patch(GIZMO, "w", {"spec": spec}, namespace="default")
            await h.wait_for_phase("w", phase)

        expected = [
            "Pending", "Provisioning", "Running", "Provisioning", "Running", "Succeeded"
        ]  # fmt: skip
        assert await h.logged_phases("w", expected) == expected
        rules = DERIVED.rules
        assert rules is not None
        now = datetime.now(UTC)
        for version in h.log.versions["w"]:
            assert_kstatus(version, DERIVED_KSTATUS)
            if phase_of(version) is not None:
                assert rules.evaluate(version, now)[0] == phase_of(version), version["status"]
        final = await h.get("w")
        assert status_of(final, READY) == "True"
        assert final["status"]["observedGeneration"] == final["metadata"]["generation"]
        back = {"from": "Running", "to": "Provisioning"}
        assert h.metric("phase_transitions_total", **back) == 1
