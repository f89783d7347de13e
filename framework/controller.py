"""Controllers: a work queue of requests fed by informer events, drained by reconcile workers.

`Controller` attaches its watches (informers from the shared cache plus `framework.handlers`
mappers and predicates) to one `RateLimitingQueue[Request]` named after the controller, waits
for those informers to sync, then runs `max_concurrent_reconciles` workers. The queue hands a
key to one worker at a time, so a key is never reconciled concurrently.

What a reconcile's outcome does to its request (controller-runtime's semantics, plus "now"):

    raised an exception          add_rate_limited (backoff grows per key); the worker lives on
    raised TerminalError         no requeue (the key's backoff is forgotten)
    Result.now()                 forget, then add at once (not rate limited)
    Result(requeue_after=d > 0)  forget, then add_after(d)
    Result(requeue=True)         add_rate_limited
    Result()                     forget

A `requeue_after` of 0 or None is unset, as in controller-runtime. A reconcile that outlives
`reconcile_timeout` is cancelled and counted as an error. Every outcome is counted under
controller-runtime's metric names; each reconcile runs with structlog context variables
`controller`, `namespace`, `name` and `reconcile_id` bound, so the reconciler's own log lines
carry them (a reconcile id is UUID-shaped and unique: a random prefix per controller, then a
counter).

A watched kind whose CustomResourceDefinition is missing does not fail the controller: it logs
an error and waits (the cache sync timeout only runs while every kind is served), and starts
once the CRD appears; other controllers are unaffected.

`ControllerBuilder` assembles a controller in controller-runtime's builder style:

    ControllerBuilder().for_kind(Widget, predicates=[GenerationChanged()]).owns(ConfigMap)
        .watches(NodeClaim, requests_for_annotated_owner)
        .with_options(ControllerOptions(max_concurrent_reconciles=4))
        .build(reconciler, cache=cache, registry=registry)
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, Self

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from framework.cache import Scope
from framework.clock import REAL_CLOCK, Clock
from framework.errors import ApiError
from framework.handlers import (
    EnqueueRequestForObject,
    EnqueueRequestForOwner,
    EnqueueRequestsFromMapFunc,
    MapFunc,
    Predicate,
    Request,
    RequestMapper,
    event_handler,
)
from framework.informer import EventHandler
from framework.metrics import LeanCounter, LeanGauge, LeanHistogram, per_registry
from framework.models import KubeObject
from framework.ratelimit import RateLimiter
from framework.resources import GroupVersionKind, ResourceInfo
from framework.tracker import ControllerState, ObjectKey, StatusTracker
from framework.workqueue import RateLimitingQueue, ShutDown

__all__ = [
    "CacheSyncTimeout",
    "Controller",
    "ControllerBuilder",
    "ControllerOptions",
    "InformerCache",
    "ReconcileTimeout",
    "Reconciler",
    "Request",
    "Result",
    "SourceInformer",
    "TerminalError",
    "Watch",
]

Kind = type[KubeObject] | GroupVersionKind | ResourceInfo

_log = structlog.get_logger("kubeloop.controller")

# How often a controller waiting for its informers re-checks for a missing kind or a stop.
_SYNC_POLL = 0.1


@dataclass(frozen=True, slots=True)
class Result:
    """What a successful reconcile asks for: nothing (the default), a rate-limited requeue
    (`requeue=True`), a requeue after `requeue_after` seconds (> 0; 0 or None is unset), or,
    through `Result.now()`, an immediate requeue that is not rate limited. `immediate` wins
    over `requeue_after`, which wins over `requeue`."""

    requeue: bool = False
    requeue_after: float | None = None
    immediate: bool = False

    @classmethod
    def now(cls) -> Result:
        """Requeue at once, not rate limited (what a phase transition returns)."""
        return cls(immediate=True)


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix: the request is not requeued (a later
    event on the object enqueues it again). Counted as an error and as a terminal error."""


class ReconcileTimeout(TimeoutError):
    """The reconcile ran longer than the controller's `reconcile_timeout` and was cancelled."""


class CacheSyncTimeout(TimeoutError):
    """A served kind's informer did not sync within the controller's `cache_sync_timeout`."""


