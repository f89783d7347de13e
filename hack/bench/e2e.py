"""End-to-end benchmark: N Workspaces from create to Running on the local control plane.

Three child processes: the embedded API server (`python -m framework.envtest` with the
project's CRDs), the simulator (kubelet and Karpenter, every stage immediate) and a Manager
running the Workspace controller; this process creates the Workspaces (16 in flight) and
watches them. Measures:
- throughput: N / (time from the first create to the last Running), and the p50/p99 latency
  of each Workspace from its create request to the first watch event showing it Running;
- the manager's RSS growth per Workspace (after all are Running, over its idle RSS) and its
  API requests per Workspace (by method);
- the ceiling: raw merge-PATCH/s on a Workspace's status (raw aiohttp, 8 in flight, same
  server; the mean of a measurement before the Workspaces and one after them, as the host's
  speed drifts by tens of percent from one minute to the next), divided by the writes per
  Workspace the whole system sent (manager, simulator and the create); the ratio of the
  throughput to it (target >= 0.5);
- where the CPU went: each process's CPU seconds during the run (API server, manager,
  simulator, this driver) per write the system sent, the cores busy on average, and the API
  server's CPU per raw PATCH. The ratio is about cores_busy x raw_patch_cpu_ms / (the sum of
  the per-write figures); `cpu_ratio` is that with every core busy: the ratio a quiet machine
  would show, steadier than the wall-clock one when other load comes and goes.
Prints the figures, then ONE JSON line with them all.

    .venv/bin/python hack/bench/e2e.py [--n 1000] [--full (N=5000)] [--workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import ssl
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from benchlib import (
    NAMESPACE,
    ROOT,
    WRITE_METHODS,
    ServedApi,
    api_server,
    counts,
    cpu_seconds,
    in_flight,
    percentile,
    print_json_line,
    rss_bytes,
    server_access,
    start_ready,
)
from prometheus_client import CollectorRegistry

from controllers.simulation.karpenter import KarpenterActor
from controllers.workspace import setup as setup_workspace
from framework.client import Client
from framework.envtest.simulator import Kubelet, Simulator, StageTiming
from framework.informer import EventHandler, Informer, InformerOptions
from framework.logging import configure_logging
from framework.manager import Manager, ManagerOptions
from framework.resources import GroupVersionKind

WORKSPACE = GroupVersionKind("workspace.kubeloop.dev", "v1alpha1", "Workspace")
CREATORS = 16
PATCHERS = 8
CEILING_SECONDS = 2.0
CORES = os.cpu_count() or 1
CRDS = (ROOT / "config/crd/bases", ROOT / "config/crd/external")


def workspace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": WORKSPACE.api_version,
        "kind": WORKSPACE.kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "resource": {"instanceType": "standard_nc6"},
            "inference": {"image": "ghcr.io/example/llm:1"},
        },
    }


# -- child processes -----------------------------------------------------------------------------


async def child(role: str, kubeconfig: str, workers: int) -> None:
    """Run the manager or the simulator; on each stdin line "report" print a JSON line with
    RSS and API requests by method; stop at stdin EOF."""
    configure_logging("json", "error", stream=sys.stderr)
    registry = CollectorRegistry()
    async with await Client.from_kubeconfig(kubeconfig, registry=registry) as client:
        stop: Any
        if role == "manager":
            options = ManagerOptions(
                metrics_address=None, health_address=None, max_concurrent_reconciles=workers
            )
            manager = Manager(client, options, registry=registry)
            await manager.setup(setup_workspace)
            task = asyncio.create_task(manager.run())
            await manager.wait_started()
            await asyncio.sleep(0.5)  # controllers start once their informers have synced

            async def stop() -> None:
                manager.stop()
                await task
        else:
            simulator = Simulator(
                client,
                [Kubelet(), KarpenterActor()],
                timing=StageTiming.zero(),
                registry=registry,
                workers=workers,
            )
            await simulator.start()
            stop = simulator.stop
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print("ready", flush=True)
        while line := await reader.readline():
            if line.strip() == b"report":
                gc.collect()
                usage = resource.getrusage(resource.RUSAGE_SELF)
                report = {
                    "rss": rss_bytes(),
                    "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                    "requests": counts(registry, "rest_client_requests_total", "method"),
                    "reconciles": counts(registry, "reconcile_total", "result")
                    | counts(registry, "simulator_reconciles_total", "result"),
                }
                print_json_line(report)
        await stop()


class Child:
    """A child process speaking the "report" protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str) -> Child:
        process, _ready = await start_ready(*args, stdin=asyncio.subprocess.PIPE)
        return cls(process)

    async def report(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"report\n")
        await self.process.stdin.drain()
        found: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return found

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# -- measurements --------------------------------------------------------------------------------


