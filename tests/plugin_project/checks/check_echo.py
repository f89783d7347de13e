"""The Echo controller tested with the kubeloop pytest plugin's fixtures, in-process and under
`manager run` (found by `--module`, and by its entry point)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from echo_controller import ECHO, setup

from framework.client import Client
from framework.envtest import Environment
from framework.envtest.pytest_plugin import LocalServer, kubeconfig_env, wait_for_phase
from framework.manager import Manager, Setup, load_setups

PROJECT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = "[kubeloop.controllers]\necho = echo_controller:setup\n"


@pytest.fixture
def kubeloop_setups() -> list[Setup]:
    return [setup]


def echo(name: str, namespace: str, message: str = "hello") -> dict[str, object]:
    return {
        "apiVersion": ECHO.gvk.api_version,
        "kind": "Echo",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"message": message},
    }


async def test_the_manager_fixture_runs_the_controller(
    kubeloop_manager: Manager, kubeloop_client: Client, kubeloop_namespace: str
) -> None:
    await kubeloop_client.create(echo("one", kubeloop_namespace))
    obj = await wait_for_phase(
        kubeloop_client, ECHO, "one", "Running", namespace=kubeloop_namespace
    )
    assert obj["status"]["message"] == "echo: hello"
    url = f"{kubeloop_manager.metrics_url}/api/v1/echo.example.com/echoes/statuses"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json()
    assert body["stateCounts"] == {"Running": 1}


async def test_an_in_process_environment_has_the_crds(kubeloop_env: Environment) -> None:
    async with await Client.for_environment(kubeloop_env) as client:
        assert (await client.list(ECHO)).items == []


async def test_wait_for_phase_names_the_phase_it_saw(
    kubeloop_client: Client, kubeloop_namespace: str
) -> None:
    await kubeloop_client.create(echo("unmanaged", kubeloop_namespace))
    with pytest.raises(AssertionError, match=r"last phase seen: None"):
        await wait_for_phase(
            kubeloop_client, ECHO, "unmanaged", "Running", namespace=kubeloop_namespace, within=0.2
        )


@asynccontextmanager
async def manager_run(
    server: LocalServer, python_path: list[Path], *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`manager run` against the session's server, with `python_path` first on sys.path."""
    environ = kubeconfig_env(server)
    environ["PYTHONPATH"] = os.pathsep.join(map(str, python_path))
    environ["KUBELOOP_LOG_LEVEL"] = "warning"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework.cli",
        "run",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--health-probe-bind-address",
        "0",
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            first = (await process.stdout.readline()).decode()
        assert first == "manager running: echo\n", first
        yield process
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_manager_run_finds_the_controller_by_module(
    kubeloop_server: LocalServer, kubeloop_client: Client, kubeloop_namespace: str
) -> None:
    async with manager_run(
        kubeloop_server,
        [PROJECT],
        "--module",
        "echo_controller",
        "--controllers",
        "echo_controller",
    ):
        await kubeloop_client.create(echo("by-module", kubeloop_namespace))
        await wait_for_phase(
            kubeloop_client, ECHO, "by-module", "Running", namespace=kubeloop_namespace
        )


def _install_entry_point(site: Path) -> None:
    """Declare the Echo entry point as an installed distribution in `site` would."""
    info = site / "echo_controller-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-controller\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


async def test_manager_run_finds_the_controller_by_entry_point(
    kubeloop_server: LocalServer,
    kubeloop_client: Client,
    kubeloop_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install_entry_point(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_setups(names=["echo"]) == {"echo": setup}
    async with manager_run(kubeloop_server, [tmp_path, PROJECT], "--controllers", "echo"):
        await kubeloop_client.create(echo("by-entry-point", kubeloop_namespace))
        await wait_for_phase(
            kubeloop_client, ECHO, "by-entry-point", "Running", namespace=kubeloop_namespace
        )
