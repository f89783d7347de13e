"""StatusTracker: what each controller last did to each object, and how each controller is.

Per object and controller it keeps the state (usually the phase), a message, when the state
was entered and last updated, the last error, free-form metadata and the last 20 state
transitions. Per controller it keeps a lifecycle state, reconcile counts by result and an
optional queue-depth provider. It is in-memory and pure (no API calls); HTTP views are built
on its snapshots elsewhere.

Every method is synchronous and never awaits, so each call is atomic with respect to the
other tasks on the event loop: the tracker is asyncio-safe without locks (it is not meant to
be shared between threads). Snapshots (`ObjectStatus`, `ControllerStatus`) are frozen copies;
changing the tracker later never changes a snapshot, and vice versa.
"""

from __future__ import annotations

import builtins
import copy
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from framework.clock import REAL_CLOCK, Clock

HISTORY_LIMIT = 20


@dataclass(frozen=True, order=True)
class ObjectKey:
    """An object's identity across API groups; namespace is "" for cluster-scoped objects."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        """The key of a wire object (apiVersion, kind, metadata.namespace/name)."""
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        metadata = obj.get("metadata") or {}
        return cls(
            group, str(obj.get("kind", "")), metadata.get("namespace") or "", metadata["name"]
        )

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"


@dataclass(frozen=True)
class Transition:
    """One state change; `from_state` is None for the first state recorded."""

    from_state: str | None
    to_state: str
    time: datetime
    message: str


@dataclass(frozen=True)
class ObjectStatus:
    """A snapshot of one object as seen by one controller.

    `state` and `state_entered` are None while only errors have been recorded.
    """

    controller: str
    key: ObjectKey
    state: str | None
    message: str
    state_entered: datetime | None
    last_updated: datetime
    error: str | None
    metadata: dict[str, Any]
    history: tuple[Transition, ...]


class ControllerState(StrEnum):
    """Lifecycle of a controller: starting, waiting for caches, working, or broken."""

    INITIALIZING = "initializing"
    SYNCING = "syncing"
    READY = "ready"
    ERROR = "error"


@dataclass(frozen=True)
class ControllerStatus:
    """A snapshot of one controller. `queue_depth` is None without a provider.

    `reconciles` counts reconciles by the result label the controller reports
    (e.g. "success", "error", "requeue", "requeue_after", "terminal").
    """

    name: str
    state: ControllerState
    message: str
    state_entered: datetime
    last_updated: datetime
    error: str | None
    reconciles: dict[str, int]
    queue_depth: int | None
    objects: int


@dataclass
class _ObjectRecord:
    state: str | None
    message: str
    state_entered: datetime | None
    last_updated: datetime
    history: deque[Transition]
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class _ControllerRecord:
    state: ControllerState
    message: str
    state_entered: datetime
    last_updated: datetime
    error: str | None = None
    reconciles: Counter[str] = field(default_factory=Counter)
    queue_depth: Callable[[], int] | None = None


def _error_text(error: str | BaseException) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"


class StatusTracker:
    """Per-object and per-controller state and history (see the module docstring)."""

    def __init__(self, clock: Clock = REAL_CLOCK, history_limit: int = HISTORY_LIMIT) -> None:
        self._clock = clock
        self._history_limit = history_limit
        self._objects: dict[ObjectKey, dict[str, _ObjectRecord]] = {}
        self._controllers: dict[str, _ControllerRecord] = {}

    # Objects ---------------------------------------------------------------------------

    def record(
        self,
        controller: str,
        key: ObjectKey,
        state: str,
        message: str = "",
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> ObjectStatus:
        """Record that `controller` holds `key` in `state`; a successful write clears the error.

        A new state is added to the history (the last `history_limit` are kept); writing the
        same state again only updates the message and last_updated. `metadata`, when given,
        replaces the stored metadata (a deep copy is kept).
        """
        now = self._clock.wall()
        record = self._object(controller, key, now)
        if state != record.state:
            record.history.append(Transition(record.state, state, now, message))
            record.state, record.state_entered = state, now
        record.message, record.last_updated, record.error = message, now, None
        if metadata is not None:
            record.metadata = copy.deepcopy(dict(metadata))
        return self._object_snapshot(controller, key, record)

    def record_error(
        self, controller: str, key: ObjectKey, error: str | BaseException
    ) -> ObjectStatus:
        """Record a failed reconcile; the state is kept and the error stays until `record`."""
        now = self._clock.wall()
        record = self._object(controller, key, now)
        record.error, record.last_updated = _error_text(error), now
        return self._object_snapshot(controller, key, record)

    def get(self, controller: str, key: ObjectKey) -> ObjectStatus | None:
        """The snapshot of `key` under `controller`, if tracked."""
        record = self._objects.get(key, {}).get(controller)
        return None if record is None else self._object_snapshot(controller, key, record)

    def forget(self, key: ObjectKey, controller: str | None = None) -> None:
        """Drop `key` (for one controller, or all): call when the object is deleted."""
        by_controller = self._objects.get(key)
        if by_controller is None:
            return
        if controller is None:
            by_controller.clear()
        else:
            by_controller.pop(controller, None)
        if not by_controller:
            del self._objects[key]

    def list(
        self, controller: str | None = None, state: str | None = None
    ) -> builtins.list[ObjectStatus]:
        """Snapshots ordered by (controller, key), optionally of one controller and state."""
        return sorted(
            (
                self._object_snapshot(name, key, record)
                for key, by_controller in self._objects.items()
                for name, record in by_controller.items()
                if controller in (None, name) and state in (None, record.state)
            ),
            key=lambda s: (s.controller, s.key),
        )

    def count_by_state(self, controller: str | None = None) -> dict[str, int]:
        """How many objects are in each state (objects with no state yet are not counted)."""
        return dict(
            Counter(s.state for s in self.list(controller) if s.state is not None),
        )

    def stuck(
        self, min_age: float, *, controller: str | None = None, exclude: Collection[str] = ()
    ) -> builtins.list[ObjectStatus]:
        """Objects whose state has not changed for at least `min_age` seconds.

        States in `exclude` (typically terminal phases) are never stuck.
        """
        cutoff = self._clock.wall() - timedelta(seconds=min_age)
        return [
            s
            for s in self.list(controller)
            if s.state is not None
            and s.state not in exclude
            and s.state_entered is not None
            and s.state_entered <= cutoff
        ]

    # Controllers -----------------------------------------------------------------------

    def register_controller(
        self, name: str, queue_depth: Callable[[], int] | None = None
    ) -> ControllerStatus:
        """Start tracking controller `name` (state initializing), or attach a depth provider.

        `queue_depth` is called on every snapshot and must be cheap (e.g. the queue's len).
        """
        record = self._controller(name)
        if queue_depth is not None:
            record.queue_depth = queue_depth
        return self._controller_snapshot(name, record)

    def set_controller_state(
        self, name: str, state: ControllerState, message: str = "", error: str | None = None
    ) -> ControllerStatus:
        """Move controller `name` to `state`; the error is replaced (None clears it)."""
        now = self._clock.wall()
        record = self._controller(name)
        if state != record.state:
            record.state, record.state_entered = state, now
        record.message, record.error, record.last_updated = message, error, now
        return self._controller_snapshot(name, record)

    def count_reconcile(self, name: str, result: str) -> None:
        """Count one reconcile of controller `name` with outcome label `result`."""
        record = self._controller(name)
        record.reconciles[result] += 1
        record.last_updated = self._clock.wall()

    def controller(self, name: str) -> ControllerStatus | None:
        """The snapshot of controller `name`, if registered."""
        record = self._controllers.get(name)
        return None if record is None else self._controller_snapshot(name, record)

    def controllers(self) -> builtins.list[ControllerStatus]:
        """Snapshots of every controller, by name."""
        return [self._controller_snapshot(n, r) for n, r in sorted(self._controllers.items())]

    # Internals ---------------------------------------------------------------------------

    def _object(self, controller: str, key: ObjectKey, now: datetime) -> _ObjectRecord:
        by_controller = self._objects.setdefault(key, {})
        record = by_controller.get(controller)
        if record is None:
            history: deque[Transition] = deque(maxlen=self._history_limit)
            record = by_controller[controller] = _ObjectRecord(None, "", None, now, history)
        return record

    def _controller(self, name: str) -> _ControllerRecord:
        record = self._controllers.get(name)
        if record is None:
            now = self._clock.wall()
            record = self._controllers[name] = _ControllerRecord(
                ControllerState.INITIALIZING, "", now, now
            )
        return record

    @staticmethod
    def _object_snapshot(controller: str, key: ObjectKey, record: _ObjectRecord) -> ObjectStatus:
        return ObjectStatus(
            controller=controller,
            key=key,
            state=record.state,
            message=record.message,
            state_entered=record.state_entered,
            last_updated=record.last_updated,
            error=record.error,
            metadata=copy.deepcopy(record.metadata),
            history=tuple(record.history),
        )

    def _controller_snapshot(self, name: str, record: _ControllerRecord) -> ControllerStatus:
        objects = sum(1 for by_controller in self._objects.values() if name in by_controller)
        return ControllerStatus(
            name=name,
            state=record.state,
            message=record.message,
            state_entered=record.state_entered,
            last_updated=record.last_updated,
            error=record.error,
            reconciles=dict(record.reconciles),
            queue_depth=None if record.queue_depth is None else record.queue_depth(),
            objects=objects,
        )
