"""End-to-end tests: against a real cluster with the manager deployed (`make e2e-kind`).

Every test under tests/e2e is skipped, with a message naming `make e2e-kind`, unless
KUBELOOP_E2E=1 and the cluster that $KUBECONFIG names answers `/readyz`. KUBECONFIG must be
set explicitly, so that a default kubeconfig (a real cluster) is never used by accident.
hack/kind-e2e.sh creates a kind cluster, deploys config/default, runs the simulator's actors
and the samples, then runs these tests with both variables set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from framework.client import Client
from framework.resources import GroupVersionKind

E2E_DIR = Path(__file__).resolve().parent
KUBECTL = Path(sys.executable).parent / "kubectl"
HOW = "run `make e2e-kind` (needs kind and Docker)"
NAMESPACE = GroupVersionKind("", "v1", "Namespace")


def cluster_unreachable(kubectl: Path = KUBECTL, timeout: float = 10.0) -> str | None:
    """None when the cluster of $KUBECONFIG answers `kubectl get --raw /readyz`, else why not."""
    with tempfile.TemporaryDirectory() as cache_dir:
        command = [str(kubectl), "get", "--raw", "/readyz", f"--request-timeout={timeout}s"]
        try:
            done = subprocess.run(
                [*command, f"--cache-dir={cache_dir}"],
                capture_output=True,
                text=True,
                timeout=timeout + 5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"kubectl exited with {done.returncode}"


def skip_reason(environ: Mapping[str, str], probe: Callable[[], str | None]) -> str | None:
    """Why the end-to-end tests cannot run (None: they can); `probe` is asked only when the
    environment asks for them (see `cluster_unreachable`)."""
    if environ.get("KUBELOOP_E2E") != "1":
        return f"end-to-end test: {HOW}, or set KUBELOOP_E2E=1 and KUBECONFIG to a cluster"
    if not environ.get("KUBECONFIG"):
        return f"KUBELOOP_E2E=1 but KUBECONFIG is not set: {HOW}"
    problem = probe()
    if problem is not None:
        return f"the cluster in $KUBECONFIG is not reachable ({problem}): {HOW}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if E2E_DIR in item.path.resolve().parents]
    if not ours:
        return
    reason = skip_reason(os.environ, cluster_unreachable)
    if reason is not None:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """A client on the cluster of $KUBECONFIG."""
    async with await Client.from_kubeconfig(os.environ["KUBECONFIG"]) as found:
        yield found


@pytest.fixture
async def namespace(client: Client, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace named after the test module (test_x_e2e.py: e2e-x-<random>),
    deleted after the test."""
    module = request.path.stem.removeprefix("test_").removesuffix("_e2e").replace("_", "-")
    name = f"e2e-{module}-{uuid.uuid4().hex[:8]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        await client.delete(NAMESPACE, name)
