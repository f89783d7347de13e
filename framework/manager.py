"""The Manager: one client, one shared cache, the controllers, the leader elector and the HTTP
servers of a controller process, started and stopped in order.

Start order: servers (probes answer from the first moment), the cache (every controller's
informers, so a standby replica keeps warm caches), then the controllers, only while leading
when leader election is configured. Stop runs in reverse: controllers stop taking requests and
in-flight reconciles get up to `graceful_shutdown_timeout` seconds to finish, then the elector
(releasing the Lease if configured), the cache, the servers.

`run()` returns after `stop()` once everything has stopped (cancelling `run()` stops at once,
without the graceful drain); it raises `LeaderElectionLost` when the Lease is lost, and the
start-up error (a bind failure, `CacheSyncTimeout`) when starting fails, after stopping what
had started. Only the CLI installs signal handlers and turns
errors into exit codes.

Each Manager records every metric on its own registry (the client's registry unless told
otherwise: give each manager its own client), so two managers can share a process.

Plugging a reconciler in (controller-runtime's SetupWithManager): a reconciler package exposes
a setup function taking the manager,

    def setup(manager: Manager) -> None:
        reconciler = WidgetReconciler(manager.context("widget"))  # a PhaseReconciler
        manager.build(ControllerBuilder().for_kind(Widget).owns(ConfigMap), reconciler)

(it may also be `async def`), and names it in the entry-point group `kubeloop.controllers`:

    [project.entry-points."kubeloop.controllers"]
    widget = "widgets.controller:setup"

`manager run` calls every registered setup (`--controllers` picks entry points by name) and
those named with `--module pkg.module` (its `setup`) or `--module pkg.module:function`; the
framework never imports controllers itself. `manager.build` builds a controller with the
manager's cache, registry, clock and tracker and adds it; `manager.add` adds one built
otherwise. A reconciler that exposes its `PhaseMachine` as the attribute `machine` gets it
served by the status API.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import structlog
from prometheus_client import CollectorRegistry

from framework.cache import Cache
from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.controller import Controller, ControllerBuilder, Reconciler
from framework.crdgen import pluralize
from framework.events import EventRecorder
from framework.informer import Informer, InformerOptions
from framework.leaderelection import LeaderElectionConfig, LeaderElector, default_identity
from framework.phase import PhaseMachine
from framework.reconciler import ReconcilerContext
from framework.resources import GroupVersionKind, ResourceInfo
from framework.server import Check, HttpServer, StatusApi, health_app, metrics_app
from framework.settings import BindAddress
from framework.tracker import StatusTracker

__all__ = [
    "CONTROLLERS_GROUP",
    "Manager",
    "ManagerOptions",
    "Setup",
    "SetupError",
    "load_setups",
]

CONTROLLERS_GROUP = "kubeloop.controllers"
DEFAULT_METRICS_ADDRESS = BindAddress("", 8080)
DEFAULT_HEALTH_ADDRESS = BindAddress("", 8081)

Setup = Callable[["Manager"], Awaitable[None] | None]

_log = structlog.get_logger("kubeloop.manager")


class SetupError(RuntimeError):
    """A reconciler's setup could not be found or loaded."""


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    """How a manager runs. An address of None disables that server; port 0 binds a free one.

    `leader_election`: None runs the controllers at once; otherwise they run only while this
    process holds the Lease (as the identity `leader_election` names). `identity` names this
    process in Events (reportingInstance). `informer_options`: the cache's informers' template.
    `max_concurrent_reconciles`: the workers per controller the settings ask for; setups pass
    it to their `ControllerOptions`. `namespaces`: the only namespaces the cache holds of
    namespaced kinds (empty: all; see `framework.cache`); the Lease and Events are unaffected.
    """

    metrics_address: BindAddress | None = DEFAULT_METRICS_ADDRESS
    health_address: BindAddress | None = DEFAULT_HEALTH_ADDRESS
    leader_election: LeaderElectionConfig | None = None
    graceful_shutdown_timeout: float = 30.0
    identity: str = field(default_factory=default_identity)
    informer_options: InformerOptions | None = None
    max_concurrent_reconciles: int = 1
    namespaces: tuple[str, ...] = ()


