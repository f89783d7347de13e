"""Shared helpers for the PhaseReconciler tests: a Gizmo CRD whose status schema declares every
field the framework writes, a harness running a reconciler under the real Controller against
the embedded API server, a log of every stored version of the objects, and a client wrapper
that records the status patches sent.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from prometheus_client import CollectorRegistry
from test_common_support import JSON, WAIT, crd, eventually, phase_of

from api.common import FRAMEWORK_STATUS_FIELDS
from framework.cache import Cache
from framework.client import Client
from framework.conditions import READY, RECONCILING, STALLED, condition_status
from framework.controller import Controller, ControllerBuilder
from framework.crdgen import custom_resource
from framework.envtest import Environment
from framework.events import EventRecorder
from framework.informer import EventHandler
from framework.models import KubeModel, KubeObject
from framework.reconciler import PhaseReconciler, ReconcilerContext
from framework.resources import GroupVersionKind
from framework.status import StatusWriter
from framework.tracker import StatusTracker

GIZMO = GroupVersionKind("test.kubeloop.dev", "v1", "Gizmo")
CONTROLLER = "gizmo"

_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_CONDITION = {
    "type": "object",
    "required": ["type", "status", "reason", "lastTransitionTime"],
    "properties": {
        "type": _STRING,
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": _STRING,
        "message": _STRING,
        "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
        "lastTransitionTime": _TIME,
    },
}
STATUS_SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "observedGeneration": {"type": "integer", "format": "int64"},
        "phase": _STRING,
        "message": _STRING,
        "phaseTransitionTime": _TIME,
        "startTime": _TIME,
        "conditions": {
            "type": "array",
            "items": _CONDITION,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    },
}


def gizmo_crd() -> JSON:
    return crd(GIZMO, "gizmos", status=STATUS_SCHEMA)


def gizmo(name: str, **spec: Any) -> JSON:
    return {
        "apiVersion": GIZMO.api_version,
        "kind": GIZMO.kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


class GizmoStatus(KubeModel):
    """The framework's status fields, typed (for the model-based reconciler)."""

    observed_generation: int | None = None
    phase: str | None = None
    message: str | None = None
    phase_transition_time: str | None = None
    start_time: str | None = None
    conditions: list[dict[str, Any]] | None = None


@custom_resource(group=GIZMO.group, version=GIZMO.version)
class Gizmo(KubeObject):
    spec: dict[str, Any] = {}
    status: GizmoStatus | None = None


class RecordingClient:
    """Forwards to a Client, remembering the body of every status patch."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.status_patches: list[JSON] = []

    async def patch(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("subresource") == "status":
            self.status_patches.append(args[2])
        return await self._client.patch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class VersionLog:
    """Every stored version of every Gizmo the informer delivered, in order, by name."""

    versions: dict[str, list[JSON]] = field(default_factory=dict)

    def handler(self) -> EventHandler:
        def keep(obj: JSON) -> None:
            name = obj["metadata"]["name"]
            self.versions.setdefault(name, []).append(obj)

        return EventHandler(
            on_add=lambda obj, _initial: keep(obj), on_update=lambda _old, new: keep(new)
        )

    def phases(self, name: str) -> list[str]:
        """The distinct phases the object went through, in order."""
        seen: list[str] = []
        for version in self.versions.get(name, []):
            phase = (version.get("status") or {}).get("phase")
            if phase is not None and (not seen or seen[-1] != phase):
                seen.append(phase)
        return seen


@dataclass
class Harness:
    env: Environment
    client: Client
    cache: Cache
    tracker: StatusTracker
    registry: CollectorRegistry
    reconciler: PhaseReconciler[Any]
    controller: Controller
    log: VersionLog
    recording: RecordingClient

    async def create(self, name: str, **spec: Any) -> JSON:
        created: JSON = await self.client.create(gizmo(name, **spec))
        return created

    async def get(self, name: str) -> JSON:
        found: JSON = await self.client.get(GIZMO, name, namespace="default")
        return found

    async def wait_for(self, name: str, check: Callable[[JSON], bool]) -> JSON:
        """Poll the API until `check(object)` holds (within WAIT seconds); return it."""
        return await eventually(lambda: self.get(name), check)

    async def wait_for_phase(self, name: str, phase: str) -> JSON:
        return await self.wait_for(name, lambda o: phase_of(o) == phase)

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait until `check()` holds (within WAIT seconds), e.g. on the tracker."""
        async with asyncio.timeout(WAIT):
            while True:
                if check():
                    return
                await asyncio.sleep(0.02)

    async def logged_phases(self, name: str, expected: list[str]) -> list[str]:
        """The phases the informer delivered for `name` once they are `expected`, or when WAIT
        runs out: the log may trail what the API already answers."""
        with contextlib.suppress(TimeoutError):
            await self.until(lambda: self.log.phases(name) == expected)
        return self.log.phases(name)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"controller": CONTROLLER, **labels}) or 0.0


