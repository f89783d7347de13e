"""Benchmark a no-op PhaseReconciler (Pending -> Running, with a finalizer) run by a Manager.

For each N (default 1,000 and 10,000) a fresh embedded API server runs in its own process;
this process runs the manager (8 workers) and, on a second client, creates the N objects with
8 requests in flight. Measured: objects/s from the first create to the last object Running,
p50/p99 create-to-Running latency (from the start of the create request to the return of the
status patch that wrote Running; objects are created faster than they are reconciled, so this
includes the time queued behind the backlog), the manager's RSS growth per object, and the
manager's API requests and writes per object (status patches, finalizer patches, events, from
its client's `rest_client_requests_total`).

The ceiling is measured in the same run, after the manager stopped: merge-PATCH/s of the same
client on the same server with 8 in flight (best of 3 rounds of up to 2,000 patches), divided
by the writes per object counted above; the ratio of objects/s to it is the figure of merit
(target >= 0.5). Prints the figures, then ONE JSON line with them.

    python hack/bench/controller.py [--objects 1000 --objects 10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    NAMESPACE,
    WRITE_METHODS,
    api_server,
    crd,
    in_flight,
    percentile,
    print_json_line,
    requests_by_method,
    resource,
    rss_bytes,
)
from prometheus_client import CollectorRegistry

from framework.client import Client
from framework.controller import ControllerBuilder, ControllerOptions, Result
from framework.logging import configure_logging
from framework.manager import Manager, ManagerOptions
from framework.phase import PhaseMachine
from framework.reconciler import PhaseReconciler, on_phase

IN_FLIGHT = 8
NOOP = resource("Noop")


class NoopReconciler(PhaseReconciler[dict[str, Any]]):
    """Pending -> Running at once; notes when each object's Running was written."""

    kind = NOOP.gvk
    machine = PhaseMachine(
        phases=("Pending", "Running"), initial="Pending", transitions={"Pending": {"Running"}}
    )
    finalizer = "bench.kubeloop.dev/noop"
    running_at: dict[str, float]
    expected: int
    all_running: asyncio.Event

    @on_phase("Pending")
    async def pending(self, obj: dict[str, Any]) -> Result | None:
        result = await self.transition_phase(obj, "Running", "running")
        self.running_at[obj["metadata"]["name"]] = time.perf_counter()
        if len(self.running_at) == self.expected:
            self.all_running.set()
        return result


def noop(index: int) -> dict[str, Any]:
    return {
        "apiVersion": NOOP.gvk.api_version,
        "kind": "Noop",
        "metadata": {"name": f"noop-{index:05d}", "namespace": NAMESPACE},
        "spec": {"index": index},
    }


async def run_manager(kubeconfig: Path, objects: int, workers: int) -> dict[str, float]:
    registry = CollectorRegistry()
    async with (
        await Client.from_kubeconfig(kubeconfig, registry=registry) as client,
        await Client.from_kubeconfig(kubeconfig) as loader,
    ):
        options = ManagerOptions(metrics_address=None, health_address=None)
        manager = Manager(client, options)
        reconciler = NoopReconciler(manager.context("noop"))
        reconciler.running_at, reconciler.expected = {}, objects
        reconciler.all_running = asyncio.Event()
        builder = ControllerBuilder().for_kind(NOOP)
        manager.build(
            builder.with_options(ControllerOptions(max_concurrent_reconciles=workers)), reconciler
        )
        task = await manager.start()
        controller = manager.controller("noop")
        while controller is None or not controller.running:  # noqa: ASYNC110 (no event tells)
            await asyncio.sleep(0.01)
        gc.collect()
        rss_before = rss_bytes()
        before = requests_by_method(registry)
        created_at: dict[str, float] = {}

        async def create(index: int) -> None:
            obj = noop(index)
            created_at[obj["metadata"]["name"]] = time.perf_counter()
            await loader.create(obj)

        started = time.perf_counter()
        await in_flight(objects, create, IN_FLIGHT)
        await reconciler.all_running.wait()
        elapsed = max(reconciler.running_at.values()) - started
        await asyncio.sleep(0.5)  # let the last status/events writes land before counting
        after = requests_by_method(registry)
        gc.collect()
        rss_after = rss_bytes()
        manager.stop()
        await task
        latencies = sorted(reconciler.running_at[n] - created_at[n] for n in created_at)
        requests = {m: after.get(m, 0.0) - before.get(m, 0.0) for m in after}
        ceiling_patches = await patch_rate(client, min(objects, 2000))
    writes = sum(requests.get(m, 0.0) for m in WRITE_METHODS) / objects
    objects_per_s = objects / elapsed
    ceiling_objects = ceiling_patches / writes
    return {
        "objects": objects,
        "objects_per_s": round(objects_per_s, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "rss_bytes_per_object": round((rss_after - rss_before) / objects),
        "requests_per_object": round(sum(requests.values()) / objects, 2),
        "writes_per_object": round(writes, 2),
        "patches_per_object": round(requests.get("PATCH", 0.0) / objects, 2),
        "posts_per_object": round(requests.get("POST", 0.0) / objects, 2),
        "ceiling_patch_per_s": round(ceiling_patches, 1),
        "ceiling_objects_per_s": round(ceiling_objects, 1),
        "ratio_to_ceiling": round(objects_per_s / ceiling_objects, 3),
    }


async def patch_rate(client: Client, patches: int, rounds: int = 3) -> float:
    """Merge PATCHes per second of `client`, IN_FLIGHT at a time, over existing objects: the
    best of `rounds` (the machine may be shared; the best round is the least disturbed)."""

    async def patch(index: int) -> None:
        body = {"metadata": {"annotations": {"bench": str(index)}}}
        await client.patch(NOOP, f"noop-{index:05d}", body, namespace=NAMESPACE)

    await in_flight(min(patches, 200), patch, IN_FLIGHT)  # warm-up
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        await in_flight(patches, patch, IN_FLIGHT)
        rates.append(patches / (time.perf_counter() - started))
    return max(rates)


async def bench(objects: int, workers: int) -> dict[str, float]:
    event_window = str(max(10_000, objects * 10))
    async with api_server([crd(NOOP)], "--event-window", event_window) as served:
        return await run_manager(served.kubeconfig, objects, workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, action="append", help="N (repeatable)")
    parser.add_argument("--workers", type=int, default=IN_FLIGHT, help="reconcile workers")
    args = parser.parse_args()
    configure_logging("console", "warning", stream=sys.stderr)
    results = {}
    for objects in args.objects or [1_000, 10_000]:
        figures = asyncio.run(bench(objects, args.workers))
        results[str(objects)] = figures
        print(
            f"N={objects}: {figures['objects_per_s']} objects/s "
            f"(ceiling {figures['ceiling_objects_per_s']}/s = "
            f"{figures['ceiling_patch_per_s']} PATCH/s / {figures['writes_per_object']} writes "
            f"per object; ratio {figures['ratio_to_ceiling']}), create-to-Running p50 "
            f"{figures['p50_ms']} ms p99 {figures['p99_ms']} ms, RSS "
            f"{figures['rss_bytes_per_object']} B/object, "
            f"{figures['requests_per_object']} requests/object "
            f"({figures['patches_per_object']} PATCH, {figures['posts_per_object']} POST)",
            flush=True,
        )
    print_json_line(results)


if __name__ == "__main__":
    main()
