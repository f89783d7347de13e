"""The simulator engine: actors that play the parts of a cluster that are not the API.

An `Actor` names the kinds it watches, maps each change of a watched object to the keys it must
look at (`keys_for`), and moves one key a step towards its simulated end state (`reconcile`),
returning when it wants to look again. The engine runs one shared informer per watched kind (a
`framework.cache.Cache`, so reads wait for the actor's own writes) and, per actor, one
`RateLimitingQueue` with a few workers. Actors are therefore level-triggered and must be
idempotent: a key is reconciled after every change that maps to it and whenever its actor
asked, never by two workers at once; a reconcile that raises is retried under the queue's rate
limiter (a Conflict is expected and logged quietly). An actor that also has
`keys_for_update(world, old, new)` (see `UpdateMapper`) maps updates itself, from both states,
so that changes its reconciles would ignore cause none.

Reads of one object wait for the writes of it that any actor of the simulator has in flight
(then for the cache to hold them), so that one actor does not act on a state another actor is
replacing at that moment (e.g. the kubelet readying a Node that Karpenter is registering). The
add event of an object an actor created while reconciling a key does not map back to that key:
that reconcile knew what it created (like a ReplicaSet controller's expectations).

Time: each simulated step is a `Stage` with a default duration. `World.remaining(key, stage)`
starts the stage's timer the first time it is asked and returns the seconds left (0: the stage
may happen now); `World.reached(key, stage)` records that it happened. `StageTiming` scales the
defaults or overrides them by stage name; `StageTiming.zero()` makes every stage immediate.
Timers and failure decisions of an object are dropped when it is deleted.

Failures: `FailureInjection` gives each actor a probability that a stage where the actor allows
failure fails (`World.fails`), drawn once per object and stage from an RNG seeded with the
seed and the actor's name, so a run is reproducible. Off by default.

Actors for foreign systems register as factories (a class or function taking no arguments) in
the entry-point group `kubeloop.simulators`; `actors_from_entry_points` instantiates them.

Metrics (on the registry given to `Simulator`): `kubeloop_simulator_reconciles_total{actor,
result}` (result: success, conflict, error), `kubeloop_simulator_stages_total{actor, kind,
stage}`, `kubeloop_simulator_injected_failures_total{actor, stage}`, the informers' and the
work queues' (named `simulator-<actor>`).
"""

from __future__ import annotations

import asyncio
import builtins
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, NamedTuple, Protocol, runtime_checkable

import structlog
from prometheus_client import CollectorRegistry, Counter

from framework.cache import Cache
from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.errors import AlreadyExists, Conflict, NotFound
from framework.informer import (
    EventHandler,
    IndexFunc,
    Informer,
    Store,
    index_by_owner_uid,
    resource_version_of,
)
from framework.metrics import per_registry
from framework.resources import GroupVersionKind
from framework.status import StatusWriter
from framework.workqueue import RateLimitingQueue, ShutDown

JSON = dict[str, Any]
ENTRY_POINT_GROUP = "kubeloop.simulators"
STATUS_ATTEMPTS = 5
"""How many times `World.patch_status` sends a status that meets Conflicts."""
OWNER_UID_INDEX = "simulator.ownerUID"
"""Index on every watched kind: objects filed under each owner reference's uid."""

_log = structlog.get_logger("kubeloop.simulator")


_KINDS: dict[tuple[str, str], GroupVersionKind] = {}
"""The kinds of the objects seen, by (apiVersion, kind): one value for each, parsed once."""


def kind_of(obj: Mapping[str, Any]) -> GroupVersionKind:
    """The kind of an object given in wire form."""
    found = (str(obj.get("apiVersion")), str(obj.get("kind")))
    gvk = _KINDS.get(found)
    if gvk is None:
        gvk = _KINDS[found] = GroupVersionKind.from_api_version(*found)
    return gvk


