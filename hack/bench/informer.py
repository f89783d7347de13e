"""Informer/cache benchmark: list+sync time, cache reads per second, bytes held per object.

Starts the embedded API server in its own process (`python -m framework.envtest`, so its CPU
and memory are not counted), creates N custom objects of about 2 KiB of JSON each, then in this
process:
- sync: the time from starting a shared cache's informer to `wait_for_sync` (list in pages of
  500 + decode + transform + serialise into the store), best of `--rounds`;
- memory (in a fresh child process): bytes per cached object, as the RSS growth across a sync
  (after a full collection) and as the memory tracemalloc sees held by a synced store (after
  gc), both beside the objects' JSON size (ratio target <= 1.5; controller-runtime's cache holds
  about 12-16 KiB per object);
- reads: `Cache.get` calls per second on random keys (decoding a fresh dict each time), and
  the same through the store alone.
Prints the figures with their ratios to the JSON baseline, then one JSON line with them all.

    .venv/bin/python hack/bench/informer.py [--objects N] [--rounds R] [--reads N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchlib import (
    GROUP,
    NAMESPACE,
    PAYLOAD,
    api_server,
    crd,
    in_flight,
    print_json_line,
    rss_bytes,
)

from framework.cache import Cache
from framework.client import Client
from framework.informer import Informer

TARGETS = {"bytes_ratio": 1.5, "sync_seconds": 2.0, "cache_reads_per_second": 100_000.0}


def payload(index: int) -> dict[str, Any]:
    """A Payload whose JSON is about 2 KiB once the server has added its metadata."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Payload",
        "metadata": {
            "name": f"payload-{index:05d}",
            "namespace": NAMESPACE,
            "labels": {"app": "bench", "shard": str(index % 16)},
        },
        "spec": {f"field{i:02d}": f"value-{i:02d}-{index:05d}-" + "x" * 34 for i in range(30)},
    }


async def timed_sync(client: Client) -> tuple[float, Cache]:
    cache = Cache(client)
    cache.informer(PAYLOAD)
    start = time.perf_counter()
    await cache.start()
    await cache.wait_for_sync()
    return time.perf_counter() - start, cache


async def synced_informer(client: Client) -> Informer:
    informer = Informer(client, PAYLOAD)
    informer.start()
    await informer.wait_for_sync()
    await informer.stop()
    return informer


async def held_memory(kubeconfig: str) -> dict[str, float]:
    """Run in a fresh process: the RSS growth across one informer's sync, then the memory
    tracemalloc sees held by a second one, each after a full collection, and the JSON size."""
    async with await Client.from_kubeconfig(kubeconfig) as client:
        await client.get(PAYLOAD, payload(0)["metadata"]["name"], namespace=NAMESPACE)  # warm up
        gc.collect()
        rss_before = rss_bytes()
        first = await synced_informer(client)
        gc.collect()
        rss = rss_bytes() - rss_before
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        second = await synced_informer(client)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced_before
        tracemalloc.stop()
    sizes = [len(raw) for _, raw in first.store.raw_items()]
    assert len(second.store) == len(sizes), "both informers hold every object"
    return {"rss": float(rss), "traced": float(traced), "json": float(sum(sizes)), "n": len(sizes)}


async def held_memory_in_child(kubeconfig: Path) -> dict[str, float]:
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, __file__, "--held-memory", str(kubeconfig)),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    figures: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


async def reads_per_second(cache: Cache, names: list[str], reads: int) -> tuple[float, float]:
    store = cache.informer(PAYLOAD).store
    keys = [f"{NAMESPACE}/{name}" for name in names]
    start = time.perf_counter()
    for name in names[:reads]:
        await cache.get(PAYLOAD, name, namespace=NAMESPACE)
    cache_rate = min(reads, len(names)) / (time.perf_counter() - start)
    start = time.perf_counter()
    for key in keys[:reads]:
        store.get(key)
    store_rate = min(reads, len(keys)) / (time.perf_counter() - start)
    return cache_rate, store_rate


async def bench(objects: int, rounds: int, reads: int) -> dict[str, float]:
    async with (
        api_server([crd(PAYLOAD)]) as served,
        await Client.from_kubeconfig(served.kubeconfig) as client,
    ):
        await in_flight(objects, lambda index: client.create(payload(index)), lanes=32)
        syncs = []
        for _ in range(rounds):
            seconds, cache = await timed_sync(client)
            syncs.append(seconds)
            await cache.stop()
        memory = await held_memory_in_child(served.kubeconfig)
        assert memory["n"] == objects, "the informer holds every object"
        seconds, cache = await timed_sync(client)
        names = [f"payload-{random.randrange(objects):05d}" for _ in range(reads)]
        cache_rate, store_rate = await reads_per_second(cache, names, reads)
        await cache.stop()
    json_size = memory["json"] / objects
    rss, traced = memory["rss"], memory["traced"]
    return {
        "objects": float(objects),
        "json_bytes_per_object": round(json_size, 1),
        "sync_seconds": round(min(syncs), 3),
        "rss_bytes_per_object": round(rss / objects, 1),
        "traced_bytes_per_object": round(traced / objects, 1),
        "rss_ratio": round(rss / objects / json_size, 2),
        "bytes_ratio": round(traced / objects / json_size, 2),
        "cache_reads_per_second": round(cache_rate),
        "store_reads_per_second": round(store_rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="syncs timed (best kept)")
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--held-memory", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.held_memory:
        print_json_line(asyncio.run(held_memory(args.held_memory)))
        return
    figures = asyncio.run(bench(args.objects, args.rounds, args.reads))
    json_size = figures["json_bytes_per_object"]
    print(f"{figures['objects']:.0f} objects of {json_size:.0f} bytes of JSON each")
    print(f"list+sync: {figures['sync_seconds']:.3f} s (target <= {TARGETS['sync_seconds']} s)")
    print(
        f"held per object: {figures['traced_bytes_per_object']:.0f} B traced "
        f"= {figures['bytes_ratio']:.2f}x JSON (target <= {TARGETS['bytes_ratio']}x); "
        f"RSS growth {figures['rss_bytes_per_object']:.0f} B = {figures['rss_ratio']:.2f}x JSON"
    )
    print(
        f"reads: {figures['cache_reads_per_second']:.0f}/s through Cache.get "
        f"(target >= {TARGETS['cache_reads_per_second']:.0f}), "
        f"{figures['store_reads_per_second']:.0f}/s from the store"
    )
    print_json_line(figures)


if __name__ == "__main__":
    main()
