"""pytest fixtures for testing kubeloop controllers against a local API server.

Enabled by the `pytest11` entry point `kubeloop` (or `-p framework.envtest.pytest_plugin`);
needs pytest-asyncio. Fixtures:

- `kubeloop_crd_paths` (session): CRD files or directories to install. Default: the ini
  option `kubeloop_crd_paths` (paths relative to the ini file), else `config/crd/bases` and
  `config/crd/external` under the rootdir, those present. Override it to choose.
- `kubeloop_server` (session): an API server in its own process (`python -m framework.envtest`)
  with those CRDs, shared by the session; `.kubeconfig` and `.url`. Living in another process,
  it works with every event-loop scope. Tests share it: use `kubeloop_namespace`.
- `kubeloop_env` (function): an in-process `Environment` of one test, with those CRDs.
- `kubeloop_client` (function): a `Client` for `kubeloop_server`.
- `kubeloop_namespace` (function): a fresh namespace on `kubeloop_server`, deleted after.
- `kubeloop_setups` (function): the setup functions `kubeloop_manager` runs (default: none;
  override it with your controllers' setups).
- `kubeloop_manager_factory` (function): `await start(*setups, **options)` starts a
  `Manager` on `kubeloop_server` (servers on 127.0.0.1 port 0; `options` override
  `ManagerOptions`); every manager started is stopped after the test.
- `kubeloop_manager` (function): a running manager with `kubeloop_setups`.

Helper: `wait_for_phase(client, kind, name, phase, namespace=..., within=...)` waits (bounded)
until the object's `status.phase` is `phase` (or one of several) and returns the object.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from framework.client import Client, HasKubeconfig
from framework.envtest.environment import Environment
from framework.errors import NotFound
from framework.informer import InformerOptions
from framework.manager import Manager, ManagerOptions, Setup
from framework.resources import GroupVersionKind, ResourceInfo
from framework.settings import BindAddress

__all__ = ["LocalServer", "ManagerFactory", "kubeconfig_env", "wait_for_phase"]

_DEFAULT_CRD_DIRS = ("config/crd/bases", "config/crd/external")
_SERVER_START_TIMEOUT = 60.0
_NAMESPACE = GroupVersionKind("", "v1", "Namespace")
_LOOPBACK = BindAddress("127.0.0.1", 0)

ManagerFactory = Callable[..., Awaitable[Manager]]


@dataclass(frozen=True, slots=True)
class LocalServer:
    """An API server running in its own process (`kubeloop_server`)."""

    url: str
    kubeconfig: str


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "kubeloop_crd_paths",
        "CRD files or directories the kubeloop fixtures install",
        type="paths",
        default=[],
    )


@pytest.fixture(scope="session")
def kubeloop_crd_paths(pytestconfig: pytest.Config) -> list[Path]:
    """CRD files or directories the kubeloop fixtures install (see the module docstring)."""
    configured: list[Path] = pytestconfig.getini("kubeloop_crd_paths")
    if configured:
        return configured
    root = pytestconfig.rootpath
    return [root / d for d in _DEFAULT_CRD_DIRS if (root / d).is_dir()]


def _await_ready(process: subprocess.Popen[bytes], output: Path) -> str:
    """The server's URL from its `ready` line (bounded wait); RuntimeError if it exits."""
    deadline = time.monotonic() + _SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        for line in output.read_text().splitlines():
            if line.startswith("ready "):
                return line.split()[1]
        if process.poll() is not None:
            raise RuntimeError(f"the kubeloop API server exited: {output.read_text()}")
        time.sleep(0.05)
    raise RuntimeError(f"the kubeloop API server did not start in {_SERVER_START_TIMEOUT} s")