class ObjectKey(NamedTuple):
    """One object: kind, name and namespace ("" when cluster-scoped). A tuple: keys are made
    for every event and reconcile, and hashed on every queue and timer operation."""

    gvk: GroupVersionKind
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        """The key of an object given in wire form."""
        meta = obj.get("metadata") or {}
        return cls(kind_of(obj), str(meta.get("name") or ""), str(meta.get("namespace") or ""))

    @classmethod
    def from_store_key(cls, gvk: GroupVersionKind, key: str) -> ObjectKey:
        """The key of an informer store's "namespace/name" (or "name") entry."""
        namespace, _, name = key.rpartition("/")
        return cls(gvk, name, namespace)

    @property
    def store_key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{self.gvk.kind} {self.store_key}"


_reconciling: ContextVar[ObjectKey | None] = ContextVar("simulator_reconciling", default=None)
"""The key the current task reconciles (None outside reconciles)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """A step of a simulated lifecycle and how long it takes by default, in seconds."""

    name: str
    default: float


@dataclass(frozen=True)
class StageTiming:
    """How long stages take: `delays[stage.name]` when given, else the stage's default times
    `scale`. The defaults (about 0.5-3 s) bring a sample to its end state within about a
    minute; `zero()` makes every stage immediate (benchmarks)."""

    scale: float = 1.0
    delays: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scale < 0 or any(delay < 0 for delay in self.delays.values()):
            raise ValueError("stage delays cannot be negative")

    @classmethod
    def zero(cls) -> StageTiming:
        return cls(scale=0.0)

    def delay(self, stage: Stage) -> float:
        explicit = self.delays.get(stage.name)
        return explicit if explicit is not None else stage.default * self.scale


@dataclass(frozen=True)
class FailureInjection:
    """Random stage failures: actor name -> probability (0..1) that a stage the actor lets fail
    does fail; decisions come from RNGs seeded with `seed` and the actor's name."""

    probabilities: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        if any(not 0.0 <= p <= 1.0 for p in self.probabilities.values()):
            raise ValueError("failure probabilities must be within 0..1")

    def rng(self, actor: str) -> random.Random:
        return random.Random(f"{self.seed}:{actor}")


class Actor(Protocol):
    """A part of the cluster the simulator plays (see the module docstring).

    `name` labels logs, metrics and the actor's queue; `kinds` are the kinds whose changes it
    hears; `indexers()` are indexes it reads through `World.by_index` and `World.indexed_keys`
    (the first index added under a name is kept: actors sharing a name must mean the same
    index). `keys_for(world, obj)` runs in the informer's event handler (synchronously: read
    with `World.peek` and `World.indexed_keys`; `obj` is shared with the other actors and must
    not be modified) for every change of a watched object, including its deletion (the object
    is then already gone from the cache); `reconcile(world, key)` returns the seconds after
    which to look at `key` again (None: only on the next change).
    """

    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> Sequence[GroupVersionKind]: ...

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]: ...

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]: ...

    async def reconcile(self, world: World, key: ObjectKey) -> float | None: ...


@runtime_checkable
class UpdateMapper(Protocol):
    """An actor that maps an update of a watched object from its old and new states (instead
    of `keys_for(world, new)`), so that changes none of its reconciles would act on map to no
    key. Same rules as `keys_for`; adds and deletes still go through `keys_for`."""

    def keys_for_update(self, world: World, old: JSON, new: JSON) -> Iterable[ObjectKey]: ...


@dataclass(frozen=True, slots=True)
class _Metrics:
    reconciles: Counter
    stages: Counter
    failures: Counter


@per_registry
def _metrics_of(registry: CollectorRegistry) -> _Metrics:
    return _Metrics(
        reconciles=Counter(
            "kubeloop_simulator_reconciles",
            "Simulator reconciles by actor and result (success, conflict, error).",
            ["actor", "result"],
            registry=registry,
        ),
        stages=Counter(
            "kubeloop_simulator_stages",
            "Simulated lifecycle stages reached, by actor, kind and stage.",
            ["actor", "kind", "stage"],
            registry=registry,
        ),
        failures=Counter(
            "kubeloop_simulator_injected_failures",
            "Stage failures injected by the simulator, by actor and stage.",
            ["actor", "stage"],
            registry=registry,
        ),
    )


