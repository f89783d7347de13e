"""`PhaseReconciler`: a reconciler that dispatches on its object's `status.phase`.

A subclass declares the kind it reconciles, a `PhaseMachine` and one handler per phase:

    class BuildReconciler(PhaseReconciler[dict[str, Any]]):
        kind = GroupVersionKind("example.com", "v1", "Build")
        machine = BUILD_MACHINE
        finalizer = "kubeloop.dev/build"

        @on_phase("Pending")
        async def pending(self, obj: dict[str, Any]) -> Result | None:
            return await self.transition_phase(obj, "Running", "build started")

        @on_phase("Running")
        async def running(self, obj: dict[str, Any]) -> Result | None:
            return Result(requeue_after=10)  # poll

Handlers are checked against the machine when the class is defined (`InvalidReconciler`): a
handler for an unknown, terminal or deletion phase, or, in explicit mode, a non-terminal phase
without a handler (failed phases and the deletion phase excepted) is an error.

One reconcile, in order: read the object through the cache (read-your-own-writes; a missing
object is forgotten by the tracker); if it is being deleted, enter `deletion_phase` (from any
phase: deletion is not an edge), run `finalize` and remove the finalizer when it is done;
otherwise add the finalizer, then enter the initial phase (setting `startTime`), or re-enter
it after a timeout failure whose generation has moved on (`startTime` reset), or migrate a
legacy phase name (one status patch; a legacy name is never written); fail the object when a
phase timeout (from `phaseTransitionTime`) or the machine's deadline (from `startTime`) has
expired; dispatch to the current phase's handler (terminal phases are not dispatched); in
derived-phase mode move to the phase the rules give; finally write `observedGeneration` and
the kstatus conditions if they are stale (an up-to-date object costs no request). These last
two steps are what every status write does, so they are skipped when the handler's last write
did them (`set_conditions`, or any write without a rule table) and the status has not changed
since. The result
requeues no later than the time left on the nearest timeout, so timeouts fire without events.

Every status write goes through `StatusWriter.patch_status` (one merge patch) and leaves
`observedGeneration`, `phase`, `message`, `phaseTransitionTime`, `startTime` and the
conditions `Ready` (True exactly in `ready_phases`), `Reconciling` (True until settled: in a
ready or failed phase, or a terminal phase other than the deletion phase) and `Stalled` (True
exactly in `failed_phases`) in the stored status. Their reason is the phase (a timeout's
reason for a timeout failure); a write that changes neither phase nor message keeps them.
Handler exceptions propagate (the controller rate-limits them); the tracker records the error
and the conditions are left as they were.

Derived-phase mode (the machine has a rule table): handlers report what they see with
`set_conditions`, which writes the conditions and the phase the rules give for them in one
patch, so phase never contradicts conditions; the end of each reconcile re-evaluates the
rules (time-based rules are evaluated then, but do not schedule a requeue of their own).
Terminal and failed phases are not derived: a failed phase is left by a restart after a
timeout (or a handler), never by the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ConditionStatus,
    condition_entry,
    parse_rfc3339,
    set_condition_entry,
    to_rfc3339,
    valid_entry,
)
from framework.controller import Result, TerminalError
from framework.errors import NotFound
from framework.events import EventRecorder, EventType
from framework.finalizers import ensure_finalizer, has_finalizer, remove_finalizer
from framework.handlers import Request
from framework.metrics import per_registry
from framework.models import KubeObject
from framework.phase import (
    Limit,
    PhaseMachine,
    TimeoutVerdict,
    UnknownPhase,
    timeout_condition,
)
from framework.resources import GroupVersionKind
from framework.selectors import FieldSelector, LabelSelector
from framework.status import StatusWriter
from framework.tracker import ObjectKey, StatusTracker

__all__ = [
    "DEFAULT_READY_PHASES",
    "InvalidReconciler",
    "PhaseReconciler",
    "ReadCache",
    "ReconcilerContext",
    "on_phase",
]

JSON = dict[str, Any]
T = TypeVar("T", bound=KubeObject | dict[str, Any])
Handler = Callable[[Any, Any], Awaitable[Result | None]]
H = TypeVar("H", bound=Handler)

DEFAULT_READY_PHASES = frozenset({"Running", "Ready", "Succeeded"})
_FRAMEWORK_CONDITIONS = (READY, RECONCILING, STALLED)
_RESERVED_FIELDS = frozenset(
    {
        "phase",
        "message",
        "phaseTransitionTime",
        "startTime",
        "conditions",
        "observedGeneration",
    }
)
_PHASES_ATTRIBUTE = "__kubeloop_phases__"
# Phase durations run from seconds to days.
_DURATION_BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

_log = structlog.get_logger("kubeloop.reconciler")


class InvalidReconciler(TypeError):
    """A PhaseReconciler declaration that does not fit its machine; names every problem."""


class ReadCache(Protocol):
    """Cache-backed reads with read-your-own-writes (`framework.cache.Cache` is one)."""

    async def get(self, kind: Any, name: str, *, namespace: str | None = None) -> Any: ...

    async def list(
        self,
        kind: Any,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> list[Any]: ...

    def wrote(self, obj: KubeObject | JSON) -> None: ...

    def deleted(self, kind: Any, name: str, namespace: str | None = None) -> None: ...


@dataclass(frozen=True)
class ReconcilerContext:
    """What a PhaseReconciler uses; the Manager builds one per controller (see `create`).

    `status_writer` should report its writes to `cache` (its observer), or reads after a
    transition may see the object from before it.
    """

    client: Client
    cache: ReadCache
    status_writer: StatusWriter
    recorder: EventRecorder
    tracker: StatusTracker
    clock: Clock = REAL_CLOCK
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    @classmethod
    def create(
        cls,
        client: Client,
        cache: ReadCache,
        *,
        controller: str,
        instance: str,
        registry: CollectorRegistry,
        tracker: StatusTracker | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> ReconcilerContext:
        """A context writing status through `client` (observed by `cache`) and recording
        events as `controller`/`instance`."""
        return cls(
            client=client,
            cache=cache,
            status_writer=StatusWriter(client, observer=cache),
            recorder=EventRecorder(client, controller, instance, clock, registry),
            tracker=tracker if tracker is not None else StatusTracker(clock),
            clock=clock,
            registry=registry,
        )


def on_phase(*phases: str) -> Callable[[H], H]:
    """Register the decorated `async def handler(self, obj) -> Result | None` for `phases`."""
    if not phases:
        raise InvalidReconciler("on_phase needs at least one phase")

    def register(handler: H) -> H:
        setattr(handler, _PHASES_ATTRIBUTE, tuple(phases))
        return handler

    return register


@dataclass(frozen=True)
class _Metrics:
    transitions: Counter
    durations: Histogram


@per_registry
def _metrics_of(registry: CollectorRegistry) -> _Metrics:
    """The phase metric families of `registry`, created on first use."""
    return _Metrics(
        transitions=Counter(
            "phase_transitions",
            "Phase transitions written, by controller and from/to phase.",
            ["controller", "from", "to"],
            registry=registry,
        ),
        durations=Histogram(
            "phase_duration_seconds",
            "Seconds objects spent in a phase, observed when they leave it.",
            ["controller", "phase"],
            registry=registry,
            buckets=_DURATION_BUCKETS,
        ),
    )


@dataclass(frozen=True)
class _Change:
    """A status write. `phase` None: keep the phase, or with `derive` (in derived mode) take
    the rules'. `forced`: skip the edge check (deletion). `restart`: reset startTime.
    `fields`: other status fields to set."""

    phase: str | None = None
    message: str | None = None
    conditions: tuple[Condition, ...] = ()
    derive: bool = False
    forced: bool = False
    restart: bool = False
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Outcome:
    """What the last run of a status mutation did (it may be re-run after a conflict)."""

    from_phase: str | None = None
    to_phase: str | None = None
    entered: datetime | None = None
    left_since: datetime | None = None
    message: str = ""


def _wire(obj: KubeObject | JSON) -> JSON:
    """The object's wire form (for a dict: the dict itself; read it, do not change it)."""
    return obj.to_dict() if isinstance(obj, KubeObject) else obj


