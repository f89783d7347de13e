"""The `manager` command.

    manager run    [settings]                  run the registered controllers against a cluster
    manager local  [settings] [--crd-dir DIR]  ... against a local control plane of their own
    manager crds   [--output DIR] [--api NAME] CRDs of the registered API types
    manager rbac   [--output FILE]             the ClusterRole the registered controllers need

Settings are flags or `KUBELOOP_*` environment variables (`framework.settings`). Controllers
come from the entry-point group `kubeloop.controllers` and `--module` (see `framework.manager`
for the setup contract); API types from `kubeloop.apis` (each entry point a callable returning
a list of model classes); simulator actors from `kubeloop.simulators`.

`manager local` starts `framework.envtest.Environment` on loopback, installs the CRDs of every
`--crd-dir` (default: config/crd/bases and config/crd/external, those present), writes its
kubeconfig to `.kubeloop/kubeconfig` (or `--kubeconfig-out`), starts the cluster simulator
(unless `--no-simulator`), binds the manager's servers to 127.0.0.1 when no host is given,
applies the manifests of `--samples-dir` with `--apply-samples`, and prints three lines:
`kubeconfig: PATH`, `kubectl: ...` (a command to look at the objects) and `status API: URL`
(`manager run` prints `manager running: <controllers>` and the status API line).

The first SIGINT or SIGTERM shuts down gracefully; a second one cancels at once. Exit codes:
0 after a clean shutdown, 1 when starting fails, leadership is lost or a second signal forced
the exit, 2 for invalid settings or arguments; the reason is printed as one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client import Configuration
from prometheus_client import CollectorRegistry, ProcessCollector

from framework.client import Client
from framework.crdgen import crd_to_yaml, generate_crds, write_crds
from framework.errors import AlreadyExists
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

__all__ = ["APIS_GROUP", "StopWhen", "load_api_kinds", "main", "permissions_of"]

APIS_GROUP = "kubeloop.apis"
DEFAULT_CRD_DIRS = ("config/crd/bases", "config/crd/external")
DEFAULT_KUBECONFIG_OUT = ".kubeloop/kubeconfig"
DEFAULT_SAMPLES_DIR = "config/samples"
ROLE_NAME = "manager-role"
LOOPBACK = "127.0.0.1"

StopWhen = Callable[[Manager], Awaitable[None]]
"""A condition after which `manager local` stops by itself (the `--exit-after-settled` hook)."""


class UsageError(ValueError):
    """Arguments that cannot work together (exit code 2)."""


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


# --- commands -------------------------------------------------------------------------------


def _manager_options(settings: ManagerSettings, *, loopback: bool) -> ManagerOptions:
    def bind(address: BindAddress | None) -> BindAddress | None:
        if address is not None and loopback and not address.host:
            return BindAddress(LOOPBACK, address.port)
        return address

    if settings.namespace:
        raise UsageError("--namespace is not supported yet: the manager watches all namespaces")
    election = settings.leader_election_config() if settings.leader_elect else None
    return ManagerOptions(
        metrics_address=bind(settings.metrics_bind_address),
        health_address=bind(settings.health_probe_bind_address),
        leader_election=election,
        graceful_shutdown_timeout=settings.graceful_shutdown_timeout,
        max_concurrent_reconciles=settings.max_concurrent_reconciles,
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


async def _serve(
    manager: Manager,
    announce: Callable[[], Awaitable[None]],
    stop_when: StopWhen | None = None,
) -> None:
    """Run `manager` until a signal (or `stop_when`), calling `announce` once it started."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            manager.stop()
        elif current is not None:
            current.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    helpers: list[asyncio.Task[None]] = []
    try:
        running = await manager.start()
        try:
            await announce()
            if stop_when is not None:
                helpers.append(asyncio.create_task(_stop_after(manager, stop_when)))
            await running
        except BaseException:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            raise
    finally:
        for helper in helpers:
            helper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _stop_after(manager: Manager, stop_when: StopWhen) -> None:
    await stop_when(manager)
    manager.stop()


async def _client(settings: ManagerSettings, registry: CollectorRegistry) -> Client:
    if settings.kubeconfig is not None:
        return await Client.from_kubeconfig(settings.kubeconfig, registry=registry)
    return await Client.from_default(registry=registry)


async def _run(args: argparse.Namespace, settings: ManagerSettings) -> None:
    registry = _registry()
    async with await _client(settings, registry) as client:
        manager = await _new_manager(client, settings, registry, loopback=False)

        async def announce() -> None:
            _print(f"manager running: {', '.join(c.name for c in manager.controllers) or '-'}")
            _print_status_url(manager)

        await _serve(manager, announce)


def _read_manifests(directory: Path) -> list[dict[str, Any]]:
    """The objects in the YAML files of `directory` (kustomization.yaml excepted)."""
    return [
        doc
        for path in sorted(directory.glob("*.y*ml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict)
    ]


async def _apply_manifests(client: Client, directory: Path) -> int:
    """Create every object in the YAML files of `directory` (namespaced objects without a
    namespace go to "default"); returns how many were created (existing ones are kept)."""
    created = 0
    for doc in _read_manifests(directory):
        gvk = GroupVersionKind.from_api_version(doc["apiVersion"], doc["kind"])
        info = await client.ensure_resource(gvk)
        metadata = doc.setdefault("metadata", {})
        if info.namespaced:
            metadata.setdefault("namespace", "default")
        try:
            await client.create(doc)
        except AlreadyExists:
            continue
        created += 1
    return created


async def _start_simulator(stack: AsyncExitStack, client: Client) -> None:
    from framework.envtest.simulator import Kubelet, Simulator, actors_from_entry_points

    actors: list[Any] = [Kubelet(), *actors_from_entry_points()]
    # The simulator plays the cluster, not the manager: its metrics stay off the manager's.
    await stack.enter_async_context(Simulator(client, actors))


def _local_paths(args: argparse.Namespace) -> tuple[list[str], Path]:
    """The CRD paths and the kubeconfig path of `manager local`."""
    crd_dirs = args.crd_dir or [d for d in DEFAULT_CRD_DIRS if Path(d).is_dir()]
    return crd_dirs, Path(args.kubeconfig_out or DEFAULT_KUBECONFIG_OUT).absolute()


async def _local(
    args: argparse.Namespace, settings: ManagerSettings, stop_when: StopWhen | None = None
) -> None:
    from framework.envtest import Environment

    crd_dirs, kubeconfig = _local_paths(args)
    registry = _registry()
    async with AsyncExitStack() as stack:
        env = await stack.enter_async_context(Environment(crd_dirs, kubeconfig_path=kubeconfig))
        client = await stack.enter_async_context(
            await Client.for_environment(env, registry=registry)
        )
        manager = await _new_manager(client, settings, registry, loopback=True)
        if not args.no_simulator:
            await _start_simulator(stack, client)

        async def announce() -> None:
            _print(f"kubeconfig: {kubeconfig}")
            _print(f"kubectl: kubectl --kubeconfig {kubeconfig} get kubeloop -A")
            _print_status_url(manager)
            if args.apply_samples:
                created = await _apply_manifests(client, Path(args.samples_dir))
                _print(f"samples: created {created} objects from {args.samples_dir}")

        await _serve(manager, announce, stop_when)


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
    local.set_defaults(handler=_local)
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
    except LeaderElectionLost as error:
        return _fail(1, f"leader election lost: {error}")
    except asyncio.CancelledError:
        return _fail(1, "forced shutdown by a second signal")
    except Exception as error:
        return _fail(1, f"{type(error).__name__}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