class _Writing:
    """The tasks writing one object, and the event of the next end of one (once a reader
    waits)."""

    __slots__ = ("ended", "writers")

    def __init__(self) -> None:
        self.writers: list[asyncio.Task[Any] | None] = []
        self.ended: asyncio.Event | None = None


class _Sending:
    """The context of one task's write of one object (see `WritesInFlight.sending`)."""

    __slots__ = ("_key", "_table", "_writer", "_writing")

    def __init__(self, table: dict[ObjectKey, _Writing], key: ObjectKey) -> None:
        self._table = table
        self._key = key

    def __enter__(self) -> None:
        writing = self._table.get(self._key)
        if writing is None:
            writing = self._table[self._key] = _Writing()
        self._writing = writing
        self._writer = asyncio.current_task()
        writing.writers.append(self._writer)

    def __exit__(self, *exc_info: object) -> None:
        writing = self._writing
        writing.writers.remove(self._writer)
        if not writing.writers:
            del self._table[self._key]
        if writing.ended is not None:
            writing.ended.set()
            writing.ended = None


class WritesInFlight:
    """The writes the simulator's actors are sending, by object: `World` reads of an object
    wait until no other task is writing it (see the module docstring; a task's own write does
    not hold up its reads, so a mutation may read what it writes). One per simulator."""

    def __init__(self) -> None:
        self._writing: dict[ObjectKey, _Writing] = {}

    def sending(self, key: ObjectKey) -> _Sending:
        """A context in which the current task writes `key`."""
        return _Sending(self._writing, key)

    def busy(self, key: ObjectKey) -> bool:
        """Whether a task other than the current one is writing `key`."""
        writing = self._writing.get(key)
        if writing is None:
            return False
        reader = asyncio.current_task()
        return any(writer is not reader for writer in writing.writers)

    async def wait(self, key: ObjectKey) -> None:
        """Return once no task other than the current one is writing `key`."""
        while self.busy(key):
            writing = self._writing[key]
            if writing.ended is None:
                writing.ended = asyncio.Event()
            await writing.ended.wait()


