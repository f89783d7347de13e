"""PhaseReconciler without a server: declarations checked against the machine at class
definition, and one reconcile at a time against an in-memory API with a FakeClock, so requeue
delays, timeouts and condition bookkeeping are exact."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from framework.client import Client
from framework.clock import FakeClock
from framework.conditions import READY, RECONCILING, STALLED, Condition, condition_status
from framework.controller import Result, TerminalError
from framework.errors import NotFound
from framework.handlers import Request
from framework.models import KubeModel, KubeObject
from framework.patch import json_patch_apply, merge_apply
from framework.phase import (
    IllegalTransition,
    PhaseMachine,
    PhaseRule,
    PhaseTimeout,
    RuleTable,
    cond,
)
from framework.phase import Predicate as RulePredicate
from framework.reconciler import (
    InvalidReconciler,
    PhaseReconciler,
    ReconcilerContext,
    on_phase,
)
from framework.resources import GroupVersionKind, ResourceInfo
from framework.tracker import ObjectKey, StatusTracker

JSON = dict[str, Any]
KIND = GroupVersionKind("test.kubeloop.dev", "v1", "Gizmo")
KEY = ObjectKey(KIND.group, KIND.kind, "default", "g")
REQUEST = Request("default", "g")

MACHINE = PhaseMachine(
    phases=["Pending", "Working", "Running", "Failed"],
    initial="Pending",
    transitions={"Pending": ["Working"], "Working": ["Running", "Failed"]},
    timeouts=[PhaseTimeout("Working", 60)],
)


class FakeApi:
    """Just enough of Client and Cache for the reconciler: one kind, objects by name."""

    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.status_patches: list[JSON] = []
        self._version = 0

    def put(self, obj: JSON) -> JSON:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        self.objects[obj["metadata"]["name"]] = obj
        return copy.deepcopy(obj)

    def add(self, name: str, **spec: Any) -> None:
        meta = {"name": name, "namespace": "default", "generation": 1}
        self.put(
            {"apiVersion": KIND.api_version, "kind": KIND.kind, "metadata": meta, "spec": spec}
        )

    def change_spec(self, name: str, **spec: Any) -> None:
        obj = self.objects[name]
        obj["spec"].update(spec)
        obj["metadata"]["generation"] += 1
        self.put(obj)

    async def get(self, kind: Any, name: str, *, namespace: str | None = None) -> Any:
        if name not in self.objects:
            raise NotFound(404, "NotFound", f"{name} not found")
        found = copy.deepcopy(self.objects[name])
        is_model = isinstance(kind, type) and issubclass(kind, KubeObject)
        return kind.model_validate(found) if is_model else found

    async def patch(self, kind: Any, name: str, patch: Any, **options: Any) -> JSON:
        stored = copy.deepcopy(self.objects[name])
        if options.get("patch_type") == "json":
            return self.put(json_patch_apply(stored, patch))
        assert options.get("subresource") == "status"
        self.status_patches.append(patch)
        return self.put({**stored, "status": merge_apply(stored.get("status"), patch["status"])})

    async def create(self, obj: JSON, **options: Any) -> JSON:
        return obj  # events

    def wrote(self, obj: Any) -> None:
        pass

    def deleted(self, kind: Any, name: str, namespace: str | None = None) -> None:
        pass


class Harness:
    def __init__(self, reconciler_class: type[PhaseReconciler[Any]]) -> None:
        self.api = FakeApi()
        self.clock = FakeClock()
        self.tracker = StatusTracker(self.clock)
        self.registry = CollectorRegistry()
        context = ReconcilerContext.create(
            cast(Client, self.api),
            self.api,
            controller="gizmo",
            instance="test",
            registry=self.registry,
            tracker=self.tracker,
            clock=self.clock,
        )
        self.reconciler = reconciler_class(context)

    async def reconcile(self) -> Result:
        return await self.reconciler.reconcile(REQUEST)

    async def settle(self) -> Result:
        """Reconcile until the result is not an immediate requeue (bounded)."""
        for _ in range(20):
            result = await self.reconcile()
            if not result.immediate:
                return result
        raise AssertionError("the reconciler kept requeueing at once")

    @property
    def stored(self) -> JSON:
        return self.api.objects["g"]

    def condition(self, type_: str) -> str | None:
        return condition_status(self.stored["status"]["conditions"], type_)


class Worker(PhaseReconciler[JSON]):
    kind = KIND
    machine = MACHINE

    @on_phase("Pending")
    async def pending(self, obj: JSON) -> Result | None:
        return await self.transition_phase(obj, "Working", "working")

    @on_phase("Working")
    async def working(self, obj: JSON) -> Result | None:
        spec = obj["spec"]
        if spec.get("explode"):
            raise RuntimeError("boom")
        if spec.get("done"):
            return await self.transition_phase(obj, "Running", "up")
        if "note" in spec:
            return await self.transition_phase(obj, "Working", spec["note"])
        return Result(requeue_after=spec.get("poll", 300))


# -- declarations ----------------------------------------------------------------------------


def test_a_handler_for_an_unknown_phase_is_rejected_at_class_definition() -> None:
    with pytest.raises(InvalidReconciler, match="unknown phase 'Nope'"):

        class _Bad(Worker):
            @on_phase("Nope")
            async def nope(self, obj: JSON) -> Result | None:
                return None


def test_a_missing_handler_in_explicit_mode_is_rejected() -> None:
    with pytest.raises(InvalidReconciler, match="no handler for non-terminal phase 'Working'"):

        class _Bad(PhaseReconciler[JSON]):
            kind = KIND
            machine = MACHINE

            @on_phase("Pending")
            async def pending(self, obj: JSON) -> Result | None:
                return None


def test_terminal_phase_handlers_and_duplicates_are_rejected() -> None:
    with pytest.raises(InvalidReconciler, match="terminal phase 'Running'"):

        class _Terminal(Worker):
            @on_phase("Running")
            async def running(self, obj: JSON) -> Result | None:
                return None

    with pytest.raises(InvalidReconciler, match="two handlers for phase 'Working'"):

        class _Twice(Worker):
            @on_phase("Working")
            async def one(self, obj: JSON) -> Result | None:
                return None

            @on_phase("Working")
            async def two(self, obj: JSON) -> Result | None:
                return None


def test_declared_phase_sets_must_name_machine_phases() -> None:
    with pytest.raises(InvalidReconciler, match="ready_phases names unknown phases"):

        class _Ready(Worker):
            ready_phases = frozenset({"Up"})

    with pytest.raises(InvalidReconciler, match="deletion_phase needs a finalizer"):

        class _Deleting(Worker):
            deletion_phase = "Failed"


def test_a_subclass_handler_replaces_the_inherited_one() -> None:
    class Quick(Worker):
        @on_phase("Working")
        async def quick(self, obj: JSON) -> Result | None:
            return None

    assert Quick._handlers == {"Pending": "pending", "Working": "quick"}


# -- reconciles ------------------------------------------------------------------------------


async def test_first_reconcile_enters_the_initial_phase_and_dispatches() -> None:
    h = Harness(Worker)
    h.api.add("g")
    result = await h.reconcile()
    assert result == Result.now()
    status = h.stored["status"]
    assert status["phase"] == "Working"
    assert status["startTime"] == status["phaseTransitionTime"] == "2026-01-01T00:00:00Z"
    assert status["observedGeneration"] == 1
    assert (h.condition(READY), h.condition(RECONCILING), h.condition(STALLED)) == (
        "False",
        "True",
        "False",
    )
    tracked = h.tracker.get("gizmo", KEY)
    assert tracked is not None
    assert [(t.from_state, t.to_state) for t in tracked.history] == [
        (None, "Pending"),
        ("Pending", "Working"),
    ]


async def test_requeue_after_is_the_smaller_of_the_handlers_and_the_time_left() -> None:
    h = Harness(Worker)
    h.api.add("g", poll=300)
    assert await h.settle() == Result(requeue_after=60)  # the Working timeout
    h.clock.advance(45)
    assert await h.reconcile() == Result(requeue_after=15)
    h.api.change_spec("g", poll=5)
    assert await h.reconcile() == Result(requeue_after=5)  # the handler's poll is sooner
    h.clock.advance(15)
    assert await h.reconcile() == Result.now()
    assert h.stored["status"]["phase"] == "Failed"
    stalled = next(c for c in h.stored["status"]["conditions"] if c["type"] == STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", "WorkingTimeout")
    assert await h.reconcile() == Result()  # Failed is terminal: nothing to dispatch


async def test_a_spec_change_updates_observed_generation_without_a_transition() -> None:
    h = Harness(Worker)
    h.api.add("g")
    await h.settle()
    patches = len(h.api.status_patches)
    await h.reconcile()
    assert len(h.api.status_patches) == patches  # nothing stale: nothing sent
    h.api.change_spec("g", poll=10)
    await h.reconcile()
    assert h.api.status_patches[-1]["status"]["observedGeneration"] == 2
    assert "phase" not in h.api.status_patches[-1]["status"]
    conditions = h.stored["status"]["conditions"]
    assert {c["observedGeneration"] for c in conditions} == {2}


async def test_staying_in_the_phase_updates_the_message_and_does_not_spin() -> None:
    h = Harness(Worker)
    h.api.add("g")
    await h.settle()
    entered = h.stored["status"]["phaseTransitionTime"]
    h.clock.advance(10)
    h.api.change_spec("g", note="still working")
    assert await h.reconcile() == Result(requeue_after=50)
    status = h.stored["status"]
    assert (status["phase"], status["message"]) == ("Working", "still working")
    assert status["phaseTransitionTime"] == entered
    ready = next(c for c in status["conditions"] if c["type"] == READY)
    assert (ready["status"], ready["message"]) == ("False", "still working")
    tracked = h.tracker.get("gizmo", KEY)
    assert tracked is not None
    assert len(tracked.history) == 2  # (None, Pending), (Pending, Working)


async def test_a_handler_error_is_tracked_and_leaves_the_conditions_alone() -> None:
    h = Harness(Worker)
    h.api.add("g")
    await h.settle()
    before = copy.deepcopy(h.stored["status"])
    h.api.change_spec("g", explode=True)
    with pytest.raises(RuntimeError, match="boom"):
        await h.reconcile()
    assert h.stored["status"] == before
    tracked = h.tracker.get("gizmo", KEY)
    assert tracked is not None
    assert tracked.error == "RuntimeError: boom"
    h.api.change_spec("g", explode=False, done=True)
    await h.settle()
    tracked = h.tracker.get("gizmo", KEY)
    assert tracked is not None
    assert tracked.error is None  # cleared on recovery
    assert (tracked.state, h.condition(READY), h.condition(RECONCILING)) == (
        "Running",
        "True",
        "False",
    )


async def test_an_unknown_phase_is_a_terminal_error() -> None:
    h = Harness(Worker)
    h.api.add("g")
    h.stored["status"] = {"phase": "Exploded"}
    with pytest.raises(TerminalError, match="unknown phase 'Exploded'"):
        await h.reconcile()


async def test_a_missing_object_is_forgotten() -> None:
    h = Harness(Worker)
    h.api.add("g")
    await h.settle()
    assert h.tracker.get("gizmo", KEY) is not None
    del h.api.objects["g"]
    assert await h.reconcile() == Result()
    assert h.tracker.get("gizmo", KEY) is None


async def test_framework_conditions_must_agree_with_the_phase() -> None:
    class Liar(Worker):
        @on_phase("Pending")
        async def pending(self, obj: JSON) -> Result | None:
            ready = Condition(type=READY, status="True", reason="Trust")
            return await self.transition_phase(obj, "Working", "x", conditions=[ready])

    h = Harness(Liar)
    h.api.add("g")
    with pytest.raises(ValueError, match="Ready=True contradicts phase 'Working'"):
        await h.settle()
    assert h.stored["status"]["phase"] == "Pending"


async def test_finalize_may_ask_to_come_back_later() -> None:
    class Slow(Worker):
        finalizer = "kubeloop.dev/gizmo"
        calls = 0

        async def finalize(self, obj: JSON) -> bool | Result:
            type(self).calls += 1
            return Result(requeue_after=7) if type(self).calls == 1 else True

    h = Harness(Slow)
    h.api.add("g")
    await h.settle()
    assert h.stored["metadata"]["finalizers"] == ["kubeloop.dev/gizmo"]
    h.stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await h.reconcile() == Result(requeue_after=7)
    assert h.stored["metadata"]["finalizers"] == ["kubeloop.dev/gizmo"]
    assert await h.reconcile() == Result()
    assert not h.stored["metadata"]["finalizers"]


class TypedStatus(KubeModel):
    observed_generation: int | None = None
    phase: str | None = None
    message: str | None = None
    phase_transition_time: datetime | None = None
    start_time: datetime | None = None
    conditions: list[Condition] | None = None


class TypedGizmo(KubeObject):
    __resource__ = ResourceInfo(KIND, "gizmos", "gizmo", namespaced=True)
    spec: dict[str, Any] = {}
    status: TypedStatus = TypedStatus()


class TypedWorker(PhaseReconciler[TypedGizmo]):
    kind = TypedGizmo
    machine = MACHINE

    @on_phase("Pending")
    async def pending(self, obj: TypedGizmo) -> Result | None:
        assert isinstance(obj, TypedGizmo)
        return await self.transition_phase(obj, "Working", "working")

    @on_phase("Working")
    async def working(self, obj: TypedGizmo) -> Result | None:
        assert obj.status.phase == "Working"
        assert obj.status.conditions is not None
        return await self.transition_phase(obj, "Running", "up")


async def test_typed_models_with_datetime_and_condition_fields_round_trip() -> None:
    h = Harness(TypedWorker)
    h.api.add("g")
    assert await h.settle() == Result()
    status = h.stored["status"]
    assert status["phase"] == "Running"
    assert status["phaseTransitionTime"] == "2026-01-01T00:00:00Z"
    assert h.condition(READY) == "True"
    phases = [p["status"]["phase"] for p in h.api.status_patches if "phase" in p["status"]]
    assert phases == ["Pending", "Working", "Running"]
    assert len(h.api.status_patches) == 3  # no spurious diffs from the model round trip


class Deleting(PhaseReconciler[JSON]):
    kind = KIND
    machine = PhaseMachine(
        phases=["Pending", "Running", "Terminating"],
        initial="Pending",
        transitions={"Pending": ["Running"], "Running": ["Terminating"]},
    )
    finalizer = "kubeloop.dev/gizmo"
    deletion_phase = "Terminating"

    @on_phase("Pending", "Running")
    async def wait(self, obj: JSON) -> Result | None:
        return Result(requeue_after=30)


async def test_deletion_enters_the_deletion_phase_from_any_phase() -> None:
    h = Harness(Deleting)
    h.api.add("g")
    assert await h.reconcile() == Result(requeue_after=30)
    h.stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await h.reconcile() == Result()  # Pending -> Terminating is no edge, yet allowed
    assert h.stored["status"]["phase"] == "Terminating"
    assert (h.condition(READY), h.condition(RECONCILING)) == ("False", "True")
    assert not h.stored["metadata"]["finalizers"]


async def test_an_illegal_derived_phase_is_rejected_with_nothing_written() -> None:
    class Jumpy(PhaseReconciler[JSON]):
        kind = KIND
        machine = PhaseMachine(
            phases=["Pending", "Working", "Running"],
            initial="Pending",
            transitions={"Pending": ["Working"], "Working": ["Running"]},
            rules=RuleTable(
                (PhaseRule("Running", cond("Up")), PhaseRule("Working", cond("Started"))),
                default="Pending",
            ),
        )

        @on_phase("Pending")
        async def pending(self, obj: JSON) -> Result | None:
            up = Condition(type="Up", status="True", reason="Skipped")
            return await self.set_conditions(obj, [up])

    h = Harness(Jumpy)
    h.api.add("g")
    with pytest.raises(IllegalTransition, match="'Pending' -> 'Running'"):
        await h.reconcile()
    assert h.stored["status"]["phase"] == "Pending"
    assert h.condition("Up") is None  # the conditions went nowhere either


async def test_set_conditions_writes_other_status_fields_in_the_same_patch() -> None:
    class Reporter(Worker):
        @on_phase("Working")
        async def working(self, obj: JSON) -> Result | None:
            seen = Condition(type="Seen", status="True", reason="Looked")
            return await self.set_conditions(obj, [seen], status={"workerNodes": ["n1"]})

    h = Harness(Reporter)
    h.api.add("g")
    await h.settle()
    last = h.api.status_patches[-1]["status"]
    assert last["workerNodes"] == ["n1"]
    assert "Seen" in {c["type"] for c in last["conditions"]}
    written = len(h.api.status_patches)
    await h.settle()
    assert len(h.api.status_patches) == written  # nothing changed, nothing sent
    with pytest.raises(ValueError, match=r"\['phase'\] are written by the framework"):
        await h.reconciler.set_conditions(copy.deepcopy(h.stored), [], status={"phase": "X"})


def _counting_table(evaluations: list[int]) -> RuleTable:
    def up(obj: Any, now: datetime) -> bool:
        evaluations.append(1)
        return condition_status((obj.get("status") or {}).get("conditions") or [], "Up") == "True"

    return RuleTable((PhaseRule("Running", RulePredicate(up, "Up=True")),), default="Pending")


async def test_rules_run_once_per_reconcile_after_a_handler_derived_the_phase() -> None:
    evaluations: list[int] = []

    class Deriving(PhaseReconciler[JSON]):
        kind = KIND
        machine = PhaseMachine(
            phases=["Pending", "Running"],
            initial="Pending",
            transitions={"Pending": ["Running"], "Running": ["Pending"]},
            rules=_counting_table(evaluations),
        )

        @on_phase("Pending", "Running")
        async def observe(self, obj: JSON) -> Result | None:
            up = Condition(type="Up", status="True", reason="Seen")
            return await self.set_conditions(obj, [up])

    h = Harness(Deriving)
    h.api.add("g")
    await h.settle()
    assert h.stored["status"]["phase"] == "Running"
    evaluations.clear()
    await h.reconcile()
    assert len(evaluations) == 1  # the handler's set_conditions was the end-of-reconcile pass


async def test_a_status_change_after_the_handlers_derive_is_evaluated_at_the_end() -> None:
    evaluations: list[int] = []

    class Late(PhaseReconciler[JSON]):
        kind = KIND
        machine = PhaseMachine(
            phases=["Pending", "Running"],
            initial="Pending",
            transitions={"Pending": ["Running"]},
            rules=_counting_table(evaluations),
        )

        @on_phase("Pending")
        async def observe(self, obj: JSON) -> Result | None:
            await self.set_conditions(obj, [])  # derives Pending: no Up yet

            def up(target: JSON) -> None:
                conditions = target["status"]["conditions"]
                conditions.append({"type": "Up", "status": "True", "reason": "Late"})

            await self.context.status_writer.patch_status(obj, up)
            return None

    h = Harness(Late)
    h.api.add("g")
    await h.reconcile()
    assert h.stored["status"]["phase"] == "Running"  # the end of the reconcile derived it
