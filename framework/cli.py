"""The `manager` command.

    manager run      [settings]                 run the registered controllers against a cluster
    manager local    [settings] [local flags]   ... against a local control plane of their own
    manager simulate [--kubeconfig PATH] [--actors A,B] [--no-kubelet]
                                                the cluster simulator against a cluster
    manager crds     [--output DIR] [--api NAME] CRDs of the registered API types
    manager rbac     [--output FILE]            the ClusterRole the registered controllers need

Settings are flags or `KUBELOOP_*` environment variables (`framework.settings`). Controllers
come from the entry-point group `kubeloop.controllers` and `--module` (see `framework.manager`
for the setup contract); API types from `kubeloop.apis` (each entry point a callable returning
a list of model classes); simulator actors from `kubeloop.simulators`.

`manager local` starts `framework.envtest.Environment` on loopback (state in SQLite under
`--data-dir` when given), installs the CRDs of every `--crd-dir` (default: config/crd/bases and
config/crd/external, those present), writes its kubeconfig to `.kubeloop/kubeconfig` (or
`--kubeconfig-out`), starts the cluster simulator with the framework kubelet and every
registered actor (unless `--no-simulator`; `--stage-scale` scales its stage delays), binds the
manager's servers to 127.0.0.1 when no host is given and prints `kubeconfig: PATH`,
`kubectl: ...` (a command to look at the objects) and `status API: URL`. With
`--apply-samples` it then creates the manifests of `--samples-dir`, prints `watch: ...` (a
kubectl command following them) and, whenever their phases change, a table of kind, name
and phase.

`--exit-after-settled` (implies `--apply-samples`) waits, at most `--settle-timeout` seconds,
until every sample has settled: it is in the phase its `kubeloop.dev/expected-phase`
annotation names or, without one, in a success phase (Running, Succeeded, Ready, or Cluster
API's Provisioned); a sample in a terminal phase (Succeeded, Failed) that is not its own
stops the wait early. It then stops, prints the final table under `final phases:`, and checks
every request the controllers made (the local API server's audit of the manager client's
user agent) against the rules of `--rbac-role` files (default config/rbac/role.yaml, plus
config/rbac/leader_election_role.yaml with leader election). Exit 0 when all settled and
every request is allowed, else 1 naming the samples and the requests.

`manager simulate` runs the simulator's actors (`--actors`: entry-point names, default all)
and, unless `--no-kubelet`, the framework kubelet against the cluster of the kubeconfig
(`--kubeconfig`, `KUBELOOP_KUBECONFIG`, else the default), printing `simulator running: ...`.

Clients identify themselves by user agent: `kubeloop-manager/<version>` (the controllers),
`kubeloop-simulator/<version>` and `kubeloop-cli/<version>` (sample apply and phase reads).

The first SIGINT or SIGTERM shuts down gracefully; a second one cancels at once. Exit codes:
0 after a clean shutdown, 1 when starting fails, leadership is lost, a check fails or a second
signal forced the exit, 2 for invalid settings or arguments; the reason is printed as one line
on stderr.

`--namespace` (repeatable) limits what the manager's cache holds of namespaced kinds to those
namespaces (cluster-scoped kinds are still watched cluster-wide; the Lease and Events are
unaffected); a Role in each namespace would then do for the namespaced rules, though `manager
rbac` still renders one ClusterRole. With `manager local --apply-samples`, samples in other
namespaces (a sample without one goes to "default") are not created, and the CLI says which.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes_asyncio.client import Configuration
from prometheus_client import CollectorRegistry, ProcessCollector

from framework.client import Client
from framework.crdgen import crd_to_yaml, generate_crds, write_crds
from framework.errors import AlreadyExists, ApiError, NotFound
from framework.leaderelection import LeaderElectionLost
from framework.logging import configure_logging
from framework.manager import Manager, ManagerOptions, SetupError, load_setups
from framework.models import KubeObject
from framework.rbac import (
    Permission,
    build_cluster_role,
    declared_permissions,
    framework_permissions,
    role_to_yaml,
)
from framework.resources import GroupVersionKind
from framework.settings import BindAddress, ManagerSettings, SettingsError

if TYPE_CHECKING:
    from framework.envtest import Environment
    from framework.envtest.simulator import Actor

__all__ = [
    "APIS_GROUP",
    "CheckFailed",
    "Sample",
    "load_api_kinds",
    "main",
    "permissions_of",
    "user_agent",
]

APIS_GROUP = "kubeloop.apis"
DEFAULT_CRD_DIRS = ("config/crd/bases", "config/crd/external")
DEFAULT_KUBECONFIG_OUT = ".kubeloop/kubeconfig"
DEFAULT_SAMPLES_DIR = "config/samples"
DEFAULT_ROLE = "config/rbac/role.yaml"
LEADER_ELECTION_ROLE = "config/rbac/leader_election_role.yaml"
ROLE_NAME = "manager-role"
LOOPBACK = "127.0.0.1"
EXPECTED_PHASE_ANNOTATION = "kubeloop.dev/expected-phase"
SUCCESS_PHASES = frozenset({"Running", "Succeeded", "Ready", "Provisioned"})
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
PHASE_POLL_INTERVAL = 1.0


class UsageError(ValueError):
    """Arguments that cannot work together (exit code 2)."""


class CheckFailed(RuntimeError):
    """`--exit-after-settled` found samples that did not settle or requests the role does not
    allow (exit code 1)."""


def user_agent(component: str) -> str:
    """The user agent of a kubeloop client: "kubeloop-<component>/<package version>"."""
    try:
        release = version("kubeloop")
    except PackageNotFoundError:
        release = "dev"
    return f"kubeloop-{component}/{release}"


MANAGER_AGENT = user_agent("manager")


# --- discovery ------------------------------------------------------------------------------


def load_api_kinds(names: Sequence[str] = ()) -> list[type[KubeObject]]:
    """The model classes of every `kubeloop.apis` entry point (only those in `names`, when
    given), in entry-point name order."""
    kinds: list[type[KubeObject]] = []
    points = sorted(entry_points(group=APIS_GROUP), key=lambda point: point.name)
    unknown = sorted(set(names) - {point.name for point in points})
    if unknown:
        raise UsageError(f"no API types registered as {', '.join(unknown)}")
    for point in points:
        if not names or point.name in names:
            kinds += point.load()()
    return kinds


def permissions_of(manager: Manager) -> list[Permission]:
    """What the manager's controllers need: each reconciler's declared permissions plus the
    framework's for each primary kind (found among the watches, the client's known kinds and
    the registered API types)."""
    api_kinds = {info.gvk: info for info in (k.resource_info() for k in load_api_kinds())}
    permissions: list[Permission] = []
    for controller in manager.controllers:
        permissions += declared_permissions(type(controller.reconciler))
        if controller.kind is not None:
            info = manager.resource_info(controller.kind) or api_kinds.get(controller.kind)
            if info is None:
                raise SetupError(f"controller {controller.name}: unknown kind {controller.kind}")
            permissions += framework_permissions(info)
    return permissions


def simulator_actors(names: Sequence[str] = (), *, kubelet: bool = True) -> list[Actor]:
    """The framework kubelet (unless not `kubelet`) and one actor from each factory of the
    `kubeloop.simulators` entry points named in `names` (default: all), in name order."""
    from framework.envtest.simulator import ENTRY_POINT_GROUP, Kubelet

    points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    unknown = sorted(set(names) - set(points))
    if unknown:
        raise UsageError(f"no simulator actor registered as {', '.join(unknown)}")
    actors: list[Actor] = [Kubelet()] if kubelet else []
    return actors + [points[name].load()() for name in sorted(names or points)]


# --- commands -------------------------------------------------------------------------------


def _manager_options(settings: ManagerSettings, *, loopback: bool) -> ManagerOptions:
    def bind(address: BindAddress | None) -> BindAddress | None:
        if address is not None and loopback and not address.host:
            return BindAddress(LOOPBACK, address.port)
        return address

    election = settings.leader_election_config() if settings.leader_elect else None
    return ManagerOptions(
        metrics_address=bind(settings.metrics_bind_address),
        health_address=bind(settings.health_probe_bind_address),
        leader_election=election,
        graceful_shutdown_timeout=settings.graceful_shutdown_timeout,
        max_concurrent_reconciles=settings.max_concurrent_reconciles,
        namespaces=tuple(settings.namespace),
    )


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


async def _new_manager(
    client: Client, settings: ManagerSettings, registry: CollectorRegistry, *, loopback: bool
) -> Manager:
    manager = Manager(client, _manager_options(settings, loopback=loopback), registry=registry)
    await manager.setup(*load_setups(settings.module, settings.controllers).values())
    return manager


@contextmanager
def _on_signals(first: Callable[[], None]) -> Iterator[None]:
    """Call `first` on the first SIGINT or SIGTERM; cancel the current task on the second."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            first()
        elif current is not None:
            current.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(
    manager: Manager,
    announce: Callable[[], Awaitable[None]],
    companion: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Run `manager` until a signal, calling `announce` once it started. `companion` runs
    after `announce`; when it returns the manager stops, and its exception is raised once the
    manager has stopped."""
    helper: asyncio.Task[None] | None = None
    with _on_signals(manager.stop):
        running = await manager.start()
        try:
            await announce()
            if companion is not None:
                helper = asyncio.create_task(companion())
                helper.add_done_callback(lambda _: manager.stop())
            await running
        except BaseException:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            raise
        finally:
            if helper is not None and not helper.done():
                helper.cancel()
                await asyncio.gather(helper, return_exceptions=True)
    if helper is not None and not helper.cancelled():
        helper.result()


async def _client(
    settings: ManagerSettings, component: str, registry: CollectorRegistry | None = None
) -> Client:
    options: dict[str, Any] = {"user_agent": user_agent(component)}
    if registry is not None:
        options["registry"] = registry
    if settings.kubeconfig is not None:
        return await Client.from_kubeconfig(settings.kubeconfig, **options)
    return await Client.from_default(**options)


async def _run(args: argparse.Namespace, settings: ManagerSettings) -> None:
    registry = _registry()
    async with await _client(settings, "manager", registry) as client:
        manager = await _new_manager(client, settings, registry, loopback=False)

        async def announce() -> None:
            _print(f"manager running: {', '.join(c.name for c in manager.controllers) or '-'}")
            _print_status_url(manager)

        await _serve(manager, announce)


# --- samples --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One applied sample object and the phase its annotation `kubeloop.dev/expected-phase`
    names (None: any success phase)."""

    gvk: GroupVersionKind
    name: str
    namespace: str | None
    expected: str | None

    def settled(self, phase: str | None) -> bool:
        return phase == self.expected if self.expected else phase in SUCCESS_PHASES

    def final(self, phase: str | None) -> bool:
        """Settled, or in a terminal phase it can no longer leave."""
        return self.settled(phase) or phase in TERMINAL_PHASES

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.gvk.kind} {name}"


