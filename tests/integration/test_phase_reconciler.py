"""PhaseReconciler under the real Controller on the embedded API server: dispatch through every
edge of a sample machine (compared with the tracker's transitions), kstatus conditions and
observedGeneration on every stored version, metrics, events, illegal transitions rejected with
nothing written, legacy phases migrated in exactly one patch, the finalizer added before the
first handler and removed after finalize, and `kubectl wait --for=condition=Ready`."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest
from test_apiserver_support import KUBECTL
from test_common_support import phase_of
from test_phase_reconciler_support import (
    CONTROLLER,
    GIZMO,
    Gizmo,
    Harness,
    KStatus,
    assert_kstatus,
    running,
    status_of,
)

from framework.conditions import READY, RECONCILING, Condition
from framework.controller import Result
from framework.errors import NotFound
from framework.events import EVENT_GVK
from framework.finalizers import has_finalizer
from framework.phase import IllegalTransition, PhaseMachine
from framework.reconciler import PhaseReconciler, on_phase
from framework.tracker import ObjectKey

JSON = dict[str, Any]
FINALIZER = "kubeloop.dev/gizmo"

FLOW = PhaseMachine(
    phases=["Pending", "Provisioning", "Running", "Degraded", "Succeeded", "Failed", "Terminating"],
    initial="Pending",
    transitions={
        "Pending": ["Provisioning"],
        "Provisioning": ["Running", "Failed"],
        "Running": ["Degraded", "Succeeded", "Terminating"],
        "Degraded": ["Running", "Failed"],
    },
    legacy={"Active": "Running"},
)


FLOW_KSTATUS = KStatus(
    ready={"Running", "Succeeded"}, settled={"Running", "Succeeded", "Failed"}, failed={"Failed"}
)


class FlowReconciler(PhaseReconciler[JSON]):
    """Walks the FLOW machine as each object's spec says; records what it saw."""

    kind = GIZMO
    machine = FLOW
    finalizer = FINALIZER
    deletion_phase = "Terminating"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saw_finalizer: list[bool] = []
        self.finalized: list[str] = []

    def _seen(self, obj: JSON) -> JSON:
        self.saw_finalizer.append(has_finalizer(obj, FINALIZER))
        spec: JSON = obj.get("spec") or {}
        return spec

    @on_phase("Pending")
    async def pending(self, obj: JSON) -> Result | None:
        self._seen(obj)
        return await self.transition_phase(obj, "Provisioning", "provisioning")

    @on_phase("Provisioning")
    async def provisioning(self, obj: JSON) -> Result | None:
        if self._seen(obj).get("failProvisioning"):
            return await self.transition_phase(obj, "Failed", "provisioning failed")
        return await self.transition_phase(obj, "Running", "running")

    @on_phase("Running")
    async def running(self, obj: JSON) -> Result | None:
        spec = self._seen(obj)
        if spec.get("degrade") and status_of(obj, "WasDegraded") is None:
            was_degraded = Condition(type="WasDegraded", status="True", reason="Degraded")
            return await self.transition_phase(
                obj, "Degraded", "degraded", conditions=[was_degraded]
            )
        if spec.get("finish"):
            return await self.transition_phase(obj, "Succeeded", "done")
        return Result(requeue_after=3600)

    @on_phase("Degraded")
    async def degraded(self, obj: JSON) -> Result | None:
        if self._seen(obj).get("recover"):
            return await self.transition_phase(obj, "Running", "recovered")
        return await self.transition_phase(obj, "Failed", "gave up")

    async def finalize(self, obj: JSON) -> bool | Result:
        name = obj["metadata"]["name"]
        first = name not in self.finalized
        self.finalized.append(name)
        return not first  # the first attempt is "not done yet", the second completes


def key_of(name: str) -> ObjectKey:
    return ObjectKey(GIZMO.group, GIZMO.kind, "default", name)


def error_of(h: Harness, name: str) -> str | None:
    tracked = h.tracker.get(CONTROLLER, key_of(name))
    return None if tracked is None else tracked.error


def is_tracked_in(h: Harness, name: str, state: str) -> bool:
    tracked = h.tracker.get(CONTROLLER, key_of(name))
    return tracked is not None and tracked.state == state


async def test_every_edge_is_walked_and_recorded() -> None:
    async with running(FlowReconciler) as h:
        await h.create("a", degrade=True, recover=True, finish=True)
        await h.create("b", failProvisioning=True)
        await h.create("c", degrade=True)
        await h.create("d")
        for name, phase in (("a", "Succeeded"), ("b", "Failed"), ("c", "Failed"), ("d", "Running")):
            await h.wait_for_phase(name, phase)
            await h.until(functools.partial(is_tracked_in, h, name, phase))
        await h.client.delete(GIZMO, "d", namespace="default")
        await h.until(lambda: h.tracker.get(CONTROLLER, key_of("d")) is None)
        with pytest.raises(NotFound):
            await h.get("d")

        expected = [
            "Pending", "Provisioning", "Running", "Degraded", "Running", "Succeeded"
        ]  # fmt: skip
        assert await h.logged_phases("a", expected) == expected
        expected = ["Pending", "Provisioning", "Running", "Terminating"]
        assert await h.logged_phases("d", expected) == expected
        walked = {
            (transition.from_state, transition.to_state)
            for snapshot in h.tracker.list(CONTROLLER)
            for transition in snapshot.history
            if transition.from_state is not None
        } | {("Running", "Terminating")}  # d's transition; d itself is forgotten now
        assert walked == FLOW.edges
        counted = {
            (sample.labels["from"], sample.labels["to"])
            for metric in h.registry.collect()
            if metric.name == "phase_transitions"
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels["from"] and sample.value
        }
        assert counted == FLOW.edges
        for versions in h.log.versions.values():
            for version in versions:
                assert_kstatus(version, FLOW_KSTATUS)

        assert h.metric("phase_transitions_total", **{"from": "", "to": "Pending"}) == 4
        running_to_degraded = {"from": "Running", "to": "Degraded"}
        assert h.metric("phase_transitions_total", **running_to_degraded) == 2
        # Running was left twice by a (Degraded, Succeeded), once by c and once by d.
        assert h.metric("phase_duration_seconds_count", phase="Running") == 4
        assert h.metric("phase_duration_seconds_count", phase="Failed") == 0

        await h.reconciler.context.recorder.flush()
        events = (await h.client.list(EVENT_GVK, namespace="default")).items
        about_a = {e["reason"] for e in events if e["regarding"]["name"] == "a"}
        assert {"Degraded", "Succeeded"} <= about_a
        assert all(e["action"] == "PhaseTransition" for e in events)
        assert any(e["type"] == "Warning" and e["reason"] == "Failed" for e in events)