class Reconciler(Protocol):
    """Brings the world in line with the object named by `request`; the outcome is told by
    the `Result` returned or the exception raised (see the module docstring)."""

    async def reconcile(self, request: Request) -> Result: ...


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    """How a controller runs.

    `rate_limiter`: None gives the default controller limiter (it keeps per-key state, so
    never share one between controllers). `cache_sync_timeout`: seconds the informers may take
    to sync once their kinds are served. `reconcile_timeout`: None for no limit.
    `expected_errors`: exceptions that are ordinary failures; any other exception also counts
    as a panic (`controller_runtime_reconcile_panics_total`). `skip_name_validation` allows a
    second controller of the same name on one registry (their metrics then add up).
    """

    max_concurrent_reconciles: int = 1
    rate_limiter: RateLimiter | None = None
    cache_sync_timeout: float = 120.0
    reconcile_timeout: float | None = None
    expected_errors: tuple[type[Exception], ...] = (ApiError, aiohttp.ClientError, OSError)
    skip_name_validation: bool = False


class SourceInformer(Protocol):
    """What a controller needs of an informer (`framework.informer.Informer`)."""

    @property
    def gvk(self) -> GroupVersionKind: ...
    @property
    def has_synced(self) -> bool: ...
    @property
    def waiting_for_kind(self) -> bool: ...
    def add_handler(self, handler: EventHandler) -> None: ...
    async def wait_for_sync(self) -> None: ...


class InformerCache(Protocol):
    """Where a controller gets its shared informers (`framework.cache.Cache`); the cache
    starts them, and must be started for the controller's `start` to finish."""

    def informer(self, kind: Kind, scope: Scope | None = None) -> SourceInformer: ...


@dataclass(frozen=True, slots=True)
class Watch:
    """One event source: the informer of `kind` in `scope` (None: the cache's default for the
    kind), the mapper from objects to requests, and the predicates events must pass."""

    kind: Kind
    mapper: RequestMapper
    predicates: tuple[Predicate, ...] = ()
    scope: Scope | None = None


# --- metrics --------------------------------------------------------------------------------

_RESULTS = ("success", "error", "requeue", "requeue_after")

# controller-runtime's reconcile_time_seconds buckets.
_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7),
    *(0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0),
    *(9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)


@dataclass(frozen=True, slots=True)
class _Families:
    total: LeanCounter
    errors: LeanCounter
    terminal: LeanCounter
    panics: LeanCounter
    time: LeanHistogram
    max_concurrent: LeanGauge
    active: LeanGauge
    names: set[str] = field(default_factory=set)


@per_registry
def _families_of(registry: CollectorRegistry) -> _Families:
    one = ["controller"]
    return _Families(
        total=LeanCounter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller.",
            ["controller", "result"],
            registry,
        ),
        errors=LeanCounter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller.",
            one,
            registry,
        ),
        terminal=LeanCounter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller.",
            one,
            registry,
        ),
        panics=LeanCounter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics (unexpected exceptions) per controller.",
            one,
            registry,
        ),
        time=LeanHistogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller.",
            one,
            registry,
            buckets=_TIME_BUCKETS,
        ),
        max_concurrent=LeanGauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller.",
            one,
            registry,
        ),
        active=LeanGauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller.",
            one,
            registry,
        ),
    )


class _Metrics:
    """One controller's children of the metric families, every result label at 0 from the
    start (as controller-runtime initialises them)."""

    def __init__(self, name: str, families: _Families, workers: int) -> None:
        self.total = {result: families.total.labels(name, result) for result in _RESULTS}
        self.errors = families.errors.labels(name)
        self.terminal = families.terminal.labels(name)
        self.panics = families.panics.labels(name)
        self.time = families.time.labels(name)
        self.active = families.active.labels(name)
        families.max_concurrent.labels(name).set(workers)


# --- controller -----------------------------------------------------------------------------


def _reconcile_ids() -> Iterator[str]:
    """Unique reconcile ids in UUID form: a random uuid4's first 20 hex digits, then a counter
    (a fresh uuid4 per reconcile costs more than the rest of the bookkeeping)."""
    prefix = str(uuid.uuid4())[:24]
    return (f"{prefix}{count:012x}" for count in itertools.count())