class World:
    """What one actor sees and does: cached reads, writes the cache will reflect, stage timers,
    injected failures, logging. Reads return copies the caller owns; reads of a missing object
    return None; deletes of a missing object are no-ops. `get` waits for the writes of the
    object in flight in `writes` (the simulator's, shared by its worlds), which every write
    through the world joins. An object of one of `kinds` (those the actor watches) created
    while reconciling a key is remembered until its add event (see `created_by`)."""

    def __init__(
        self,
        actor: str,
        client: Client,
        cache: Cache,
        *,
        timing: StageTiming,
        clock: Clock,
        failures: FailureInjection,
        registry: CollectorRegistry,
        writes: WritesInFlight | None = None,
        kinds: Iterable[GroupVersionKind] = (),
    ) -> None:
        self.actor = actor
        self.client = client
        self.cache = cache
        self._status_writer = StatusWriter(client, observer=cache, attempts=STATUS_ATTEMPTS)
        self.timing = timing
        self.clock = clock
        self.log = _log.bind(actor=actor)
        self._failure_probability = failures.probabilities.get(actor, 0.0)
        self._rng = failures.rng(actor)
        self._metrics = _metrics_of(registry)
        self._writes = writes if writes is not None else WritesInFlight()
        self._stage_counts: dict[tuple[str, str], Counter] = {}
        self._informers: dict[GroupVersionKind, Informer] = {}
        self._watched = frozenset(kinds)
        self._creators: dict[ObjectKey, tuple[str, ObjectKey]] = {}
        self._timers: dict[ObjectKey, dict[str, float]] = {}
        self._decisions: dict[ObjectKey, dict[str, bool]] = {}

    # -- reads --

    async def get(self, key: ObjectKey) -> JSON | None:
        while True:
            if self._writes.busy(key):
                await self._writes.wait(key)
            try:
                found = await self.cache.get(key.gvk, key.name, namespace=key.namespace or None)
            except NotFound:
                found = None
            if not self._writes.busy(key):  # else a write began while the cache caught up
                return found

    async def list(
        self, gvk: GroupVersionKind, namespace: str | None = None
    ) -> builtins.list[JSON]:
        return await self.cache.list(gvk, namespace=namespace)

    async def by_index(self, gvk: GroupVersionKind, index: str, value: str) -> builtins.list[JSON]:
        return await self.cache.list_by_index(gvk, index, value)

    async def owned_by(
        self, gvk: GroupVersionKind, owner: Mapping[str, Any]
    ) -> builtins.list[JSON]:
        """Objects of `gvk` with an owner reference to `owner`'s uid."""
        uid = str((owner.get("metadata") or {}).get("uid") or "")
        return await self.by_index(gvk, OWNER_UID_INDEX, uid) if uid else []

    async def store(self, gvk: GroupVersionKind) -> Store:
        """The cached objects of `gvk` as a store, once it holds this simulator's writes (for
        reads through indexes that decode only what they need)."""
        return await self.cache.settled_store(gvk)

    def peek(self, key: ObjectKey) -> JSON | None:
        """The cached object, without waiting for pending writes (for `keys_for`)."""
        return self._informer(key.gvk).store.get(key.store_key)

    def holds(self, key: ObjectKey) -> bool:
        """Whether the cache holds the object, without waiting for pending writes (for
        `keys_for`: False when it maps a deletion)."""
        return key.store_key in self._informer(key.gvk).store

    def indexed_keys(
        self, gvk: GroupVersionKind, index: str, value: str
    ) -> builtins.list[ObjectKey]:
        """Keys of the cached objects filed under `value` in `index` (for `keys_for`)."""
        keys = self._informer(gvk).store.index_keys(index, value)
        return [ObjectKey.from_store_key(gvk, key) for key in keys]

    def _informer(self, gvk: GroupVersionKind) -> Informer:
        informer = self._informers.get(gvk)
        if informer is None:
            informer = self._informers[gvk] = self.cache.informer(gvk)
        return informer

    # -- writes --

    async def create(self, obj: JSON) -> JSON:
        with self._writes.sending(ObjectKey.of(obj)):
            created = await self.client.create(obj)
            self.cache.wrote(created)
        creator, key = _reconciling.get(), ObjectKey.of(created)
        if creator is not None and key.gvk in self._watched:
            self._creators[key] = (resource_version_of(created), creator)
        return created

    def created_by(self, obj: Mapping[str, Any]) -> ObjectKey | None:
        """For the add event of `obj`: the key whose reconcile created `obj` as it is (that
        reconcile knew it, so the event is no news to that key), else None. Forgets the
        creation either way."""
        found = self._creators.pop(ObjectKey.of(obj), None)
        if found is None or found[0] != resource_version_of(obj):
            return None
        return found[1]

    async def patch(self, key: ObjectKey, patch: JSON) -> JSON:
        """A JSON merge patch of the object (not its status)."""
        with self._writes.sending(key):
            patched = await self.client.patch(
                key.gvk, key.name, patch, namespace=key.namespace or None
            )
            self.cache.wrote(patched)
        return patched

    async def patch_status(self, obj: JSON, mutate: Callable[[JSON], object]) -> bool:
        """Run `mutate(obj)` and send the status it changed, through
        `framework.status.StatusWriter` (a merge patch of the `/status` subresource, locked when
        it holds a list, re-read and re-run on Conflict up to `STATUS_ATTEMPTS` times; `obj`
        takes the server's answer). Returns whether anything was written."""
        with self._writes.sending(ObjectKey.of(obj)):
            return await self._status_writer.patch_status(obj, mutate)

    async def delete(self, key: ObjectKey) -> bool:
        """Delete the object; False when it was already gone."""
        with self._writes.sending(key):
            try:
                await self.client.delete(key.gvk, key.name, namespace=key.namespace or None)
            except NotFound:
                found = False
            else:
                found = True
            self.cache.deleted(key.gvk, key.name, key.namespace or None)
        return found

    # -- stages --

    def remaining(self, key: ObjectKey, stage: Stage, factor: float = 1.0) -> float:
        """Seconds left before `stage` of `key` may happen (its delay times `factor`); the
        first call starts the stage's clock."""
        delay = self.timing.delay(stage) * factor
        if delay <= 0:
            return 0.0
        now = self.clock.now()
        started = self._timers.setdefault(key, {}).setdefault(stage.name, now)
        return max(0.0, started + delay - now)

    def reached(self, key: ObjectKey, stage: Stage, **details: Any) -> None:
        """`stage` of `key` happened: drop its timer, count and log it."""
        timers = self._timers.get(key)
        if timers is not None:
            timers.pop(stage.name, None)
            if not timers:
                del self._timers[key]
        counts = self._stage_counts.get((key.gvk.kind, stage.name))
        if counts is None:
            counts = self._metrics.stages.labels(self.actor, key.gvk.kind, stage.name)
            self._stage_counts[(key.gvk.kind, stage.name)] = counts
        counts.inc()
        self.log.info("stage reached", key=str(key), stage=stage.name, **details)

    def fails(self, key: ObjectKey, stage: Stage) -> bool:
        """Whether failure injection fails `stage` of `key` (decided once per key and stage)."""
        if self._failure_probability <= 0:
            return False
        decisions = self._decisions.setdefault(key, {})
        decision = decisions.get(stage.name)
        if decision is None:
            decision = decisions[stage.name] = self._rng.random() < self._failure_probability
            if decision:
                self._metrics.failures.labels(self.actor, stage.name).inc()
                self.log.info("failure injected", key=str(key), stage=stage.name)
        return decision

    def forget(self, key: ObjectKey) -> None:
        """Drop the timers, failure decisions and creation of `key` (it was deleted)."""
        self._timers.pop(key, None)
        self._decisions.pop(key, None)
        self._creators.pop(key, None)