async def test_finalizer_is_added_before_the_first_handler_and_removed_after_finalize() -> None:
    async with running(FlowReconciler) as h:
        await h.create("f")
        await h.wait_for_phase("f", "Running")
        first_status = next(v for v in h.log.versions["f"] if v.get("status"))
        assert FINALIZER in first_status["metadata"]["finalizers"]
        reconciler = h.reconciler
        assert isinstance(reconciler, FlowReconciler)
        assert reconciler.saw_finalizer
        assert all(reconciler.saw_finalizer)

        await h.client.delete(GIZMO, "f", namespace="default")
        await h.until(lambda: h.tracker.get(CONTROLLER, key_of("f")) is None)
        with pytest.raises(NotFound):
            await h.get("f")
        await h.until(lambda: h.log.phases("f")[-1:] == ["Terminating"])
        terminating = h.log.versions["f"][-1]
        assert status_of(terminating, RECONCILING) == "True"
        assert status_of(terminating, READY) == "False"
        assert reconciler.finalized == ["f", "f"]  # not done, then done: then removed


async def test_illegal_transition_is_rejected_and_nothing_is_written() -> None:
    class Impatient(FlowReconciler):
        @on_phase("Pending")
        async def pending(self, obj: JSON) -> Result | None:
            return await self.transition_phase(obj, "Running", "skipping ahead")

    async with running(Impatient) as h:
        await h.create("i")
        await h.until(lambda: error_of(h, "i") is not None)
        assert "illegal phase transition 'Pending' -> 'Running'" in str(error_of(h, "i"))
        stored = await h.get("i")
        assert phase_of(stored) == "Pending"
        assert all(p["status"].get("phase") != "Running" for p in h.recording.status_patches)

        patches = len(h.recording.status_patches)
        version = stored["metadata"]["resourceVersion"]
        with pytest.raises(IllegalTransition):
            await h.reconciler.transition_phase(stored, "Succeeded", "no such edge")
        assert phase_of(stored) == "Pending"  # the in-memory object is restored too
        assert len(h.recording.status_patches) == patches
        assert (await h.get("i"))["metadata"]["resourceVersion"] == version


async def test_legacy_phase_is_migrated_in_exactly_one_patch() -> None:
    async def legacy_object(h: Harness) -> None:
        obj = await h.create("l", finish=True)
        await h.client.patch(
            GIZMO,
            "l",
            {"status": {"phase": "Active"}},
            namespace="default",
            subresource="status",
        )
        assert phase_of(await h.get("l")) == "Active"
        assert obj["metadata"]["generation"] == 1

    async with running(FlowReconciler, setup=legacy_object) as h:
        await h.wait_for_phase("l", "Succeeded")
        phases = [
            p["status"]["phase"] for p in h.recording.status_patches if "phase" in p["status"]
        ]
        assert phases == ["Running", "Succeeded"]  # Active -> Running once, never Active
        expected = ["Active", "Running", "Succeeded"]
        assert await h.logged_phases("l", expected) == expected
        for version in h.log.versions["l"][2:]:  # after the test's own legacy write
            assert_kstatus(version, FLOW_KSTATUS)


class ModelFlow(PhaseReconciler[Gizmo]):
    """The same dispatch over pydantic models."""

    kind = Gizmo
    machine = PhaseMachine(
        phases=["Pending", "Running"], initial="Pending", transitions={"Pending": ["Running"]}
    )

    @on_phase("Pending")
    async def pending(self, obj: Gizmo) -> Result | None:
        assert isinstance(obj, Gizmo)
        return await self.transition_phase(obj, "Running", "up")


async def test_kubectl_wait_for_ready_on_a_model_reconciled_object(tmp_path: Path) -> None:
    async with running(ModelFlow) as h:
        await h.create("k")
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            "--kubeconfig",
            h.env.kubeconfig,
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            "wait",
            "--for=condition=Ready",
            "--timeout=20s",
            "-n",
            "default",
            "gizmos.test.kubeloop.dev/k",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        assert "condition met" in out.decode()
        stored = await h.get("k")
        assert phase_of(stored) == "Running"
        assert stored["status"]["observedGeneration"] == stored["metadata"]["generation"]
        assert_kstatus(stored, KStatus(ready={"Running"}, settled={"Running"}))
