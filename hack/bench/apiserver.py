"""Benchmark the embedded API server against a bare aiohttp echo server (the floor).

Both servers run in their own processes over TLS with the same certificate; the client is raw
aiohttp with 8 requests in flight. Measures GET/s and merge-PATCH/s on a 2 KiB custom object
(as ratios to the echo server), watch delivery latency p50/p99 (from the start of the write
request to the event's arrival) to 10 watchers at 1,000 events/s, and the time to serve a
10,000-object list (to the last byte). With the watch figures goes how long the server and the
client waited for a CPU meanwhile (`watch_cpu_wait_ms`): tens of ms mean other load on the
machine is in the tail. Then the same figures for a third server with `--data-dir` (SQLite,
write-ahead log): its PATCH/s as a ratio to the in-memory server's (measured in alternating
slices), and the time a restart takes to load its 10,000 objects back (to the `ready` line).
Prints the figures, then ONE JSON line with them.

    python hack/bench/apiserver.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from benchlib import (
    ROOT,
    crd,
    percentile,
    print_json_line,
    resource,
    runqueue_wait_ms,
    server_access,
    start_ready,
)

from framework.envtest.apiserver.tls import serving_cert

CONCURRENCY = 8
WATCHERS = 10
EVENT_RATE = 1000
LIST_SIZE = 10_000
SLICE = 0.25
PATH = "/apis/bench.kubeloop.dev/v1/namespaces/default/blobs"

BLOB = resource("Blob", status=False)
CRD = crd(
    BLOB,
    {
        "spec": {
            "type": "object",
            "properties": {"seq": {"type": "integer"}, "payload": {"type": "string"}},
        }
    },
)


def blob(name: str, seq: int = 0) -> dict[str, Any]:
    obj = {
        "apiVersion": "bench.kubeloop.dev/v1",
        "kind": "Blob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"seq": seq, "payload": ""},
    }
    obj["spec"]["payload"] = "x" * (2048 - len(orjson.dumps(obj)))
    return obj


# -- the echo server (floor) ---------------------------------------------------------------


def serve_echo() -> None:
    body = orjson.dumps(blob("echo"))

    async def get(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def patch(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", get)
        app.router.add_patch("/{tail:.*}", patch)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        cert = serving_cert()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=cert.server_context())
        await site.start()
        print(f"ready https://127.0.0.1:{runner.addresses[0][1]} {cert.cert_file}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- processes -----------------------------------------------------------------------------


@dataclass
class Api:
    """One API server process: its URL, bearer token, CA and command line."""

    args: list[str]
    process: asyncio.subprocess.Process
    url: str
    token: str
    ca: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @classmethod
    async def start(cls, args: list[str], kubeconfig: Path) -> Api:
        process, _ready = await start_ready("-m", "framework.envtest", *args)
        url, token, ca = server_access(kubeconfig)
        assert ca is not None, "the embedded API server serves TLS"
        return cls(args, process, url, token, ca)

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()

    async def restart(self) -> float:
        """Stop (SIGTERM) and start again on the same port; ms until it is ready."""
        await self.stop()
        port = self.url.rsplit(":", 1)[1]
        start_time = time.perf_counter()
        self.process, _ready = await start_ready(
            "-m", "framework.envtest", *self.args, "--port", port
        )
        return (time.perf_counter() - start_time) * 1000


@contextlib.asynccontextmanager
async def servers() -> AsyncIterator[tuple[Api, Api, str, ssl.SSLContext]]:
    """The in-memory API server, the durable one (--data-dir), the echo server's URL, and an
    SSL context trusting all three."""
    with tempfile.TemporaryDirectory() as tmp:
        crd_dir = Path(tmp) / "crds"
        crd_dir.mkdir()
        (crd_dir / "blob.yaml").write_text(yaml.safe_dump(CRD))
        apis = []
        for name, extra in (("memory", []), ("durable", ["--data-dir", str(Path(tmp) / "data")])):
            kubeconfig = Path(tmp) / f"{name}.kubeconfig"
            args = ["--kubeconfig-out", str(kubeconfig), "--crd-dir", str(crd_dir), *extra]
            apis.append(await Api.start(args, kubeconfig))
        echo, echo_ready = await start_ready(__file__, "--serve-echo")
        _, echo_url, echo_cert = echo_ready.split()
        try:
            context = ssl.create_default_context(cadata=apis[0].ca)
            context.load_verify_locations(cadata=apis[1].ca)
            context.load_verify_locations(echo_cert)
            yield apis[0], apis[1], echo_url, context
        finally:
            for api in apis:
                await api.stop()
            echo.terminate()
            await echo.wait()


# -- measurements --------------------------------------------------------------------------


async def rate(seconds: float, call: Callable[[int], Awaitable[None]]) -> tuple[int, float]:
    """(requests done, elapsed seconds) with CONCURRENCY calls in flight for `seconds`."""
    deadline = time.perf_counter() + seconds
    counts = [0] * CONCURRENCY

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            await call(index * 1_000_000 + counts[index])
            counts[index] += 1

    start_time = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    return sum(counts), time.perf_counter() - start_time


async def paired_rates(
    seconds: float,
    floor: Callable[[int], Awaitable[None]],
    subject: Callable[[int], Awaitable[None]],
) -> tuple[float, float]:
    """Rates of the echo server and the API server, measured in alternating short slices so
    that load from other processes on the machine hits both alike."""
    totals = {"floor": [0, 0.0], "subject": [0, 0.0]}
    for _ in range(max(1, int(seconds / SLICE))):
        for name, call in (("floor", floor), ("subject", subject)):
            done, elapsed = await rate(SLICE, call)
            totals[name][0] += done
            totals[name][1] += elapsed
    return (
        totals["floor"][0] / totals["floor"][1],
        totals["subject"][0] / totals["subject"][1],
    )


def caller(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], patch: bool
) -> Callable[[int], Awaitable[None]]:
    async def call(seq: int) -> None:
        data = orjson.dumps({"spec": {"seq": seq}}) if patch else None
        async with session.request(method, url, data=data, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {url}: {response.status}")

    return call


async def watch_latency(
    session: aiohttp.ClientSession, api: Api, seconds: float
) -> dict[str, float]:
    """Delivery latency p50 and p99 in ms, the write rate achieved (events/s), and how long
    the server and this process were runnable but waiting for a CPU meanwhile (ms): when
    that is more than a few ms, other load on the machine is in the tail."""
    url, headers = api.url, api.headers
    sent: dict[int, float] = {}
    latencies: list[float] = []
    rates: list[float] = []
    listed = await (await session.get(url + PATH, headers=headers)).json()
    rv = listed["metadata"]["resourceVersion"]
    responses = [
        await session.get(
            url + PATH,
            params={"watch": "true", "resourceVersion": rv},
            headers=headers,
        )
        for _ in range(WATCHERS)
    ]
    total = int(seconds * EVENT_RATE)

    async def watcher(response: aiohttp.ClientResponse) -> None:
        """An event arrives when the chunk holding it is read, not once the lines before it
        in that chunk are parsed."""
        seen = 0
        pending = b""
        async for chunk in response.content.iter_any():
            now = time.perf_counter()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                start = line.index(b'"seq":') + 6
                seq = int(line[start : line.index(b",", start)])
                latencies.append(now - sent[seq])
            seen += len(lines)
            if seen >= total:
                return

    async def writer() -> None:
        """CONCURRENCY connections share a schedule of one write every 1/EVENT_RATE s."""
        patch_headers = {**headers, "Content-Type": "application/merge-patch+json"}
        start_time = time.perf_counter()
        schedule = iter(range(1, total + 1))

        async def worker() -> None:
            for seq in schedule:
                delay = start_time + seq / EVENT_RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[seq] = time.perf_counter()
                body = orjson.dumps({"spec": {"seq": seq}})
                async with session.patch(
                    url + PATH + "/hot", data=body, headers=patch_headers
                ) as r:
                    await r.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        rates.append(total / (time.perf_counter() - start_time))

    tasks = [asyncio.create_task(watcher(r)) for r in responses]
    waited = runqueue_wait_ms(api.process.pid) + runqueue_wait_ms()
    gc.disable()  # the client's own collections would show up as delivery latency
    try:
        await writer()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        gc.enable()
    waited = runqueue_wait_ms(api.process.pid) + runqueue_wait_ms() - waited
    for response in responses:
        response.close()
    p50 = statistics.median(latencies)
    p99 = percentile(latencies, 0.99)
    return {
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "events_per_s": rates[0],
        "cpu_wait_ms": waited,
    }


async def list_time(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    create_headers = {**headers, "Content-Type": "application/json"}
    names = iter(range(LIST_SIZE))

    async def creator() -> None:
        for index in names:
            body = orjson.dumps(blob(f"item-{index:05d}"))
            async with session.post(url + PATH, data=body, headers=create_headers) as response:
                await response.read()

    await asyncio.gather(*(creator() for _ in range(CONCURRENCY)))
    timings = []
    for _ in range(5):
        start_time = time.perf_counter()
        async with session.get(url + PATH, headers=headers) as response:
            body = await response.read()
        timings.append(time.perf_counter() - start_time)
    count = body.count(b'"kind":"Blob"')
    if count < LIST_SIZE:
        raise RuntimeError(f"list returned {count} objects")
    return statistics.median(timings) * 1000


async def durable_figures(
    session: aiohttp.ClientSession, memory: Api, durable: Api, seconds: float
) -> dict[str, Any]:
    """The durable server's figures; rates paired with the in-memory server's."""
    results: dict[str, Any] = {}
    memory_get, results["durable_get_per_s"] = await paired_rates(
        seconds,
        caller(session, "GET", memory.url + PATH + "/hot", memory.headers, False),
        caller(session, "GET", durable.url + PATH + "/hot", durable.headers, False),
    )
    memory_patch, results["durable_patch_per_s"] = await paired_rates(
        seconds,
        caller(session, "PATCH", memory.url + PATH + "/hot", patch_headers(memory), True),
        caller(session, "PATCH", durable.url + PATH + "/hot", patch_headers(durable), True),
    )
    results["durable_get_ratio"] = results["durable_get_per_s"] / memory_get
    results["durable_patch_ratio"] = results["durable_patch_per_s"] / memory_patch
    watch = await watch_latency(session, durable, seconds)
    results.update({f"durable_watch_{key}": value for key, value in watch.items()})
    results["durable_list_10k_ms"] = await list_time(session, durable.url, durable.headers)
    results["durable_restart_10k_ms"] = await durable.restart()
    async with session.get(durable.url + PATH, headers=durable.headers) as response:
        count = (await response.read()).count(b'"kind":"Blob"')
    if count != LIST_SIZE + 1:
        raise RuntimeError(f"after the restart the list has {count} objects")
    return results


def patch_headers(api: Api) -> dict[str, str]:
    return {**api.headers, "Content-Type": "application/merge-patch+json"}


async def run(seconds: float) -> dict[str, Any]:
    async with servers() as (memory, durable, echo_url, context):
        connector = aiohttp.TCPConnector(ssl=context, limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            for api in (memory, durable):
                async with session.post(
                    api.url + PATH, data=orjson.dumps(blob("hot")), headers=api.headers
                ) as response:
                    assert response.status == 201, await response.text()
            api_url, headers = memory.url, memory.headers
            target = api_url + PATH + "/hot"
            echo_target = echo_url + PATH + "/hot"
            results: dict[str, Any] = {}
            results["echo_get_per_s"], results["get_per_s"] = await paired_rates(
                seconds,
                caller(session, "GET", echo_target, headers, False),
                caller(session, "GET", target, headers, False),
            )
            results["echo_patch_per_s"], results["patch_per_s"] = await paired_rates(
                seconds,
                caller(session, "PATCH", echo_target, patch_headers(memory), True),
                caller(session, "PATCH", target, patch_headers(memory), True),
            )
            results["get_ratio"] = results["get_per_s"] / results["echo_get_per_s"]
            results["patch_ratio"] = results["patch_per_s"] / results["echo_patch_per_s"]
            watch = await watch_latency(session, memory, seconds)
            results.update({f"watch_{key}": value for key, value in watch.items()})
            results["list_10k_ms"] = await list_time(session, api_url, headers)
            results.update(await durable_figures(session, memory, durable, seconds))
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each phase")
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo()
        return
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    r = asyncio.run(run(args.seconds))
    print(
        f"echo server      GET {r['echo_get_per_s']:9.0f}/s  PATCH {r['echo_patch_per_s']:9.0f}/s"
    )
    print(
        f"API server       GET {r['get_per_s']:9.0f}/s ({r['get_ratio']:.0%})"
        f"  PATCH {r['patch_per_s']:9.0f}/s ({r['patch_ratio']:.0%})"
    )
    print(
        f"watch delivery   p50 {r['watch_p50_ms']:.2f} ms  p99 {r['watch_p99_ms']:.2f} ms"
        f"  ({WATCHERS} watchers, {r['watch_events_per_s']:.0f} events/s)"
    )
    print(f"list {LIST_SIZE} objects  {r['list_10k_ms']:.1f} ms (to the last byte)")
    print(
        f"with --data-dir  GET {r['durable_get_per_s']:9.0f}/s ({r['durable_get_ratio']:.0%})"
        f"  PATCH {r['durable_patch_per_s']:9.0f}/s ({r['durable_patch_ratio']:.0%} of in-memory)"
    )
    print(
        f"  watch delivery p50 {r['durable_watch_p50_ms']:.2f} ms"
        f"  p99 {r['durable_watch_p99_ms']:.2f} ms"
        f"  ({r['durable_watch_events_per_s']:.0f} events/s)"
    )
    print(
        f"  list {LIST_SIZE} objects {r['durable_list_10k_ms']:.1f} ms;"
        f" restart with them {r['durable_restart_10k_ms']:.0f} ms (to ready)"
    )
    print_json_line(r)


if __name__ == "__main__":
    main()