class _Runner:
    """One actor's world, queue and workers."""

    def __init__(
        self,
        actor: Actor,
        world: World,
        queue: RateLimitingQueue[ObjectKey],
        reconciles: Counter,
    ) -> None:
        self.actor = actor
        self.world = world
        self.queue = queue
        self._mapper = actor if isinstance(actor, UpdateMapper) else None
        self._results = {
            result: reconciles.labels(actor.name, result)
            for result in ("success", "conflict", "error")
        }
        self._tasks: list[asyncio.Task[None]] = []

    def added(self, obj: JSON) -> None:
        creator = self.world.created_by(obj)
        keys = self.actor.keys_for(self.world, obj)
        self._enqueue(keys if creator is None else (key for key in keys if key != creator))

    def updated(self, old: JSON, new: JSON) -> None:
        if self._mapper is None:
            self._enqueue(self.actor.keys_for(self.world, new))
        else:
            self._enqueue(self._mapper.keys_for_update(self.world, old, new))

    def deleted(self, obj: JSON) -> None:
        self.world.forget(ObjectKey.of(obj))
        self._enqueue(self.actor.keys_for(self.world, obj))

    def _enqueue(self, keys: Iterable[ObjectKey]) -> None:
        for key in keys:
            self.queue.add(key)

    def start(self, workers: int) -> None:
        name = self.actor.name
        self._tasks = [
            asyncio.create_task(self._work(), name=f"simulator {name} {n}") for n in range(workers)
        ]

    async def stop(self) -> None:
        self.queue.shut_down()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            token = _reconciling.set(key)
            try:
                await self._reconcile(key)
            finally:
                _reconciling.reset(token)
                self.queue.done(key)

    async def _reconcile(self, key: ObjectKey) -> None:
        try:
            after = await self.actor.reconcile(self.world, key)
        except (Conflict, AlreadyExists) as error:
            self._results["conflict"].inc()
            self.world.log.debug("reconcile conflicted; retrying", key=str(key), error=str(error))
            self.queue.add_rate_limited(key)
            return
        except Exception:  # any failure: log with the key, retry under the rate limiter
            self._results["error"].inc()
            self.world.log.exception("reconcile failed; retrying", key=str(key))
            self.queue.add_rate_limited(key)
            return
        self._results["success"].inc()
        self.queue.forget(key)
        if after is not None:
            self.queue.add_after(key, after)


