"""Simulated image builds: Tekton PipelineRuns (tekton.dev/v1) and OpenShift Builds
(build.openshift.io/v1) run and finish.

PipelineRun (actor `tekton`), one step per reconcile:
1. After stage `tekton.start`: startTime, and condition Succeeded=Unknown (reason Running).
2. After `tekton.run`: Succeeded=True (reason Succeeded) with completionTime and the results
   IMAGE_URL (the `image` param, else `<registry>/<namespace>/<name>:latest`) and IMAGE_DIGEST;
   or, when it fails, Succeeded=False (reason Failed).
A run whose `spec.status` asks for cancellation (Cancelled, CancelledRunFinally,
StoppedRunFinally) ends at once with Succeeded=False, reason Cancelled.

Build (actor `openshift-builds`), one step per reconcile:
1. After `openshift.start`: phase Running with startTimestamp.
2. After `openshift.build`: phase Complete with completionTimestamp, duration (nanoseconds)
   and outputDockerImageReference (`spec.output.to.name`); or, when it fails, phase Failed
   with reason GenericBuildFailed.
A Build with `status.cancelled: true` that has not finished becomes Cancelled.

`BuildsActor` (actor `builds`, the entry point) plays both.

Failure convention: a build whose git source contains `fail` (case-insensitive) fails: for a
PipelineRun its `git-url` or `git-revision` param or its pipeline's name, for a Build
`spec.source.git.uri` or `ref`. A failure injected by the simulator fails it the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from api.external.openshift import GROUP as OPENSHIFT_GROUP
from api.external.openshift import VERSION as OPENSHIFT_VERSION
from api.external.tekton import GROUP as TEKTON_GROUP
from api.external.tekton import SUCCEEDED
from api.external.tekton import VERSION as TEKTON_VERSION
from framework.conditions import Condition, ConditionStatus, parse_rfc3339, set_condition_wire
from framework.envtest.simulator.engine import ObjectKey, Stage, World
from framework.envtest.simulator.objects import conditions_of, deleting, meta, timestamp
from framework.informer import IndexFunc
from framework.resources import GroupVersionKind

__all__ = [
    "BUILD",
    "BUILD_RUN",
    "BUILD_START",
    "PIPELINE_RUN",
    "TEKTON_RUN",
    "TEKTON_START",
    "BuildsActor",
    "OpenShiftBuildActor",
    "TektonActor",
    "source_fails",
]

JSON = dict[str, Any]

PIPELINE_RUN: Final = GroupVersionKind(TEKTON_GROUP, TEKTON_VERSION, "PipelineRun")
BUILD: Final = GroupVersionKind(OPENSHIFT_GROUP, OPENSHIFT_VERSION, "Build")
TEKTON_START = Stage("tekton.start", 0.5)
TEKTON_RUN = Stage("tekton.run", 3.0)
BUILD_START = Stage("openshift.start", 0.5)
BUILD_RUN = Stage("openshift.build", 3.0)
DEFAULT_REGISTRY: Final = "image-registry.kubeloop.local"
_CANCEL_REQUESTS: Final = frozenset({"Cancelled", "CancelledRunFinally", "StoppedRunFinally"})


def source_fails(*sources: object) -> bool:
    """The failure convention: one of the build's sources contains `fail`."""
    return any("fail" in str(source or "").lower() for source in sources)