class Controller:
    """Runs `reconciler` for the requests its watches produce (see the module docstring).

    Lifecycle: `start()` attaches the watches, waits for the informers to sync and starts the
    workers; `run()` is `start()` then serving until `stop()`; `stop(grace_period)` stops taking
    requests and lets in-flight reconciles finish for up to `grace_period` seconds before
    cancelling them. A controller starts once. `kind` (the primary kind, if any) names objects
    in the tracker's error records; the tracker, when given, follows the lifecycle
    (initializing, syncing, ready, error) and counts reconciles by result ("terminal" for a
    `TerminalError`).
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        cache: InformerCache,
        watches: Sequence[Watch],
        registry: CollectorRegistry,
        options: ControllerOptions | None = None,
        kind: GroupVersionKind | None = None,
        clock: Clock = REAL_CLOCK,
        tracker: StatusTracker | None = None,
    ) -> None:
        self.name = name
        self.reconciler = reconciler
        self.options = options or ControllerOptions()
        if self.options.max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        families = _families_of(registry)
        if name in families.names and not self.options.skip_name_validation:
            raise ValueError(f"a controller named {name!r} already exists on this registry")
        families.names.add(name)
        self.kind = kind
        self._cache = cache
        self.watches = tuple(watches)
        self._clock = clock
        self._tracker = tracker
        self._metrics = _Metrics(name, families, self.options.max_concurrent_reconciles)
        self.queue: RateLimitingQueue[Request] = RateLimitingQueue(
            self.options.rate_limiter, name=name, clock=clock, registry=registry
        )
        self._workers: list[asyncio.Task[None]] = []
        self._reconcile_ids = _reconcile_ids()
        self._started = False
        self._stopping = False
        self._log = _log.bind(controller=name)
        if tracker is not None:
            tracker.register_controller(name, queue_depth=self.queue.__len__)

    @property
    def running(self) -> bool:
        """Whether the workers are running (started and not stopped)."""
        return bool(self._workers) and not self._stopping

    # -- lifecycle --

    async def start(self) -> None:
        """Attach the watches, wait for their informers, start the workers. Returns once the
        workers run, or early when `stop()` is called meanwhile. Raises `CacheSyncTimeout`
        when a served kind does not sync within `cache_sync_timeout`."""
        if self._started:
            raise RuntimeError(f"controller {self.name} was already started")
        self._started = True
        informers: dict[int, SourceInformer] = {}
        for watch in self.watches:
            informer = self._cache.informer(watch.kind, watch.scope)
            informer.add_handler(event_handler(watch.mapper, self.queue, watch.predicates))
            informers[id(informer)] = informer
        self._set_state(ControllerState.SYNCING, "waiting for informers to sync")
        if not await self._wait_for_sync(list(informers.values())):
            return
        workers = self.options.max_concurrent_reconciles
        self._workers = [
            asyncio.create_task(self._worker(), name=f"controller {self.name} worker {index}")
            for index in range(workers)
        ]
        self._set_state(ControllerState.READY, f"{workers} workers running")
        self._log.info("starting workers", worker_count=workers)

    async def run(self) -> None:
        """`start()`, then serve until `stop()`. Cancelling `run` cancels the workers."""
        await self.start()
        if not self._workers:
            return
        try:
            await asyncio.wait(self._workers)
        except asyncio.CancelledError:
            for worker in self._workers:
                worker.cancel()
            raise

    async def stop(self, grace_period: float = 30.0) -> bool:
        """Stop taking requests (queued and delayed ones are dropped), wait up to
        `grace_period` seconds for in-flight reconciles, then cancel any left. True when all
        finished in time."""
        self._stopping = True
        self.queue.shut_down()
        if not self._workers:
            return True
        _, pending = await asyncio.wait(self._workers, timeout=grace_period)
        for worker in pending:
            worker.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            self._log.warning(
                "reconciles still running at the end of the drain were cancelled",
                cancelled=len(pending),
            )
        return not pending

    async def _wait_for_sync(self, informers: Sequence[SourceInformer]) -> bool:
        """Wait until every informer has synced: False if stopped meanwhile. The timeout is
        suspended while a kind is not served, and starts afresh when it appears."""
        loop = asyncio.get_running_loop()
        timeout = self.options.cache_sync_timeout
        deadline = loop.time() + timeout
        for informer in informers:
            missing = False
            while not informer.has_synced:
                if self._stopping:
                    return False
                if informer.waiting_for_kind:
                    if not missing:
                        self._kind_missing(informer.gvk)
                    missing = True
                    deadline = loop.time() + timeout
                elif loop.time() >= deadline:
                    message = f"timed out after {timeout} s waiting for {informer.gvk} to sync"
                    self._set_state(ControllerState.ERROR, message, error=message)
                    raise CacheSyncTimeout(message)
                try:
                    async with asyncio.timeout(_SYNC_POLL):
                        await informer.wait_for_sync()
                except TimeoutError:
                    continue
            if missing:
                self._log.info("kind is served now", kind=str(informer.gvk))
        return not self._stopping

    def _kind_missing(self, gvk: GroupVersionKind) -> None:
        message = f"waiting for {gvk}: the server does not serve it (CRD not installed?)"
        self._log.error(
            "controller cannot start: a watched kind is not served; waiting for its "
            "CustomResourceDefinition",
            kind=str(gvk),
        )
        self._set_state(ControllerState.SYNCING, message)

    def _set_state(self, state: ControllerState, message: str, error: str | None = None) -> None:
        if self._tracker is not None:
            self._tracker.set_controller_state(self.name, state, message, error)

    # -- workers --

    async def _worker(self) -> None:
        queue = self.queue
        while True:
            try:
                request = await queue.get()
            except ShutDown:
                return
            try:
                if not self._stopping:
                    await self._process(request)
            finally:
                queue.done(request)

    async def _process(self, request: Request) -> None:
        started = self._clock.now()
        self._metrics.active.inc()
        # bind/reset rather than bound_contextvars, which copies the whole context each time
        bound = structlog.contextvars.bind_contextvars(
            controller=self.name,
            namespace=request.namespace,
            name=request.name,
            reconcile_id=next(self._reconcile_ids),
        )
        try:
            result = await self._reconcile(request)
        except TerminalError as error:
            self._terminal(request, error)
        except asyncio.CancelledError as error:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the worker itself is being cancelled
            self._failed(request, error)  # a cancellation leaking out of the reconciler
        except Exception as error:
            self._failed(request, error)
        else:
            self._succeeded(request, result)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            self._metrics.active.dec()
            self._metrics.time.observe(self._clock.now() - started)

    async def _reconcile(self, request: Request) -> Result:
        limit = self.options.reconcile_timeout
        if limit is None:
            result = await self.reconciler.reconcile(request)
        else:
            result = await self._reconcile_within(request, limit)
        if not isinstance(result, Result):
            raise TypeError(f"reconcile returned {result!r}, not a Result")
        return result

    async def _reconcile_within(self, request: Request, limit: float) -> Result:
        try:
            async with asyncio.timeout(limit) as deadline:
                result = await self.reconciler.reconcile(request)
        except TimeoutError as error:
            if deadline.expired():
                raise ReconcileTimeout(f"reconcile took longer than {limit} s") from error
            raise
        return result

    def _count(self, result: str, tracked: str | None = None) -> None:
        self._metrics.total[result].inc()
        if self._tracker is not None:
            self._tracker.count_reconcile(self.name, tracked or result)

    def _record_error(self, request: Request, error: BaseException) -> None:
        self._metrics.errors.inc()
        if self._tracker is not None:
            group, kind = (self.kind.group, self.kind.kind) if self.kind else ("", "")
            key = ObjectKey(group, kind, request.namespace, request.name)
            self._tracker.record_error(self.name, key, error)

    def _terminal(self, request: Request, error: TerminalError) -> None:
        self.queue.forget(request)
        self._metrics.terminal.inc()
        self._count("error", "terminal")
        self._record_error(request, error)
        self._log.error(
            "reconciler error (terminal, not requeued)", request=str(request), exc_info=error
        )

    def _failed(self, request: Request, error: BaseException) -> None:
        self.queue.add_rate_limited(request)
        if not isinstance(error, self.options.expected_errors):
            self._metrics.panics.inc()
        self._count("error")
        self._record_error(request, error)
        self._log.error(
            "reconciler error",
            request=str(request),
            requeues=self.queue.num_requeues(request),
            exc_info=error,
        )

    def _succeeded(self, request: Request, result: Result) -> None:
        queue = self.queue
        if result.immediate:
            queue.forget(request)
            queue.add(request)
            self._count("requeue")
        elif result.requeue_after is not None and result.requeue_after > 0:
            queue.forget(request)
            queue.add_after(request, result.requeue_after)
            self._count("requeue_after")
        elif result.requeue:
            queue.add_rate_limited(request)
            self._count("requeue")
        else:
            queue.forget(request)
            self._count("success")


# --- builder --------------------------------------------------------------------------------


def _gvk(kind: Kind) -> GroupVersionKind:
    if isinstance(kind, GroupVersionKind):
        return kind
    if isinstance(kind, ResourceInfo):
        return kind.gvk
    return kind.resource_info().gvk


def _namespaced(kind: Kind) -> bool | None:
    """Whether `kind` is namespaced, None when only its GroupVersionKind is known."""
    if isinstance(kind, GroupVersionKind):
        return None
    info = kind if isinstance(kind, ResourceInfo) else kind.resource_info()
    return info.namespaced


@dataclass(frozen=True, slots=True)
class _Owned:
    kind: Kind
    predicates: tuple[Predicate, ...]
    scope: Scope | None
    controller_only: bool


class ControllerBuilder:
    """Assembles a `Controller` (controller-runtime's builder; see the module docstring).

    `for_kind` names the primary kind (its objects are the requests); `owns` watches objects
    whose owner reference names a primary object; `watches` maps any kind to requests with a
    mapper or a map function; `with_event_filter` adds predicates to every watch. The name
    defaults to the primary kind in lower case; without a primary kind it must be given.
    """

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._primary: Watch | None = None
        self._owned: list[_Owned] = []
        self._watches: list[Watch] = []
        self._filters: tuple[Predicate, ...] = ()
        self._options = ControllerOptions()

    def named(self, name: str) -> Self:
        self._name = name
        return self

    def for_kind(
        self, kind: Kind, *, predicates: Iterable[Predicate] = (), scope: Scope | None = None
    ) -> Self:
        if self._primary is not None:
            raise ValueError("for_kind may only be called once")
        self._primary = Watch(kind, EnqueueRequestForObject(), tuple(predicates), scope)
        return self

    def owns(
        self,
        kind: Kind,
        *,
        predicates: Iterable[Predicate] = (),
        scope: Scope | None = None,
        controller_only: bool = True,
    ) -> Self:
        self._owned.append(_Owned(kind, tuple(predicates), scope, controller_only))
        return self

    def watches(
        self,
        kind: Kind,
        handler: RequestMapper | MapFunc,
        *,
        predicates: Iterable[Predicate] = (),
        scope: Scope | None = None,
    ) -> Self:
        mapper = (
            handler if isinstance(handler, RequestMapper) else EnqueueRequestsFromMapFunc(handler)
        )
        self._watches.append(Watch(kind, mapper, tuple(predicates), scope))
        return self

    def with_event_filter(self, *predicates: Predicate) -> Self:
        self._filters += predicates
        return self

    def with_options(self, options: ControllerOptions) -> Self:
        self._options = options
        return self

    def build(
        self,
        reconciler: Reconciler,
        *,
        cache: InformerCache,
        registry: CollectorRegistry,
        clock: Clock = REAL_CLOCK,
        tracker: StatusTracker | None = None,
    ) -> Controller:
        watches = list(self._watches)
        primary = self._primary
        if primary is not None:
            watches.insert(0, primary)
        if self._owned:
            if primary is None:
                raise ValueError("owns needs the owner kind: call for_kind first")
            owner, namespaced = _gvk(primary.kind), _namespaced(primary.kind)
            for owned in self._owned:
                mapper = EnqueueRequestForOwner(
                    owner, controller_only=owned.controller_only, owner_namespaced=namespaced
                )
                watches.append(Watch(owned.kind, mapper, owned.predicates, owned.scope))
        if not watches:
            raise ValueError("a controller needs something to watch: call for_kind or watches")
        name = self._name or (_gvk(primary.kind).kind.lower() if primary is not None else "")
        if not name:
            raise ValueError("a controller without for_kind needs a name")
        if self._filters:
            watches = [replace(w, predicates=self._filters + w.predicates) for w in watches]
        return Controller(
            name,
            reconciler,
            cache=cache,
            watches=watches,
            registry=registry,
            options=self._options,
            kind=_gvk(primary.kind) if primary is not None else None,
            clock=clock,
            tracker=tracker,
        )