class Simulator:
    """Runs `actors` against the API `client` talks to (see the module docstring).

    `start()` starts the informers of every watched kind, waits (at most `sync_timeout`
    seconds) until they have listed, then starts `workers` workers per actor; `stop()` stops
    workers, then informers. Also an async context manager.
    """

    def __init__(
        self,
        client: Client,
        actors: Iterable[Actor],
        *,
        timing: StageTiming | None = None,
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
        failures: FailureInjection | None = None,
        workers: int = 4,
        sync_timeout: float = 60.0,
    ) -> None:
        self.actors = list(actors)
        names = [actor.name for actor in self.actors]
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique: {names}")
        self.timing = timing or StageTiming()
        registry = registry if registry is not None else CollectorRegistry()
        self.cache = Cache(client, clock=clock, registry=registry)
        self._workers = workers
        self._sync_timeout = sync_timeout
        failures = failures or FailureInjection()
        writes = WritesInFlight()
        self._runners = [
            _Runner(
                actor,
                World(
                    actor.name,
                    client,
                    self.cache,
                    timing=self.timing,
                    clock=clock,
                    failures=failures,
                    registry=registry,
                    writes=writes,
                    kinds=actor.kinds,
                ),
                RateLimitingQueue(name=f"simulator-{actor.name}", clock=clock, registry=registry),
                _metrics_of(registry).reconciles,
            )
            for actor in self.actors
        ]

    def world(self, actor: str) -> World:
        """The world of the actor named `actor` (KeyError if there is none)."""
        for runner in self._runners:
            if runner.actor.name == actor:
                return runner.world
        raise KeyError(actor)

    async def start(self) -> None:
        informers: dict[GroupVersionKind, Informer] = {}
        listeners: dict[GroupVersionKind, list[_Runner]] = {}
        for runner in self._runners:
            indexers = runner.actor.indexers()
            for gvk in runner.actor.kinds:
                informer = informers.get(gvk)
                if informer is None:
                    informer = informers[gvk] = self.cache.informer(gvk)
                    _add_indexers(informer, {OWNER_UID_INDEX: index_by_owner_uid})
                _add_indexers(informer, indexers.get(gvk, {}))
                listeners.setdefault(gvk, []).append(runner)
        for gvk, runners in listeners.items():
            informers[gvk].add_handler(_handler(runners))
        await self.cache.start()
        try:
            async with asyncio.timeout(self._sync_timeout):
                await self.cache.wait_for_sync()
        except BaseException:
            await self.cache.stop()
            raise
        for runner in self._runners:
            runner.start(self._workers)
        _log.info("simulator started", actors=[runner.actor.name for runner in self._runners])

    async def stop(self) -> None:
        await asyncio.gather(*(runner.stop() for runner in self._runners))
        await self.cache.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _handler(runners: Sequence[_Runner]) -> EventHandler:
    """One handler for the actors watching a kind: they share each event's objects (actors
    only read them), so the informer decodes them once for all."""

    def each(call: Callable[..., None], *objects: JSON) -> None:
        for runner in runners:
            try:
                call(runner, *objects)
            except Exception:  # one actor's failure must not keep the event from the others
                runner.world.log.exception("mapping an event to keys failed")

    return EventHandler(
        on_add=lambda obj, _initial: each(_Runner.added, obj),
        on_update=lambda old, new: each(_Runner.updated, old, new),
        on_delete=lambda obj, _unknown: each(_Runner.deleted, obj),
    )


def _add_indexers(informer: Informer, indexers: Mapping[str, IndexFunc]) -> None:
    """Add the indexes the informer's store does not have yet (by name)."""
    store = informer.store
    for name, function in indexers.items():
        try:
            store.index_keys(name, "")
        except KeyError:
            store.add_indexers({name: function})


def actors_from_entry_points(group: str = ENTRY_POINT_GROUP) -> list[Actor]:
    """One actor from each factory registered in the entry-point `group`, in name order.
    A factory that cannot be loaded or called raises (a misconfigured plugin is an error)."""
    actors: list[Actor] = []
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        factory = entry.load()
        actors.append(factory())
    return actors