def _digest(obj: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(str(meta(obj).get("uid")).encode()).hexdigest()


async def _after(
    world: World, key: ObjectKey, obj: JSON, stage: Stage, mutate: Callable[[JSON], None]
) -> float | None:
    """After `stage`: write `mutate`'s status change and record the stage."""
    left = world.remaining(key, stage)
    if left:
        return left
    await world.patch_status(obj, mutate)
    world.reached(key, stage)
    return None


class _OwnKind:
    """An actor looking at each object of its one kind."""

    kinds: tuple[GroupVersionKind, ...] = ()

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        return [ObjectKey.of(obj)]


def _succeeded(run: JSON, status: ConditionStatus, reason: str, message: str, world: World) -> None:
    conditions: list[JSON] = run.setdefault("status", {}).setdefault("conditions", [])
    condition = Condition(type=SUCCEEDED, status=status, reason=reason, message=message)
    set_condition_wire(conditions, condition, world.clock.wall())


class TektonActor(_OwnKind):
    """Plays Tekton Pipelines for PipelineRuns (see the module docstring)."""

    name = "tekton"
    kinds = (PIPELINE_RUN,)

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        run = await world.get(key)
        if run is None or deleting(run):
            return None
        state = next((c for c in conditions_of(run) if c.get("type") == SUCCEEDED), None)
        if state is not None and state.get("status") != "Unknown":
            return None
        spec = run.get("spec") or {}
        if spec.get("status") in _CANCEL_REQUESTS:
            message = f"PipelineRun {key.name} was cancelled"
            await world.patch_status(
                run, lambda r: self._finish(r, world, "False", "Cancelled", message)
            )
            return None
        if state is None:

            def started(r: JSON) -> None:
                r.setdefault("status", {})["startTime"] = timestamp(world.clock)
                _succeeded(r, "Unknown", "Running", "Tasks Completed: 0, Skipped: 0", world)

            return await _after(world, key, run, TEKTON_START, started)
        params = {p.get("name"): p.get("value") for p in spec.get("params") or []}
        pipeline = (spec.get("pipelineRef") or {}).get("name")
        if source_fails(params.get("git-url"), params.get("git-revision"), pipeline) or (
            world.fails(key, TEKTON_RUN)
        ):
            message = "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0"
            return await _after(
                world,
                key,
                run,
                TEKTON_RUN,
                lambda r: self._finish(r, world, "False", "Failed", message),
            )
        image = params.get("image") or f"{DEFAULT_REGISTRY}/{key.namespace}/{key.name}:latest"

        def succeeded(r: JSON) -> None:
            r.setdefault("status", {})["results"] = [
                {"name": "IMAGE_URL", "value": image},
                {"name": "IMAGE_DIGEST", "value": _digest(r)},
            ]
            self._finish(r, world, "True", "Succeeded", "Tasks Completed: 1, Skipped: 0")

        return await _after(world, key, run, TEKTON_RUN, succeeded)

    @staticmethod
    def _finish(
        run: JSON, world: World, status: ConditionStatus, reason: str, message: str
    ) -> None:
        run.setdefault("status", {})["completionTime"] = timestamp(world.clock)
        _succeeded(run, status, reason, message, world)


_BUILD_DONE: Final = frozenset({"Complete", "Failed", "Error", "Cancelled"})


class OpenShiftBuildActor(_OwnKind):
    """Plays OpenShift's build controller for Builds (see the module docstring)."""

    name = "openshift-builds"
    kinds = (BUILD,)

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        build = await world.get(key)
        if build is None or deleting(build):
            return None
        status = build.get("status") or {}
        phase = status.get("phase")
        if phase in _BUILD_DONE:
            return None
        if status.get("cancelled"):
            await world.patch_status(build, lambda b: self._finish(b, world, "Cancelled"))
            return None
        if phase != "Running":

            def started(b: JSON) -> None:
                b.setdefault("status", {}).update(
                    phase="Running", startTimestamp=timestamp(world.clock)
                )

            return await _after(world, key, build, BUILD_START, started)
        git = ((build.get("spec") or {}).get("source") or {}).get("git") or {}
        if source_fails(git.get("uri"), git.get("ref")) or world.fails(key, BUILD_RUN):

            def failed(b: JSON) -> None:
                self._finish(b, world, "Failed")
                b["status"].update(
                    reason="GenericBuildFailed",
                    message="Generic Build failure - check logs for details.",
                )

            return await _after(world, key, build, BUILD_RUN, failed)
        image = (((build.get("spec") or {}).get("output") or {}).get("to") or {}).get("name")

        def complete(b: JSON) -> None:
            self._finish(b, world, "Complete")
            if image:
                b["status"]["outputDockerImageReference"] = image

        return await _after(world, key, build, BUILD_RUN, complete)

    @staticmethod
    def _finish(build: JSON, world: World, phase: str) -> None:
        status = build.setdefault("status", {})
        now = timestamp(world.clock)
        status.update(phase=phase, completionTimestamp=now)
        started = status.get("startTimestamp")
        if started:
            elapsed = parse_rfc3339(now) - parse_rfc3339(started)
            status["duration"] = int(elapsed.total_seconds() * 1e9)


class BuildsActor:
    """Both build systems as one actor (`builds`): PipelineRuns as `TektonActor`, Builds as
    `OpenShiftBuildActor`."""

    name = "builds"
    kinds: tuple[GroupVersionKind, ...] = (PIPELINE_RUN, BUILD)

    def __init__(self) -> None:
        self._by_kind: dict[GroupVersionKind, TektonActor | OpenShiftBuildActor] = {
            PIPELINE_RUN: TektonActor(),
            BUILD: OpenShiftBuildActor(),
        }

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        return [ObjectKey.of(obj)]

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        return await self._by_kind[key.gvk].reconcile(world, key)