def _encoded_status(obj: KubeObject | JSON) -> bytes:
    return orjson.dumps(_status(_wire(obj)))


def _status(wire: Mapping[str, Any]) -> Mapping[str, Any]:
    status = wire.get("status")
    return status if isinstance(status, Mapping) else {}


def _generation(wire: Mapping[str, Any]) -> int | None:
    generation = (wire.get("metadata") or {}).get("generation")
    return generation if isinstance(generation, int) else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _combine(result: Result, time_left: float | None) -> Result:
    """`result`, requeued no later than `time_left` (None: no limit). An immediate requeue,
    and a rate-limited one (whose delay is the limiter's), are kept as they are."""
    if time_left is None or result.immediate or result.requeue:
        return result
    if result.requeue_after is not None and 0 < result.requeue_after <= time_left:
        return result
    return Result(requeue_after=time_left)


class PhaseReconciler(Generic[T]):
    """Phase dispatch over one kind (see the module docstring).

    Class attributes: `kind` (a GroupVersionKind: objects are wire dicts; a KubeObject class:
    objects are its instances), `machine`, `finalizer` (None: no finalizer, no deletion
    handling), `deletion_phase` (entered when deletion starts; None: none), `ready_phases`
    (None: those of `DEFAULT_READY_PHASES` the machine has), `failed_phases` (None: "Failed"
    and the failure phases of the machine's limits) and `controller_name` (default: the kind
    in lower case, as `ControllerBuilder` names controllers).
    """

    kind: ClassVar[GroupVersionKind | type[KubeObject]]
    machine: ClassVar[PhaseMachine]
    finalizer: ClassVar[str | None] = None
    deletion_phase: ClassVar[str | None] = None
    ready_phases: ClassVar[frozenset[str] | None] = None
    failed_phases: ClassVar[frozenset[str] | None] = None
    controller_name: ClassVar[str] = ""
    _handlers: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            own: dict[str, str] = {}
            for name, value in vars(klass).items():
                for phase in getattr(value, _PHASES_ATTRIBUTE, ()):
                    if phase in own:
                        raise InvalidReconciler(
                            f"{cls.__name__}: two handlers for phase {phase!r}: "
                            f"{own[phase]} and {name}"
                        )
                    own[phase] = name
            handlers.update(own)
        cls._handlers = handlers
        if isinstance(getattr(cls, "machine", None), PhaseMachine):
            cls._validate()

    @classmethod
    def _validate(cls) -> None:
        machine = cls.machine
        known = set(machine.phases)
        problems = [f"handler for unknown phase {p!r}" for p in cls._handlers if p not in known]
        special = {"ready_phases": cls.ready_phases, "failed_phases": cls.failed_phases}
        for attribute, declared in special.items():
            if declared is not None and (extra := set(declared) - known):
                problems.append(f"{attribute} names unknown phases {sorted(extra)}")
        deletion = cls.deletion_phase
        if deletion is not None and deletion not in known:
            problems.append(f"deletion_phase {deletion!r} is unknown")
        if deletion is not None and cls.finalizer is None:
            problems.append("deletion_phase needs a finalizer (deletion is handled only then)")
        for phase in cls._handlers.keys() & known:
            if machine.is_terminal(phase):
                problems.append(f"handler for terminal phase {phase!r} (never dispatched)")
            elif phase == deletion:
                problems.append(f"handler for deletion phase {phase!r} (use finalize)")
        if machine.rules is None:
            failed = cls._failed_phases()
            missing = [
                p
                for p in machine.phases
                if p not in cls._handlers
                and not machine.is_terminal(p)
                and p not in failed
                and p != deletion
            ]
            problems += [f"no handler for non-terminal phase {p!r}" for p in missing]
        if problems:
            raise InvalidReconciler(f"{cls.__name__}: " + "; ".join(problems))

    @classmethod
    def _ready_phases(cls) -> frozenset[str]:
        declared = cls.ready_phases
        return declared if declared is not None else DEFAULT_READY_PHASES & set(cls.machine.phases)

    @classmethod
    def _failed_phases(cls) -> frozenset[str]:
        if cls.failed_phases is not None:
            return cls.failed_phases
        machine = cls.machine
        limits: list[Limit] = [*machine.timeouts.values()]
        if machine.deadline is not None:
            limits.append(machine.deadline)
        failures = {limit.failure_phase for limit in limits}
        return frozenset(failures | ({"Failed"} & set(machine.phases)))

    def __init__(self, context: ReconcilerContext, *, name: str | None = None) -> None:
        cls = type(self)
        if not isinstance(getattr(cls, "machine", None), PhaseMachine):
            raise InvalidReconciler(f"{cls.__name__} declares no PhaseMachine (machine = ...)")
        if not hasattr(cls, "kind"):
            raise InvalidReconciler(f"{cls.__name__} declares no kind")
        self.context = context
        self.gvk = (
            cls.kind if isinstance(cls.kind, GroupVersionKind) else cls.kind.resource_info().gvk
        )
        self.name = name or cls.controller_name or self.gvk.kind.lower()
        self._ready = cls._ready_phases()
        self._failed = cls._failed_phases()
        self._metrics = _metrics_of(context.registry)
        self._log = _log.bind(controller=self.name)
        # The status (encoded) after the last write of a reconcile in progress that also did
        # the end-of-reconcile work, by id() of the reconcile's object.
        self._settled: dict[int, bytes] = {}

    # -- overridable hooks ---------------------------------------------------------------

    async def finalize(self, obj: T) -> bool | Result:
        """Clean up before deletion: True when done (the finalizer is then removed), False to
        retry (rate limited), or a Result to come back as it says. Default: nothing to do."""
        return True

    # -- the reconcile -------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result:
        """One pass over the object named by `request` (see the module docstring)."""
        try:
            found = await self.context.cache.get(
                self.kind, request.name, namespace=request.namespace or None
            )
        except NotFound:
            key = ObjectKey(self.gvk.group, self.gvk.kind, request.namespace, request.name)
            self.context.tracker.forget(key, self.name)
            return Result()
        obj = cast(T, found)
        try:
            return await self._reconcile(obj)
        except Exception as error:
            self.context.tracker.record_error(self.name, ObjectKey.of(_wire(obj)), error)
            raise
        finally:
            self._settled.pop(id(obj), None)

    async def _reconcile(self, obj: T) -> Result:
        if (_wire(obj).get("metadata") or {}).get("deletionTimestamp"):
            return await self._delete(obj)
        if self.finalizer is not None and not has_finalizer(obj, self.finalizer):
            await ensure_finalizer(self.context.client, obj, self.finalizer)
            self.context.cache.wrote(obj)
        phase = self._phase(obj)
        restart = self.machine.restart_after_timeout(_wire(obj))
        if phase is None:
            await self.transition_phase(obj, self.machine.initial, "initialized")
        elif restart is not None:
            message = "restarted: the spec changed after a timeout"
            await self._transition(obj, _Change(restart, message, restart=True))
        elif self._raw_phase(obj) != phase:
            await self._write(obj, _Change())  # migrates the legacy name, and only that
        verdict = self._timeouts(obj)
        if verdict.expired is not None:
            return await self._expire(obj, verdict.expired)
        result = await self._dispatch(obj)
        settled = self._settled.get(id(obj))
        done = settled is not None and settled == _encoded_status(obj)
        if not done and (await self._transition(obj, _Change(derive=True))).immediate:
            result = Result.now()
        current = self._phase(obj)
        if current is not None:
            message = str(_status(_wire(obj)).get("message") or "")
            self.context.tracker.record(self.name, ObjectKey.of(_wire(obj)), current, message)
        return _combine(result, self._timeouts(obj).requeue_after)

    async def _dispatch(self, obj: T) -> Result:
        phase = self._phase(obj)
        handler_name = self._handlers.get(phase or "")
        if phase is None or handler_name is None or self.machine.is_terminal(phase):
            return Result()
        handler = cast(Handler, getattr(type(self), handler_name))
        return await handler(self, obj) or Result()

    async def _delete(self, obj: T) -> Result:
        finalizer = self.finalizer
        if finalizer is None or not has_finalizer(obj, finalizer):
            return Result()
        deletion = self.deletion_phase
        if deletion is not None and self._phase(obj) != deletion:
            await self._transition(obj, _Change(deletion, "deleting", forced=True))
        done = await self.finalize(obj)
        if isinstance(done, Result):
            return done
        if not done:
            return Result(requeue=True)
        await remove_finalizer(self.context.client, obj, finalizer)
        meta = _wire(obj).get("metadata") or {}
        self.context.cache.deleted(self.kind, meta.get("name", ""), meta.get("namespace"))
        self._log.info("finalized", object=str(ObjectKey.of(_wire(obj))))
        return Result()

    async def _expire(self, obj: T, limit: Limit) -> Result:
        phase = self._phase(obj)
        held = "the object's deadline" if limit is self.machine.deadline else f"phase {phase}"
        message = f"{limit.reason}: {held} ran out"
        generation = _generation(_wire(obj))
        conditions = (
            timeout_condition(limit, generation, message),
            Condition(type=READY, status="False", reason=limit.reason, message=message),
        )
        return await self.transition_phase(obj, limit.failure_phase, message, conditions=conditions)

    # -- phase transitions and status writes ---------------------------------------------

    async def transition_phase(
        self,
        obj: T,
        new_phase: str,
        message: str,
        conditions: Iterable[Condition] = (),
    ) -> Result:
        """Move `obj` to `new_phase`: validate the edge (IllegalTransition: nothing written),
        write phase, message, phaseTransitionTime and conditions in one merge patch, record
        the transition (tracker, Event written in the background, metrics, log) and return
        `Result.now()`, so the new phase's handler runs next. Staying in the phase updates
        message and conditions only, and returns `Result()` (an immediate requeue would
        spin)."""
        return await self._transition(obj, _Change(new_phase, message, tuple(conditions)))

    async def set_conditions(
        self,
        obj: T,
        conditions: Iterable[Condition],
        message: str | None = None,
        status: Mapping[str, Any] | None = None,
    ) -> Result:
        """Write `conditions` (and `message`, if given), and set the top-level `status` fields
        given (not those the framework writes: ValueError) in the same patch. In derived-phase
        mode the phase the rules give for them is written in that patch too, as a transition.
        Returns `Result.now()` when the phase changed, else `Result()`."""
        reserved = sorted(_RESERVED_FIELDS.intersection(status or {}))
        if reserved:
            raise ValueError(f"status fields {reserved} are written by the framework")
        change = _Change(None, message, tuple(conditions), derive=True, fields=status or {})
        return await self._transition(obj, change)

    async def _transition(self, obj: T, change: _Change) -> Result:
        outcome = await self._write(obj, change)
        if outcome is None or outcome.from_phase == outcome.to_phase:
            return Result()
        await self._record_transition(obj, outcome)
        return Result.now()

    async def _write(self, obj: T, change: _Change) -> _Outcome | None:
        """Run `change` through the status writer; the outcome of the mutation that was
        written (None when nothing was)."""
        outcome = _Outcome()

        def mutate(target: T) -> None:
            if isinstance(target, KubeObject):
                wire = target.to_dict()
                self._mutate(wire, change, outcome)
                fresh = type(target).model_validate(wire)
                setattr(target, "status", getattr(fresh, "status", None))  # noqa: B010 - status is not declared on KubeObject
            else:
                self._mutate(target, change, outcome)

        written = await self.context.status_writer.patch_status(obj, mutate)
        if change.derive or self.machine.rules is None:
            self._settled[id(obj)] = _encoded_status(obj)
        return outcome if written else None

    def _mutate(self, wire: JSON, change: _Change, outcome: _Outcome) -> None:
        """Apply `change` to `wire["status"]`; fill `outcome`. Raises IllegalTransition."""
        status = wire.get("status")
        if not isinstance(status, dict):
            status = wire["status"] = {}
        current = self._resolve(status.get("phase"))
        target = change.phase
        conditions = status.get("conditions")
        if not isinstance(conditions, list):
            conditions = []
        now = self.context.clock.wall()
        generation = _generation(wire)
        for condition in change.conditions:
            if condition.type not in _FRAMEWORK_CONDITIONS:
                set_condition_entry(conditions, _own_entry(condition, generation), now)
        status.update(change.fields)
        message = change.message
        rules = self.machine.rules
        if change.derive and rules is not None and self._derives(current):
            seen = {**wire, "status": {**status, "conditions": conditions}}
            target, rule = rules.evaluate(seen, now)
            if target != current and message is None:
                message = rule.describe() if rule else "no rule matched"
        target = target or current
        if target is None:
            return
        if not change.forced:
            self.machine.check(current, target)
        if status.get("phase") != target:
            status["phase"] = target
        stamp = None
        if target != current or change.restart or "phaseTransitionTime" not in status:
            outcome.left_since = _time(status.get("phaseTransitionTime"))
            status["phaseTransitionTime"] = stamp = to_rfc3339(now)
        if change.restart or "startTime" not in status:
            status["startTime"] = stamp or to_rfc3339(now)
        if message is not None or "message" not in status:
            status["message"] = message or ""
        message = str(status.get("message") or "")
        refresh = target != current or change.message is not None
        framework = self._framework_conditions(target, message, change, conditions, refresh)
        for entry in framework:
            if isinstance(entry, Condition):
                entry = entry.model_copy(update={"observed_generation": generation}).to_wire()
            elif generation is not None:
                entry["observedGeneration"] = generation
            set_condition_entry(conditions, entry, now)
        status["conditions"] = conditions
        if generation is not None:
            status["observedGeneration"] = generation
        outcome.from_phase, outcome.to_phase, outcome.entered = current, target, now
        outcome.message = message

    def _framework_conditions(
        self, phase: str, message: str, change: _Change, existing: list[JSON], refresh: bool
    ) -> list[Condition | JSON]:
        """Ready, Reconciling and Stalled for `phase` (wire entries without observedGeneration,
        or a condition of `change`). A condition of one of these types in `change` supplies
        reason and message, and must agree on status (else ValueError); unless `refresh`, an
        existing entry that agrees on status keeps its reason and message; otherwise the
        reason is the phase."""
        ready, failed = phase in self._ready, phase in self._failed
        settled = ready or failed or (self._terminal(phase) and phase != self.deletion_phase)
        computed = {READY: ready, RECONCILING: not settled, STALLED: failed}
        overrides = {c.type: c for c in change.conditions if c.type in _FRAMEWORK_CONDITIONS}
        conditions: list[Condition | JSON] = []
        for type_, value in computed.items():
            status: ConditionStatus = "True" if value else "False"
            override = overrides.get(type_)
            if override is not None and override.status != status:
                raise ValueError(
                    f"condition {type_}={override.status} contradicts phase {phase!r} "
                    f"(the framework keeps {type_}={status} there)"
                )
            kept = None if refresh else _agreeing(existing, type_, status)
            fresh = condition_entry(type_, status, phase, message)
            conditions.append(override or kept or fresh)
        return conditions

    async def _record_transition(self, obj: T, outcome: _Outcome) -> None:
        from_phase, to_phase = outcome.from_phase, outcome.to_phase
        assert to_phase is not None
        key = ObjectKey.of(_wire(obj))
        context = self.context
        context.tracker.record(self.name, key, to_phase, outcome.message)
        self._metrics.transitions.labels(self.name, from_phase or "", to_phase).inc()
        if from_phase is not None and outcome.left_since and outcome.entered:
            held = (outcome.entered - outcome.left_since).total_seconds()
            self._metrics.durations.labels(self.name, from_phase).observe(max(held, 0.0))
        event_type: EventType = "Warning" if to_phase in self._failed else "Normal"
        note = f"{from_phase or '(none)'} -> {to_phase}: {outcome.message}"
        await context.recorder.event(obj, event_type, to_phase, "PhaseTransition", note, wait=False)
        self._log.info(
            "phase transition",
            object=str(key),
            from_phase=from_phase,
            to_phase=to_phase,
            message=outcome.message,
        )

    # -- reading the object --------------------------------------------------------------

    def _resolve(self, raw: object) -> str | None:
        if raw is None:
            return None
        try:
            return self.machine.resolve(str(raw))[0]
        except UnknownPhase as error:
            raise TerminalError(f"status.phase: {error}") from error

    def _raw_phase(self, obj: T) -> object:
        return _status(_wire(obj)).get("phase")

    def _phase(self, obj: T) -> str | None:
        """The current phase of `obj`, legacy names resolved; TerminalError if unknown."""
        return self._resolve(self._raw_phase(obj))

    def _terminal(self, phase: str | None) -> bool:
        return phase is not None and self.machine.is_terminal(phase)

    def _derives(self, phase: str | None) -> bool:
        """Whether the rules decide the next phase: not before the initial phase, nor in a
        terminal or failed phase (left only by a restart after a timeout, or a handler)."""
        return phase is not None and not self._terminal(phase) and phase not in self._failed

    def _timeouts(self, obj: T) -> TimeoutVerdict:
        return self.machine.check_timeouts(_wire(obj), self.context.clock.wall())


def _agreeing(existing: list[JSON], type_: str, status: ConditionStatus) -> JSON | None:
    """The existing wire condition of `type_` as an entry without lastTransitionTime and
    observedGeneration, if it has `status` and is well formed."""
    for entry in existing:
        if entry.get("type") == type_ and entry.get("status") == status:
            if not valid_entry(entry):
                return None
            return condition_entry(type_, status, entry["reason"], entry.get("message", ""))
    return None


def _own_entry(condition: Condition, generation: int | None) -> JSON:
    """The wire entry of a handler's `condition`, observedGeneration defaulting to
    `generation`."""
    entry = condition.to_wire()
    if generation is not None and "observedGeneration" not in entry:
        entry["observedGeneration"] = generation
        if "lastTransitionTime" in entry:  # keep the wire form's key order
            entry["lastTransitionTime"] = entry.pop("lastTransitionTime")
    return entry