async def ceiling_patch_rate(served: ServedApi, name: str) -> tuple[float, float]:
    """Raw merge-PATCH/s on the status of a new Workspace `name`, PATCHERS in flight, and
    the API server's CPU ms per PATCH meanwhile."""
    server, token, ca = await asyncio.to_thread(server_access, served.kubeconfig)
    context = ssl.create_default_context(cadata=ca) if ca is not None else None
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server}/apis/{WORKSPACE.group}/{WORKSPACE.version}/namespaces/{NAMESPACE}"
    connector = aiohttp.TCPConnector(ssl=context if context is not None else False)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        create = {**headers, "Content-Type": "application/json"}
        body = orjson.dumps(workspace(name))
        async with session.post(f"{base}/workspaces", data=body, headers=create) as response:
            response.raise_for_status()
        patch_headers = {**headers, "Content-Type": "application/merge-patch+json"}
        url = f"{base}/workspaces/{name}/status"
        done = 0
        deadline = time.perf_counter() + CEILING_SECONDS

        async def patcher(index: int) -> None:
            nonlocal done
            seq = 0
            while time.perf_counter() < deadline:
                seq += 1
                data = orjson.dumps({"status": {"message": f"{index}-{seq}"}})
                async with session.patch(url, data=data, headers=patch_headers) as response:
                    await response.read()
                    response.raise_for_status()
                done += 1

        started, cpu = time.perf_counter(), cpu_seconds(served.pid)
        await asyncio.gather(*(patcher(i) for i in range(PATCHERS)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(served.pid) - cpu
        async with session.delete(f"{base}/workspaces/{name}", headers=headers) as response:
            await response.read()
    return done / elapsed, cpu * 1000 / done


async def drive(kubeconfig: Path, n: int) -> tuple[float, list[float]]:
    """Create N Workspaces; return (seconds from the first create to the last Running,
    per-Workspace latencies)."""
    async with await Client.from_kubeconfig(str(kubeconfig)) as client:
        sent: dict[str, float] = {}
        running: dict[str, float] = {}
        all_running = asyncio.Event()

        def seen(obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            if (obj.get("status") or {}).get("phase") == "Running" and name not in running:
                running[name] = time.perf_counter()
                if len(running) == n:
                    all_running.set()

        informer = Informer(client, WORKSPACE, InformerOptions(namespace=NAMESPACE))
        informer.add_handler(
            EventHandler(
                on_add=lambda obj, _initial: seen(obj), on_update=lambda _o, new: seen(new)
            )
        )
        informer.start()
        await informer.wait_until_ready()
        names = [f"ws-{index:05d}" for index in range(n)]
        started = time.perf_counter()

        async def create(index: int) -> None:
            sent[names[index]] = time.perf_counter()
            await client.create(workspace(names[index]))

        await in_flight(n, create, CREATORS)
        await asyncio.wait_for(all_running.wait(), timeout=max(120.0, n * 0.2))
        await informer.stop()
        elapsed = max(running.values()) - started
        return elapsed, [running[name] - sent[name] for name in names]


async def run(n: int, workers: int) -> dict[str, Any]:
    async with api_server(CRDS) as served:
        kubeconfig = served.kubeconfig
        patch_rate_before, patch_cpu_before = await ceiling_patch_rate(served, "ceiling-before")
        common = ("--kubeconfig", str(kubeconfig), "--workers", str(workers))
        simulator = await Child.start(__file__, "--role", "simulator", *common)
        manager = await Child.start(__file__, "--role", "manager", *common)
        try:
            idle = await manager.report()
            simulator_idle = await simulator.report()
            server_idle, driver_idle = cpu_seconds(served.pid), cpu_seconds()
            elapsed, latencies = await drive(kubeconfig, n)
            server_cpu = cpu_seconds(served.pid) - server_idle
            driver_cpu = cpu_seconds() - driver_idle
            busy = await manager.report()
            simulated = await simulator.report()
        finally:
            await manager.stop()
            await simulator.stop()
        patch_rate_after, patch_cpu_after = await ceiling_patch_rate(served, "ceiling-after")
    patch_rate = (patch_rate_before + patch_rate_after) / 2
    patch_cpu_ms = (patch_cpu_before + patch_cpu_after) / 2
    manager_requests = busy["requests"]
    writes = sum(
        report["requests"].get(method, 0)
        for report in (busy, simulated)
        for method in WRITE_METHODS
    )
    writes_per_object = (writes + n) / n  # + the create of each Workspace
    throughput = n / elapsed
    ceiling = patch_rate / writes_per_object
    cpu = {
        "manager": busy["cpu_seconds"] - idle["cpu_seconds"],
        "simulator": simulated["cpu_seconds"] - simulator_idle["cpu_seconds"],
        "apiserver": server_cpu,
        "driver": driver_cpu,
    }
    cpu_ms_per_write = {role: seconds * 1000 / (writes + n) for role, seconds in cpu.items()}
    return {
        "workspaces": n,
        "workers": workers,
        "seconds": round(elapsed, 3),
        "objects_per_second": round(throughput, 2),
        "latency_p50_s": round(statistics.median(latencies), 4),
        "latency_p99_s": round(percentile(latencies, 0.99), 4),
        "manager_rss_idle_bytes": idle["rss"],
        "manager_rss_per_object_bytes": round((busy["rss"] - idle["rss"]) / n),
        "manager_requests_per_object": round(sum(manager_requests.values()) / n, 2),
        "manager_requests_by_method": manager_requests,
        "manager_reconciles_by_result": busy["reconciles"],
        "cpu_seconds": {role: round(seconds, 2) for role, seconds in cpu.items()},
        "cpu_ms_per_write": {role: round(ms, 3) for role, ms in cpu_ms_per_write.items()},
        "cores_busy": round(sum(cpu.values()) / elapsed, 2),
        "raw_patch_cpu_ms": round(patch_cpu_ms, 3),
        "cpu_ratio": round(CORES * patch_cpu_ms / sum(cpu_ms_per_write.values()), 3),
        "simulator_reconciles_by_result": simulated["reconciles"],
        "writes_per_object": round(writes_per_object, 2),
        "raw_patch_per_second": round(patch_rate, 1),
        "raw_patch_per_second_before_after": [
            round(patch_rate_before, 1),
            round(patch_rate_after, 1),
        ],
        "ceiling_objects_per_second": round(ceiling, 2),
        "ratio_to_ceiling": round(throughput / ceiling, 3),
        "target_ratio": 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Workspaces (default 1000)")
    parser.add_argument("--full", action="store_true", help="5,000 Workspaces")
    parser.add_argument("--workers", type=int, default=16, help="reconcile workers per side")
    parser.add_argument("--role", choices=("manager", "simulator"), help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:  # as `manager run` runs: default garbage collection
        asyncio.run(child(args.role, args.kubeconfig, args.workers))
        return
    gc.set_threshold(100_000, 50, 1000)  # the driver's own collections would delay its watch
    configure_logging("json", "error", stream=sys.stderr)
    n = 5000 if args.full else args.n
    r = asyncio.run(run(n, args.workers))
    print(f"workspaces               {r['workspaces']} (workers {r['workers']}, zero delays)")
    print(f"create -> Running        {r['objects_per_second']:.1f} objects/s ({r['seconds']} s)")
    print(f"latency p50 / p99        {r['latency_p50_s']:.3f} s / {r['latency_p99_s']:.3f} s")
    print(f"manager RSS per object   {r['manager_rss_per_object_bytes']} bytes")
    print(f"manager API req/object   {r['manager_requests_per_object']}")
    print(f"writes per object        {r['writes_per_object']} (manager + simulator + create)")
    per_write = ", ".join(f"{role} {ms:.3f}" for role, ms in r["cpu_ms_per_write"].items())
    print(f"CPU ms per write         {per_write} ({r['cores_busy']} cores busy)")
    before, after = r["raw_patch_per_second_before_after"]
    raw = f"{r['raw_patch_per_second']:.0f} ({before:.0f} before, {after:.0f} after)"
    print(f"raw merge-PATCH/s        {raw}, API server CPU {r['raw_patch_cpu_ms']:.3f} ms each")
    print(f"ceiling                  {r['ceiling_objects_per_second']:.1f} objects/s")
    print(f"ratio to ceiling         {r['ratio_to_ceiling']:.2f} (target >= 0.5)")
    print(
        f"CPU-bound ratio          {r['cpu_ratio']:.2f} ({CORES} x raw PATCH CPU / CPU per write)"
    )
    print_json_line(r)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