@pytest.fixture(scope="session")
def kubeloop_server(
    kubeloop_crd_paths: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """An API server in its own process for the whole session, with the CRDs installed."""
    directory = tmp_path_factory.mktemp("kubeloop-server")
    kubeconfig, output = directory / "kubeconfig", directory / "output"
    command = [sys.executable, "-m", "framework.envtest", "--kubeconfig-out", str(kubeconfig)]
    for path in kubeloop_crd_paths:
        command += ["--crd-dir", str(path)]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield LocalServer(_await_ready(process, output), str(kubeconfig))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest_asyncio.fixture
async def kubeloop_env(kubeloop_crd_paths: list[Path]) -> AsyncIterator[Environment]:
    """An in-process local control plane for one test, with the CRDs installed."""
    async with Environment(kubeloop_crd_paths) as environment:
        yield environment


@pytest_asyncio.fixture
async def kubeloop_client(kubeloop_server: LocalServer) -> AsyncIterator[Client]:
    """A client for the session's API server."""
    async with await Client.from_kubeconfig(kubeloop_server.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture
async def kubeloop_namespace(kubeloop_client: Client) -> AsyncIterator[str]:
    """A fresh namespace on the session's API server, deleted after the test."""
    name = f"test-{secrets.token_hex(4)}"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await kubeloop_client.create(namespace)
    try:
        yield name
    finally:
        with contextlib.suppress(NotFound):
            await kubeloop_client.delete(_NAMESPACE, name)


@pytest.fixture
def kubeloop_setups() -> list[Setup]:
    """The setups `kubeloop_manager` runs: override with your controllers' setups."""
    return []


@pytest_asyncio.fixture
async def kubeloop_manager_factory(
    kubeloop_server: LocalServer,
) -> AsyncIterator[ManagerFactory]:
    """`await start(*setups, **options)`: a running Manager on the session's API server."""
    started: list[tuple[Manager, asyncio.Task[None]]] = []

    async def start(*setups: Setup, **options: Any) -> Manager:
        defaults: dict[str, Any] = {
            "metrics_address": _LOOPBACK,
            "health_address": _LOOPBACK,
            "graceful_shutdown_timeout": 10.0,
            "informer_options": InformerOptions(missing_kind_retry=1.0),
        }
        client = await Client.from_kubeconfig(kubeloop_server.kubeconfig)
        try:
            manager = Manager(client, ManagerOptions(**(defaults | options)))
            await manager.setup(*setups)
            started.append((manager, await manager.start()))
        except BaseException:
            await client.close()
            raise
        return manager

    try:
        yield start
    finally:
        for manager, task in started:
            manager.stop()
            try:
                await task
            finally:
                await manager.client.close()


@pytest_asyncio.fixture
async def kubeloop_manager(
    kubeloop_manager_factory: ManagerFactory, kubeloop_setups: list[Setup]
) -> Manager:
    """A running Manager with `kubeloop_setups` on the session's API server."""
    return await kubeloop_manager_factory(*kubeloop_setups)


def _phase(obj: Any) -> str | None:
    wire = obj.to_dict() if hasattr(obj, "to_dict") else obj
    status = wire.get("status") if isinstance(wire, dict) else None
    phase = status.get("phase") if isinstance(status, dict) else None
    return phase if isinstance(phase, str) else None


async def wait_for_phase(
    client: Client,
    kind: Any,
    name: str,
    phase: str | Collection[str],
    *,
    namespace: str | None = "default",
    within: float = 30.0,
) -> Any:
    """The object once its `status.phase` is `phase` (or in it, given several), polled through
    `client` for at most `within` seconds; AssertionError naming the last phase seen."""
    wanted = {phase} if isinstance(phase, str) else set(phase)
    seen: str | None = None
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    obj = await client.get(kind, name, namespace=namespace)
                except NotFound:
                    obj = None
                seen = None if obj is None else _phase(obj)
                if seen in wanted:
                    return obj
                await asyncio.sleep(0.05)
    except TimeoutError:
        where = f"{namespace}/{name}" if namespace else name
        label = kind.kind if isinstance(kind, GroupVersionKind | ResourceInfo) else kind
        raise AssertionError(
            f"{label} {where} did not reach phase {sorted(wanted)} within {within} s "
            f"(last phase seen: {seen})"
        ) from None


def kubeconfig_env(server: HasKubeconfig) -> dict[str, str]:
    """The environment for a `manager` subprocess talking to `server`."""
    return {**os.environ, "KUBELOOP_KUBECONFIG": str(server.kubeconfig)}