def _read_manifests(directory: Path) -> list[dict[str, Any]]:
    """The objects in the YAML files of `directory` (kustomization.yaml excepted)."""
    return [
        doc
        for path in sorted(directory.glob("*.y*ml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict)
    ]


async def _apply_manifests(
    client: Client, directory: Path, namespaces: Sequence[str] = ()
) -> tuple[list[Sample], int, list[Sample]]:
    """Create every object in the YAML files of `directory` (namespaced objects without a
    namespace go to "default") except, when `namespaces` are given, namespaced ones outside
    them; returns the samples, how many were created (existing ones are kept) and the
    samples left out."""
    samples: list[Sample] = []
    skipped: list[Sample] = []
    created = 0
    for doc in _read_manifests(directory):
        gvk = GroupVersionKind.from_api_version(doc["apiVersion"], doc["kind"])
        info = await client.ensure_resource(gvk)
        metadata = doc.setdefault("metadata", {})
        if info.namespaced:
            metadata.setdefault("namespace", "default")
        expected = (metadata.get("annotations") or {}).get(EXPECTED_PHASE_ANNOTATION)
        sample = Sample(gvk, metadata["name"], metadata.get("namespace"), expected)
        if namespaces and info.namespaced and sample.namespace not in namespaces:
            skipped.append(sample)
            continue
        samples.append(sample)
        try:
            await client.create(doc)
        except AlreadyExists:
            continue
        created += 1
    return samples, created, skipped


class _Phases:
    """Follows the phases of the applied samples, printing a table whenever one changes."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.samples: list[Sample] = []
        self.phases: dict[Sample, str | None] = {}

    async def _phase(self, sample: Sample) -> str | None:
        try:
            obj = await self.client.get(sample.gvk, sample.name, namespace=sample.namespace)
        except NotFound:
            return "(deleted)"
        except ApiError:
            return self.phases.get(sample)
        phase = (obj.get("status") or {}).get("phase")
        return str(phase) if phase else None

    async def _poll(self) -> None:
        phases = {sample: await self._phase(sample) for sample in self.samples}
        if phases != self.phases:
            self.phases = phases
            _print(self.table("phases:"))

    async def follow(self) -> None:
        """Poll forever."""
        while True:
            await self._poll()
            await asyncio.sleep(PHASE_POLL_INTERVAL)

    async def settle(self, seconds: float) -> None:
        """Poll until every sample is final (see `Sample.final`), at most `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    await self._poll()
                    if all(s.final(self.phases.get(s)) for s in self.samples):
                        return
                    await asyncio.sleep(PHASE_POLL_INTERVAL)
        except TimeoutError:
            return

    def unsettled(self) -> list[str]:
        """One line for each sample not (yet) in its settled phase."""
        return [
            f"{sample} is in phase "
            f"{self.phases.get(sample) or '(none)'}, expected "
            f"{sample.expected or '/'.join(sorted(SUCCESS_PHASES))}"
            for sample in self.samples
            if not sample.settled(self.phases.get(sample))
        ]

    def table(self, title: str) -> str:
        rows = [("KIND", "NAME", "PHASE")]
        rows += [(s.gvk.kind, s.name, self.phases.get(s) or "-") for s in self.samples]
        widths = [max(len(row[column]) for row in rows) for column in range(2)]
        lines = [
            f"  {kind:<{widths[0]}}  {name:<{widths[1]}}  {phase}" for kind, name, phase in rows
        ]
        return "\n".join([title, *lines])


def _role_rules(paths: Sequence[str]) -> dict[str, Any]:
    """A role holding the rules of every Role or ClusterRole in the YAML files `paths`."""
    rules: list[Any] = []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") in ("Role", "ClusterRole"):
                rules += doc.get("rules") or []
    return {"rules": rules}


def _denied_requests(env: Environment, role_files: Sequence[str]) -> list[str]:
    """One line for each kind of request of the manager's client the roles do not allow."""
    denied = env.audit.of_user_agent(MANAGER_AGENT).allowed_by(_role_rules(role_files))
    return [
        f"the role does not allow {r.verb} {r.group or 'core'}/{r.combined_resource}"
        + (f" in namespace {r.namespace}" if r.namespace else "")
        for r in denied
    ]


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else "kubectl"


# --- local, simulate ------------------------------------------------------------------------


def _local_paths(args: argparse.Namespace) -> tuple[list[str], Path]:
    """The CRD paths and the kubeconfig path of `manager local`."""
    crd_dirs = args.crd_dir or [d for d in DEFAULT_CRD_DIRS if Path(d).is_dir()]
    return crd_dirs, Path(args.kubeconfig_out or DEFAULT_KUBECONFIG_OUT).absolute()


def _role_files(args: argparse.Namespace, settings: ManagerSettings) -> list[str]:
    if args.rbac_role:
        return list(args.rbac_role)
    return [DEFAULT_ROLE, *([LEADER_ELECTION_ROLE] if settings.leader_elect else [])]


async def _local(args: argparse.Namespace, settings: ManagerSettings) -> None:
    from framework.envtest import Environment
    from framework.envtest.simulator import Simulator, StageTiming

    crd_dirs, kubeconfig = _local_paths(args)
    settle = args.exit_after_settled
    apply = args.apply_samples or settle
    registry = _registry()
    async with AsyncExitStack() as stack:
        env = await stack.enter_async_context(
            Environment(crd_dirs, kubeconfig_path=kubeconfig, data_dir=args.data_dir)
        )

        async def client(component: str, **options: Any) -> Client:
            new = await Client.for_environment(env, user_agent=user_agent(component), **options)
            return await stack.enter_async_context(new)

        manager = await _new_manager(
            await client("manager", registry=registry), settings, registry, loopback=True
        )
        if not args.no_simulator:
            # The simulator plays the cluster, not the manager: its metrics stay off the manager's.
            timing = StageTiming(scale=args.stage_scale)
            simulator = Simulator(await client("simulator"), simulator_actors(), timing=timing)
            await stack.enter_async_context(simulator)
        phases = _Phases(await client("cli"))
        kubectl = f"{_kubectl()} --kubeconfig {kubeconfig}"

        async def announce() -> None:
            _print(f"kubeconfig: {kubeconfig}")
            _print(f"kubectl: {kubectl} get kubeloop -A")
            _print_status_url(manager)
            if apply:
                phases.samples, created, skipped = await _apply_manifests(
                    phases.client, Path(args.samples_dir), settings.namespace
                )
                _print(f"samples: created {created} objects from {args.samples_dir}")
                if skipped:
                    outside = ", ".join(map(str, skipped))
                    _print(f"samples: not created, outside --namespace: {outside}")
                _print(f"watch: {kubectl} get kubeloop -A -w")

        companion: Callable[[], Coroutine[Any, Any, None]] | None = None
        if settle:
            companion = partial(phases.settle, args.settle_timeout)
        elif apply:
            companion = phases.follow
        await _serve(manager, announce, companion)
        if settle:
            _check_settled(phases, _denied_requests(env, _role_files(args, settings)))


def _check_settled(phases: _Phases, denied: list[str]) -> None:
    """Print the final table; raise CheckFailed naming the unsettled samples and `denied`."""
    _print(phases.table("final phases:"))
    problems = phases.unsettled() + denied
    if problems:
        raise CheckFailed("; ".join(problems))
    _print(f"settled: {len(phases.samples)} samples; every request the role allows")


async def _simulate(args: argparse.Namespace, settings: ManagerSettings) -> None:
    from framework.envtest.simulator import Simulator, StageTiming

    actors = simulator_actors(args.actors, kubelet=not args.no_kubelet)
    timing = StageTiming(scale=args.stage_scale)
    stop = asyncio.Event()
    with _on_signals(stop.set):
        async with (
            await _client(settings, "simulator") as client,
            Simulator(client, actors, timing=timing),
        ):
            _print(f"simulator running: {', '.join(actor.name for actor in actors)}")
            await stop.wait()


async def _offline_manager(settings: ManagerSettings) -> Manager:
    """A manager that is never started, for reading what the setups register."""
    client = Client(Configuration())
    manager = Manager(client, ManagerOptions(metrics_address=None, health_address=None))
    try:
        await manager.setup(*load_setups(settings.module, settings.controllers).values())
    finally:
        await client.close()
    return manager


async def _rbac(args: argparse.Namespace, settings: ManagerSettings) -> None:
    manager = await _offline_manager(settings)
    role = build_cluster_role(args.role_name, permissions_of(manager))
    _write_or_print(args.output, role_to_yaml(role))


async def _crds(args: argparse.Namespace, settings: ManagerSettings) -> None:
    kinds = load_api_kinds(args.api)
    if args.output:
        for path in write_crds(kinds, args.output):
            _print(f"wrote {path}")
    else:
        sys.stdout.write("".join(crd_to_yaml(crd) for crd in generate_crds(kinds)))


def _write_or_print(output: str | None, text: str) -> None:
    if output:
        target = Path(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        _print(f"wrote {target}")
    else:
        sys.stdout.write(text)


def _print_status_url(manager: Manager) -> None:
    url = manager.metrics_url
    _print(f"status API: {url}/api/v1/controllers/statuses" if url else "status API: disabled")


def _print(line: str) -> None:
    print(line, flush=True)


# --- entry point ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _add_stage_scale(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage-scale", type=_seconds, default=1.0, help="scale the simulated stage delays"
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="manager", description="The kubeloop controller manager.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run the registered controllers against a cluster")
    ManagerSettings.add_arguments(run)
    run.set_defaults(handler=_run)
    local = commands.add_parser("local", help="run everything on a local control plane")
    ManagerSettings.add_arguments(local)
    local.add_argument("--crd-dir", action="append", default=[], help="CRD YAML dir or file")
    local.add_argument("--kubeconfig-out", help=f"default {DEFAULT_KUBECONFIG_OUT}")
    local.add_argument("--apply-samples", action="store_true", help="create the sample objects")
    local.add_argument("--samples-dir", default=DEFAULT_SAMPLES_DIR)
    local.add_argument("--no-simulator", action="store_true", help="do not simulate a cluster")
    local.add_argument("--data-dir", help="keep the API server's state in SQLite there")
    local.add_argument(
        "--exit-after-settled", action="store_true", help="apply the samples, wait, check, exit"
    )
    local.add_argument("--settle-timeout", type=_seconds, default=300.0, metavar="SECONDS")
    local.add_argument(
        "--rbac-role", action="append", default=[], metavar="FILE", help="role to check"
    )
    _add_stage_scale(local)
    local.set_defaults(handler=_local)
    simulate = commands.add_parser("simulate", help="run the cluster simulator against a cluster")
    simulate.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="as for run")
    simulate.add_argument(
        "--actors", type=_names, default=[], help="comma-separated actors (default: all)"
    )
    simulate.add_argument("--no-kubelet", action="store_true", help="leave the kubelet out")
    _add_stage_scale(simulate)
    simulate.set_defaults(handler=_simulate)
    crds = commands.add_parser("crds", help="write the CRDs of the registered API types")
    crds.add_argument("--output", help="directory for one YAML per CRD (default: stdout)")
    crds.add_argument("--api", action="append", default=[], help="only this entry point")
    crds.set_defaults(handler=_crds)
    rbac = commands.add_parser("rbac", help="render the ClusterRole the controllers need")
    rbac.add_argument("--output", help="file to write (default: stdout)")
    rbac.add_argument("--role-name", default=ROLE_NAME)
    for flag in ("--module", "--controllers"):
        rbac.add_argument(flag, action="append", default=argparse.SUPPRESS, help="as for run")
    rbac.set_defaults(handler=_rbac)
    return parser


def _fail(code: int, reason: object) -> int:
    text = " ".join(str(reason).split())
    print(f"manager: {text}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `manager` command; returns the exit code (see the module docstring)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(arguments)
        settings = ManagerSettings.from_namespace(args)
        configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
        asyncio.run(args.handler(args, settings))
    except (SettingsError, UsageError) as error:
        return _fail(2, error)
    except CheckFailed as error:
        return _fail(1, error)
    except LeaderElectionLost as error:
        return _fail(1, f"leader election lost: {error}")
    except asyncio.CancelledError:
        return _fail(1, "forced shutdown by a second signal")
    except Exception as error:
        return _fail(1, f"{type(error).__name__}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
