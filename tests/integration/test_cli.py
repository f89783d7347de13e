"""The `manager` command as a subprocess: `local` starts and serves until SIGINT, `run` takes
its settings from flags and environment variables, exit codes and one-line reasons, `crds`
and `rbac` render what the entry points and setups declare."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import yaml
from test_informer_support import GADGET, gadget, gadget_crd, running
from test_manager_support import get_json

from framework.client import Client

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent
GADGETS = "test_manager_support:setup_gadgets"
PORT_0 = ("--metrics-bind-address", ":0", "--health-probe-bind-address", ":0")


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELOOP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), str(ROOT)])
    env["KUBELOOP_LOG_LEVEL"] = "warning"  # nobody reads stderr until the end: keep it short
    return env | extra


@asynccontextmanager
async def manager(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else _environ(),
        cwd=cwd,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def finished(
    *args: str, env: Mapping[str, str] | None = None, limit: float = 60
) -> tuple[int, str, str]:
    """Run the command to its end (at most `limit` seconds): exit code, stdout, stderr."""
    async with manager(*args, env=env) as process:
        async with asyncio.timeout(limit):
            out, err = await process.communicate()
        return process.returncode or 0, out.decode(), err.decode()


async def line_starting(process: asyncio.subprocess.Process, prefix: str) -> str:
    """The rest of the first stdout line starting with `prefix` (bounded wait)."""
    assert process.stdout is not None
    async with asyncio.timeout(60):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                assert process.stderr is not None
                raise AssertionError(f"exited: {(await process.stderr.read()).decode()}")
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()


async def until_json(url: str, check: object = None) -> object:
    """GET `url` (bounded) until it answers 200 and, given, `check(body)` holds; the body."""
    async with asyncio.timeout(30):
        while True:
            code, body = await get_json(url)
            if code == 200 and (check is None or check(body)):  # type: ignore[operator]
                return body
            await asyncio.sleep(0.05)


async def interrupted(process: asyncio.subprocess.Process, sig: int = signal.SIGINT) -> int:
    process.send_signal(sig)
    async with asyncio.timeout(60):
        await process.communicate()
    return process.returncode if process.returncode is not None else -1


def _ready(controller: str) -> object:
    return lambda body: any(
        c["name"] == controller and c["state"] == "ready" for c in body["controllers"]
    )


async def test_local_starts_serves_and_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    crd = tmp_path / "gadget.yaml"
    crd.write_text(yaml.safe_dump(gadget_crd()))
    kubeconfig = tmp_path / "kubeconfig"
    args = ("local", "--kubeconfig-out", str(kubeconfig), "--crd-dir", str(crd))
    async with manager(*args, *PORT_0, "--module", GADGETS) as process:
        assert await line_starting(process, "kubeconfig: ") == str(kubeconfig)
        assert "get kubeloop" in await line_starting(process, "kubectl: ")
        url = await line_starting(process, "status API: ")
        assert url.startswith("http://127.0.0.1:")
        await until_json(url, _ready("gadget"))
        async with await Client.from_kubeconfig(kubeconfig) as client:
            await client.create(gadget("from-cli"))
        base = url.removesuffix("/controllers/statuses")
        body = await until_json(f"{base}/test.kubeloop.dev/gadgets/default/from-cli/status")
        assert isinstance(body, dict)
        assert body["state"] == "Running"
        assert await interrupted(process) == 0


async def test_run_takes_settings_from_flags_and_environment(tmp_path: Path) -> None:
    async with running() as (env, client, _):
        environ = _environ(
            KUBELOOP_KUBECONFIG=env.kubeconfig,
            KUBELOOP_METRICS_BIND_ADDRESS="127.0.0.1:0",
            KUBELOOP_HEALTH_PROBE_BIND_ADDRESS="0",
            KUBELOOP_LOG_FORMAT="console",
            KUBELOOP_GRACEFUL_SHUTDOWN_TIMEOUT="5s",
        )
        async with manager("run", "--module", GADGETS, env=environ) as process:
            names = (await line_starting(process, "manager running: ")).split(", ")
            assert names[-1] == "gadget"  # after the registered entry points
            url = await line_starting(process, "status API: ")
            await client.create(gadget("a"))
            base = url.removesuffix("/controllers/statuses")
            await until_json(f"{base}/test.kubeloop.dev/gadgets/default/a/status")
            assert await interrupted(process, signal.SIGTERM) == 0
        await client.delete(GADGET, "a", namespace="default")


async def test_invalid_settings_exit_2_with_one_line() -> None:
    code, _, err = await finished("run", env=_environ(KUBELOOP_LOG_LEVEL="loud"))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("manager: invalid settings:")
    assert "--log-level (KUBELOOP_LOG_LEVEL)" in err


async def test_start_up_failures_exit_1_with_one_line(tmp_path: Path) -> None:
    code, _, err = await finished(
        "local", "--kubeconfig-out", str(tmp_path / "kc"), "--module", "no_such_module"
    )
    assert code == 1
    assert err.splitlines()[-1].startswith("manager: SetupError: --module no_such_module")
    async with running() as (env, _, _):
        with_port = await finished(
            "run",
            "--kubeconfig",
            env.kubeconfig,
            "--metrics-bind-address",
            env.server_url.removeprefix("https://").removeprefix("http://"),
            "--health-probe-bind-address",
            "0",
        )
    code, _, err = with_port
    assert code == 1
    assert "address already in use" in err.splitlines()[-1]


def _crd_files(directory: Path) -> dict[str, str]:
    return {
        path.name: path.read_text()
        for path in sorted(directory.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


async def test_crds_writes_one_file_per_crd_as_the_generator(tmp_path: Path) -> None:
    code, out, _ = await finished("crds", "--api", "kubeloop", "--output", str(tmp_path))
    assert code == 0
    written = _crd_files(tmp_path)
    assert written
    assert written == _crd_files(ROOT / "config/crd/bases")
    assert out.count("wrote ") == len(written)
    code, _, err = await finished("crds", "--api", "nope")
    assert (code, err.strip()) == (2, "manager: no API types registered as nope")


async def test_rbac_renders_declared_and_framework_permissions(tmp_path: Path) -> None:
    role_file = tmp_path / "role.yaml"
    code, _, _ = await finished("rbac", "--module", GADGETS, "--output", str(role_file))
    assert code == 0
    role = yaml.safe_load(role_file.read_text())
    assert role["kind"] == "ClusterRole"
    assert role["metadata"]["name"] == "manager-role"
    rules = {(r["apiGroups"][0], tuple(r["resources"])): r["verbs"] for r in role["rules"]}
    assert rules[("", ("configmaps",))] == ["get", "list", "watch"]
    assert rules[("test.kubeloop.dev", ("gadgets",))] == ["get", "list", "patch", "watch"]
    assert rules[("test.kubeloop.dev", ("gadgets/status",))] == ["get", "patch", "update"]
    assert rules[("events.k8s.io", ("events",))] == ["create", "patch"]