@dataclass(frozen=True)
class KStatus:
    """Which phases of a machine are ready, settled and failed (what kstatus should see)."""

    ready: set[str]
    settled: set[str]
    failed: set[str] = field(default_factory=set)


def assert_kstatus(version: JSON, expected: KStatus) -> None:
    """A stored status carries every framework field, and Ready, Reconciling and Stalled
    agree with its phase and observedGeneration."""
    status = version.get("status")
    if not status:
        return
    assert all(name in status for name in FRAMEWORK_STATUS_FIELDS), status
    phase = status["phase"]
    assert status_of(version, READY) == str(phase in expected.ready), status
    assert status_of(version, RECONCILING) == str(phase not in expected.settled), status
    assert status_of(version, STALLED) == str(phase in expected.failed), status
    for type_ in (READY, RECONCILING, STALLED):
        assert condition(version, type_)["observedGeneration"] == status["observedGeneration"]
    assert status["observedGeneration"] <= version["metadata"]["generation"]


def condition(obj: JSON, type_: str) -> JSON:
    """The wire condition of `type_` (KeyError-like AssertionError when absent)."""
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if entry["type"] == type_:
            return cast(JSON, entry)
    raise AssertionError(f"no {type_} condition in {obj.get('status')}")


def status_of(obj: JSON, type_: str) -> str | None:
    return condition_status((obj.get("status") or {}).get("conditions") or (), type_)


@contextlib.asynccontextmanager
async def running(
    reconciler_class: type[PhaseReconciler[Any]],
    *,
    setup: Callable[[Harness], Awaitable[None]] | None = None,
) -> AsyncIterator[Harness]:
    """An environment with the Gizmo CRD and `reconciler_class` running under a Controller.

    `setup` runs before the controller starts (to create objects it must find as they are)."""
    registry = CollectorRegistry()
    async with Environment() as env:
        await env.install_crds([gizmo_crd()])
        async with await Client.for_environment(env, registry=registry) as client:
            cache = Cache(client, registry=registry)
            tracker = StatusTracker()
            recording = RecordingClient(client)
            context = ReconcilerContext(
                client=client,
                cache=cache,
                status_writer=StatusWriter(cast(Client, recording), observer=cache),
                recorder=EventRecorder(client, CONTROLLER, "test", registry=registry),
                tracker=tracker,
                registry=registry,
            )
            reconciler = reconciler_class(context, name=CONTROLLER)
            controller = (
                ControllerBuilder(CONTROLLER)
                .for_kind(GIZMO)
                .build(reconciler, cache=cache, registry=registry, tracker=tracker)
            )
            log = VersionLog()
            cache.informer(GIZMO).add_handler(log.handler())
            harness = Harness(
                env, client, cache, tracker, registry, reconciler, controller, log, recording
            )
            if setup is not None:
                await setup(harness)
            await cache.start()
            task = asyncio.create_task(controller.run())
            try:
                yield harness
            finally:
                await controller.stop(grace_period=5)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await cache.stop()