class Manager:
    """Runs controllers with their shared dependencies (see the module docstring).

    Attributes for setups: `client`, `cache`, `registry`, `tracker`, `clock`, `options`,
    `recorder(name)`, `context(name)` (a `PhaseReconciler`'s context). A manager runs once.
    """

    def __init__(
        self,
        client: Client,
        options: ManagerOptions | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.options = options or ManagerOptions()
        self.registry = registry if registry is not None else client.registry
        self.clock = clock
        self.cache = Cache(
            client,
            options=self.options.informer_options,
            namespaces=self.options.namespaces,
            clock=clock,
            registry=self.registry,
        )
        self.tracker = StatusTracker(clock)
        self.elector: LeaderElector | None = None
        if self.options.leader_election is not None:
            self.elector = LeaderElector(
                client, self.options.leader_election, clock=clock, registry=self.registry
            )
        self._controllers: dict[str, Controller] = {}
        self._informers: dict[str, list[Informer]] = {}
        self._servers: list[HttpServer] = []
        self._recorders: list[EventRecorder] = []
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._ran = False

    # -- assembly --

    def add(self, controller: Controller) -> None:
        """Add a controller; it starts with the manager (names are unique)."""
        self._check_open()
        if controller.name in self._controllers:
            raise ValueError(f"a controller named {controller.name!r} was already added")
        self._controllers[controller.name] = controller

    def _check_open(self) -> None:
        if self._ran:
            raise RuntimeError("controllers must be added before the manager runs")

    def build(self, builder: ControllerBuilder, reconciler: Reconciler) -> Controller:
        """Build a controller with the manager's cache, registry, clock and tracker; add it."""
        self._check_open()
        controller = builder.build(
            reconciler,
            cache=self.cache,
            registry=self.registry,
            clock=self.clock,
            tracker=self.tracker,
        )
        self.add(controller)
        return controller

    async def setup(self, *setups: Setup) -> None:
        """Run reconciler setup functions against this manager."""
        for setup in setups:
            result = setup(self)
            if inspect.isawaitable(result):
                await result

    def context(self, controller: str) -> ReconcilerContext:
        """What a `PhaseReconciler` named `controller` needs, from this manager."""
        context = ReconcilerContext.create(
            self.client,
            self.cache,
            controller=controller,
            instance=self.options.identity,
            registry=self.registry,
            tracker=self.tracker,
            clock=self.clock,
        )
        self._recorders.append(context.recorder)
        return context

    def recorder(self, controller: str) -> EventRecorder:
        """An event recorder reporting as `controller` from this manager's identity; its
        background writes are flushed when the manager stops."""
        recorder = EventRecorder(
            self.client, controller, self.options.identity, self.clock, self.registry
        )
        self._recorders.append(recorder)
        return recorder

    @property
    def controllers(self) -> tuple[Controller, ...]:
        return tuple(self._controllers.values())

    def controller(self, name: str) -> Controller | None:
        return self._controllers.get(name)

    # -- addresses --

    def _server(self, name: str) -> HttpServer | None:
        return next((s for s in self._servers if s.name == name), None)

    @property
    def metrics_url(self) -> str | None:
        """The metrics server's base URL once started (None when disabled or not bound)."""
        server = self._server("metrics")
        return None if server is None else server.url

    @property
    def health_url(self) -> str | None:
        """The health-probe server's base URL once started (None when disabled or not bound)."""
        server = self._server("health")
        return None if server is None else server.url

    @property
    def metrics_address(self) -> BindAddress | None:
        """The address the metrics server bound (port 0 resolved), None before."""
        server = self._server("metrics")
        return None if server is None else server.address

    @property
    def health_address(self) -> BindAddress | None:
        """The address the health-probe server bound (port 0 resolved), None before."""
        server = self._server("health")
        return None if server is None else server.address

    # -- lifecycle --

    async def wait_started(self) -> None:
        """Wait until the servers are bound and the cache is started."""
        await self._started.wait()

    async def start(self) -> asyncio.Task[None]:
        """`run()` in a new task, returned once the manager has started; the start-up error
        is raised instead when `run()` fails first. Stop with `stop()`, then await the task."""
        task = asyncio.create_task(self.run(), name="manager")
        started = asyncio.create_task(self.wait_started())
        try:
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            started.cancel()
        if task.done():
            task.result()
        return task

    def stop(self) -> None:
        """Ask `run()` to shut down (gracefully, see the module docstring)."""
        self._stop.set()

    async def run(self) -> None:
        """Start everything, serve until `stop()`, then stop everything (module docstring)."""
        if self._ran:
            raise RuntimeError("a manager runs once")
        self._ran = True
        leading: asyncio.Task[None] | None = None
        failure: BaseException | None = None
        grace = self.options.graceful_shutdown_timeout
        try:
            await self._start_servers()
            for controller in self._controllers.values():
                self._informers[controller.name] = [
                    self.cache.informer(watch.kind, watch.scope) for watch in controller.watches
                ]
            await self.cache.start()
            leading = asyncio.create_task(self._lead(), name="manager: controllers")
            self._started.set()
            _log.info("manager started", controllers=sorted(self._controllers))
            stopping = asyncio.create_task(self._stop.wait())
            try:
                await asyncio.wait({leading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if leading.done() and not leading.cancelled():
                failure = leading.exception()
        except asyncio.CancelledError:
            grace = 0.0
            raise
        finally:
            await self._shutdown(leading, grace)
        if failure is not None:
            raise failure

    async def _start_servers(self) -> None:
        options = self.options
        if options.health_address is not None:
            app = health_app(self.readiness)
            self._servers.append(HttpServer("health", app, options.health_address))
        if options.metrics_address is not None:
            status = StatusApi(self.tracker, self.kind_of, self.machine_of, self.clock)
            app = metrics_app(self.registry, status)
            self._servers.append(HttpServer("metrics", app, options.metrics_address))
        for server in self._servers:
            await server.start()
            _log.info("serving", server=server.name, url=server.url)

    async def _lead(self) -> None:
        if self.elector is None:
            await self._run_controllers()
        else:
            await self.elector.run(self._run_controllers)

    async def _run_controllers(self) -> None:
        await asyncio.gather(*(c.run() for c in self._controllers.values()))
        await self._stop.wait()

    async def _shutdown(self, leading: asyncio.Task[None] | None, grace: float) -> None:
        self._stop.set()
        drained = await asyncio.gather(*(c.stop(grace) for c in self._controllers.values()))
        if not all(drained):
            _log.warning("graceful shutdown timed out; in-flight reconciles were cancelled")
        if leading is not None:
            leading.cancel()
            await asyncio.gather(leading, return_exceptions=True)
        await self._flush_events(max(grace, 1.0))
        await self.cache.stop()
        for server in reversed(self._servers):
            await server.stop()
        _log.info("manager stopped")

    async def _flush_events(self, within: float) -> None:
        """Let events recorded in the background reach the API server (bounded)."""
        try:
            async with asyncio.timeout(within):
                await asyncio.gather(*(recorder.flush() for recorder in self._recorders))
        except TimeoutError:
            _log.warning("events still unwritten at shutdown were dropped")

    # -- views for the servers --

    def readiness(self) -> list[Check]:
        """One check per controller: its informers have synced, or it waits for a CRD (which
        does not block readiness); failing until the manager has started."""
        if not self._started.is_set() or self._stop.is_set():
            return [Check("manager", False, "not running")]
        checks = []
        for name, informers in self._informers.items():
            missing = [str(i.gvk) for i in informers if i.waiting_for_kind]
            if missing:
                detail = f"waiting for CRD of {', '.join(missing)} (not blocking)"
                checks.append(Check(f"controller-{name}", True, detail))
            elif all(i.has_synced for i in informers):
                checks.append(Check(f"controller-{name}", True, "caches synced"))
            else:
                checks.append(Check(f"controller-{name}", False, "caches not synced"))
        return checks

    def _resource_infos(self) -> Iterable[ResourceInfo]:
        for controller in self._controllers.values():
            for watch in controller.watches:
                if isinstance(watch.kind, ResourceInfo):
                    yield watch.kind
                elif isinstance(watch.kind, type):
                    yield watch.kind.resource_info()
        yield from self.client.resources

    def resource_info(self, gvk: GroupVersionKind) -> ResourceInfo | None:
        """What the manager knows of `gvk`: from the controllers' watches or the client."""
        return next((info for info in self._resource_infos() if info.gvk == gvk), None)

    def kind_of(self, group: str, plural: str) -> str | None:
        """The kind served as `plural` in `group`: a watched or known resource, else a
        tracked kind whose conventional plural matches."""
        for info in self._resource_infos():
            if (info.group, info.plural) == (group, plural):
                return info.kind
        for status in self.tracker.list():
            if status.key.group == group and pluralize(status.key.kind) == plural:
                return status.key.kind
        return None

    def machine_of(self, controller: str) -> PhaseMachine | None:
        """The phase machine of a controller's reconciler (its `machine` attribute), if any."""
        found = self._controllers.get(controller)
        machine = getattr(found.reconciler, "machine", None) if found else None
        return machine if isinstance(machine, PhaseMachine) else None


def _load_module_setup(spec: str) -> Setup:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SetupError(f"--module {spec}: cannot import {module_name}: {error}") from error
    setup = getattr(module, attribute or "setup", None)
    if not callable(setup):
        raise SetupError(f"--module {spec}: {module_name} has no setup function")
    loaded: Setup = setup
    return loaded


def load_setups(modules: Sequence[str] = (), names: Sequence[str] = ()) -> dict[str, Setup]:
    """Setup functions by name: every entry point of `kubeloop.controllers`, then each of
    `modules` ("pkg.module" for its `setup`, or "pkg.module:function"), named by the module
    spec; only those named in `names`, when given. SetupError when one cannot be loaded or a
    name in `names` is neither registered nor given as a module."""
    wanted = set(names)
    setups: dict[str, Setup] = {}
    for point in entry_points(group=CONTROLLERS_GROUP):
        if wanted and point.name not in wanted:
            continue
        try:
            setups[point.name] = point.load()
        except Exception as error:
            raise SetupError(f"entry point {point.name} = {point.value}: {error}") from error
    for spec in modules:
        if not wanted or spec in wanted:
            setups[spec] = _load_module_setup(spec)
    unknown = sorted(wanted - set(setups))
    if unknown:
        raise SetupError(f"no controller registered as {', '.join(unknown)}")
    return setups
