"""What the benchmarks share: the embedded API server in a child process, test CRDs, RSS and
request counts, bounded concurrency, percentiles and the JSON-line output.

Imported as `benchlib` by the benches, which run as `python hack/bench/x.py` (so this
directory is `sys.path[0]`); importing it also puts the repository root on `sys.path`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from framework.logging import configure_logging  # noqa: E402
from framework.resources import GroupVersionKind, ResourceInfo  # noqa: E402

# Benchmarks print figures on stdout; the framework's own logs go to stderr, warnings only.
configure_logging("console", "warning", stream=sys.stderr)

GROUP = "bench.kubeloop.dev"
NAMESPACE = "default"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PRESERVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def resource(kind: str, *, status: bool = True) -> ResourceInfo:
    """A namespaced kind `kind` of the bench group, version v1 (plural: lowercase + "s"),
    with the status subresource unless `status` is False."""
    return ResourceInfo(
        gvk=GroupVersionKind(GROUP, "v1", kind),
        plural=f"{kind.lower()}s",
        singular=kind.lower(),
        namespaced=True,
        subresources=frozenset({"status"} if status else ()),
    )


PAYLOAD = resource("Payload")


def crd(resource: ResourceInfo, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-version CRD serving `resource`; its schema has `properties` (by default a spec
    and a status that keep any field), with the status subresource if `resource` has one."""
    version: dict[str, Any] = {
        "name": resource.version,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": properties or {"spec": PRESERVE, "status": PRESERVE},
            }
        },
    }
    if "status" in resource.subresources:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{resource.group}"},
        "spec": {
            "group": resource.group,
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "names": {
                "plural": resource.plural,
                "singular": resource.singular,
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
            },
            "versions": [version],
        },
    }


async def start_ready(
    *args: str, stdin: int | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """`python *args` (cwd: the repository root), once its first stdout line (within 60 s)
    says `ready`; returns the process and that line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=stdin, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    if "ready" not in line:
        process.terminate()
        await process.wait()
        raise RuntimeError(f"{' '.join(args)} did not start: {line!r}")
    return process, line


@dataclass(frozen=True)
class ServedApi:
    """A running API server child process: its kubeconfig and process id."""

    kubeconfig: Path
    pid: int


@contextlib.asynccontextmanager
async def api_server(crds: Iterable[dict[str, Any] | Path], *args: str) -> AsyncIterator[ServedApi]:
    """The embedded API server (`python -m framework.envtest *args`) in a child process,
    serving `crds` (CRD dicts, or files and folders of them)."""
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        crd_args = []
        for index, found in enumerate(crds):
            if isinstance(found, dict):
                path = Path(tmp) / f"crd-{index}.yaml"
                path.write_text(yaml.safe_dump(found))
                found = path
            crd_args += ["--crd-dir", str(found)]
        process, _ = await start_ready(
            "-m", "framework.envtest", "--kubeconfig-out", str(kubeconfig), *crd_args, *args
        )
        try:
            yield ServedApi(kubeconfig, process.pid)
        finally:
            process.terminate()
            await process.wait()


def server_access(kubeconfig: Path) -> tuple[str, str, str | None]:
    """The server URL, bearer token and CA (PEM, None without one) a kubeconfig gives."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca_data = cluster.get("certificate-authority-data")
    ca = base64.b64decode(ca_data).decode() if ca_data is not None else None
    return cluster["server"], config["users"][0]["user"]["token"], ca


def rss_bytes(pid: int | str = "self") -> int:
    """The resident set size of process `pid` (this one by default)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int | str = "self") -> float:
    """The CPU time (user + system) process `pid` (this one by default) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait_ms(pid: int | str = "self") -> float:
    """How long process `pid`'s main thread (this one's by default) has been runnable but
    waiting for a CPU, in ms (Linux schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e6


def counts(registry: CollectorRegistry, suffix: str, label: str) -> dict[str, int]:
    """Sums of the counter samples named `*suffix`, by `label`."""
    found: dict[str, int] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(suffix):
                key = sample.labels[label]
                found[key] = found.get(key, 0) + int(sample.value)
    return found


def requests_by_method(registry: CollectorRegistry) -> dict[str, int]:
    """The API requests a client recording on `registry` sent, by HTTP method."""
    return counts(registry, "rest_client_requests_total", "method")


async def in_flight(jobs: int, job: Callable[[int], Awaitable[object]], lanes: int) -> None:
    """Run `job(0..jobs-1)` with `lanes` at a time."""
    next_job = iter(range(jobs))

    async def lane() -> None:
        for index in next_job:
            await job(index)

    await asyncio.gather(*(lane() for _ in range(lanes)))


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 <= q <= 1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_json_line(figures: dict[str, Any]) -> None:
    """The bench's figures as the one JSON line it ends its output with."""
    print(json.dumps(figures), flush=True)
