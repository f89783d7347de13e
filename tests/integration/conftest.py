"""Fixtures for the embedded API server: a running Environment, a kubernetes-asyncio client,
a raw aiohttp session, and kubectl with its own cache directory."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from test_apiserver_support import KUBECTL, Http, open_http, widget_crd

from framework.envtest import Environment


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async with Environment() as environment:
        yield environment


@pytest.fixture
async def crd_env(env: Environment) -> Environment:
    await env.install_crds([widget_crd()])
    return env


@pytest.fixture
async def http(env: Environment) -> AsyncIterator[Http]:
    async with open_http(env) as client_:
        yield client_


@pytest.fixture
async def api(env: Environment) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=env.kubeconfig, client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def kubectl(env: Environment, tmp_path: Path) -> Callable[..., Any]:
    """Run kubectl against the env with its own cache dir; returns CompletedProcess."""

    async def run(*args: str, stdin: str | None = None, check: bool = True) -> Any:
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            "--kubeconfig",
            env.kubeconfig,
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        result = subprocess.CompletedProcess(
            args, process.returncode or 0, out.decode(), err.decode()
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run
